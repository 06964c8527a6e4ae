-- Core schema: customers, agents, conversations, messages, their triage, the event
-- stream of each conversation and the audit log.
--
-- Conventions shared with the PostgreSQL migrations, so that one set of queries serves
-- both databases:
-- * identifiers are UUID strings, made by the application;
-- * times are milliseconds since the Unix epoch (BIGINT), always UTC;
-- * structured values (attributes, triage results, event payloads) are JSON text.

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    -- The id the embedding site gives its customer; one row per external id.
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    email       TEXT,
    language    TEXT,
    tier        TEXT,
    attributes  TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT UNIQUE,
    role       TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'supervisor')),
    -- JSON: {"cards": 3, "general": 1}, skill name to level.
    skills     TEXT NOT NULL DEFAULT '{}',
    -- JSON: ["en", "de"].
    languages  TEXT NOT NULL DEFAULT '[]',
    capacity   BIGINT NOT NULL DEFAULT 3 CHECK (capacity >= 0),
    presence   TEXT NOT NULL DEFAULT 'offline'
               CHECK (presence IN ('online', 'away', 'offline')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers (id),
    -- SHA-256 of the customer's bearer token; the token itself is never stored.
    token_hash        TEXT NOT NULL UNIQUE,
    state             TEXT NOT NULL DEFAULT 'bot'
                      CHECK (state IN ('bot', 'queued', 'assigned', 'resolved')),
    queue             TEXT,
    priority          BIGINT NOT NULL DEFAULT 0,
    assigned_agent_id TEXT REFERENCES agents (id),
    -- Counters that number messages and events within the conversation. Bumping one
    -- inside a transaction locks the row, which orders concurrent writers.
    last_message_seq  BIGINT NOT NULL DEFAULT 0,
    last_event_seq    BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE INDEX conversations_by_customer ON conversations (customer_id, created_at);
CREATE INDEX conversations_by_state ON conversations (state, queue, priority);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             BIGINT NOT NULL,
    author_kind     TEXT NOT NULL CHECK (author_kind IN ('customer', 'bot', 'agent', 'system')),
    author_id       TEXT,
    body            TEXT NOT NULL,
    -- A retried POST with the same key returns the stored message instead of a copy;
    -- the hash of the request body tells a true retry from a reused key.
    idempotency_key TEXT,
    request_hash    TEXT,
    -- 'pending' until the pipeline has triaged, decided and acted on the message; pending
    -- messages are picked up again after a restart.
    pipeline_status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (pipeline_status IN ('pending', 'done', 'failed')),
    created_at      BIGINT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, idempotency_key)
);

CREATE INDEX messages_pending ON messages (pipeline_status, created_at);

CREATE TABLE message_triage (
    message_id    TEXT PRIMARY KEY REFERENCES messages (id),
    model_version TEXT NOT NULL,
    -- The whole triage record as JSON; the columns beside it are copies for filtering.
    result        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- The ordered, replayable stream of what happened in a conversation. Clients resume a
-- live stream from the last `seq` they saw.
CREATE TABLE conversation_events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT,
    detail       TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL
);
