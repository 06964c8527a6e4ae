-- Routing decisions and their explanations.
--
-- One row per customer message the pipeline decided on: what was decided, by which rule
-- of which rule set, and the full explanation (the triage scores read, why earlier rules
-- did not match, the candidates considered). Supervisors read these to understand any
-- decision after the fact, so rows are never updated.

CREATE TABLE routing_decisions (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    message_id      TEXT NOT NULL REFERENCES messages (id),
    -- Name of the matched rule; NULL when the rule set's default applied.
    rule_name       TEXT,
    -- 'bot' or 'handoff'.
    action          TEXT NOT NULL,
    queue           TEXT,
    priority        BIGINT NOT NULL DEFAULT 0,
    explanation     TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX routing_decisions_by_conversation ON routing_decisions (conversation_id, created_at);
