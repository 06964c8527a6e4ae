-- Intent examples supervisors add at run time, on top of the ones shipped in
-- triage/intents/. The triage model is trained on both: at start-up, and again in the
-- background whenever a supervisor adds or removes examples through the API.

-- One row per added example. Rows are inserted and deleted, never updated: changing an
-- example is removing it and adding the new one, so each id names one fixed text.
CREATE TABLE intent_examples (
    -- A UUID v7, so ids sort by creation time.
    id         TEXT PRIMARY KEY,
    -- The intent, snake_case as the shipped labels are (checked by the API and CLI).
    label      TEXT NOT NULL,
    -- The example message, trimmed. It may be a customer's own words, so it is data
    -- to keep out of logs.
    text       TEXT NOT NULL,
    -- The supervisor who added it; NULL when it came from the command line.
    created_by TEXT REFERENCES agents (id),
    created_at BIGINT NOT NULL,
    -- The same text twice under one label would only weigh it double; an insert that
    -- meets this constraint is reported as a duplicate instead.
    UNIQUE (label, text)
);
