-- Assignment: offers to agents, the handoff plan each queued conversation follows,
-- return timers and internal notes.
--
-- A queued conversation carries its handoff plan (the rule's targets, in order) and
-- where it is on that plan, so target timeouts and skill relaxation keep working after a
-- restart and after the rules change. `offered_agent_id` is set while one agent holds
-- an offer for it; an offered conversation stays 'queued' until the offer is accepted.

ALTER TABLE conversations ADD COLUMN handoff_reason TEXT;
-- JSON array of targets: [{"queue": "cards", "required_skills": [...], ...}, ...].
ALTER TABLE conversations ADD COLUMN handoff_targets TEXT;
ALTER TABLE conversations ADD COLUMN target_index BIGINT NOT NULL DEFAULT 0;
-- When the conversation started waiting for a person, and when its current target began.
ALTER TABLE conversations ADD COLUMN queued_at BIGINT;
ALTER TABLE conversations ADD COLUMN target_since BIGINT;
ALTER TABLE conversations ADD COLUMN offered_agent_id TEXT REFERENCES agents (id);
ALTER TABLE conversations ADD COLUMN offer_expires_at BIGINT;
ALTER TABLE conversations ADD COLUMN assigned_at BIGINT;
-- Set when the customer is waiting for the assigned agent's reply (the return timer runs
-- from here); NULL once the agent has answered.
ALTER TABLE conversations ADD COLUMN awaiting_agent_since BIGINT;
-- The conversation's language as triage last saw it, for language-matched agents.
ALTER TABLE conversations ADD COLUMN language TEXT;

CREATE INDEX conversations_by_offered_agent ON conversations (offered_agent_id);
CREATE INDEX conversations_by_assigned_agent ON conversations (assigned_agent_id, state);

-- Every offer made to an agent and how it ended. At most one offer per conversation is
-- pending at a time, which the partial unique index enforces in the database itself.
CREATE TABLE offers (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    queue           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'accepted', 'rejected', 'expired', 'withdrawn')),
    -- JSON: the agent search that chose this agent (every candidate's verdict).
    explanation     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    decided_at      BIGINT
);

CREATE UNIQUE INDEX offers_one_pending ON offers (conversation_id) WHERE status = 'pending';
CREATE INDEX offers_by_conversation ON offers (conversation_id, created_at);
CREATE INDEX offers_by_agent ON offers (agent_id, status);

-- Notes agents leave for each other on a conversation; never shown to the customer.
CREATE TABLE conversation_notes (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX conversation_notes_by_conversation ON conversation_notes (conversation_id, created_at);
