-- Agent and supervisor identity: API tokens, teams and presence heartbeats.
--
-- Agents and supervisors authenticate with bearer tokens. Only the SHA-256 of a token is
-- stored, so a leaked database does not leak working credentials. A token is revoked by
-- setting `revoked_at`; rows are kept for the audit trail.

ALTER TABLE agents ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';
-- Time of the last heartbeat from the agent's console; presence turns to 'away' when it
-- is older than the configured grace period.
ALTER TABLE agents ADD COLUMN last_seen_at BIGINT;

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents (id),
    token_hash   TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX api_tokens_by_agent ON api_tokens (agent_id);
CREATE INDEX audit_log_by_subject ON audit_log (subject_kind, subject_id, created_at);
