-- Rule versions: supervisors draft, simulate, publish and roll back routing rules.

-- The routing facts each decision read, as JSON, so that a draft rule set can be
-- replayed over stored traffic.
ALTER TABLE routing_decisions ADD COLUMN context TEXT;

-- Versions of the routing rules. Every saved document gets the next version number and
-- is never edited afterwards; publishing (or rolling back to) a version appends to
-- `rule_publications`, whose latest row is the rule set in force.
CREATE TABLE rule_sets (
    version    BIGINT PRIMARY KEY,
    document   TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    -- The version this draft started from, for its diff.
    based_on   BIGINT,
    author_id  TEXT REFERENCES agents (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE rule_publications (
    id           TEXT PRIMARY KEY,
    version      BIGINT NOT NULL REFERENCES rule_sets (version),
    -- 'publish' or 'rollback'.
    kind         TEXT NOT NULL CHECK (kind IN ('publish', 'rollback')),
    published_by TEXT REFERENCES agents (id),
    published_at BIGINT NOT NULL
);

CREATE INDEX rule_publications_by_time ON rule_publications (published_at);
