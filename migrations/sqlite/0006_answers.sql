-- Bot replies with their evidence, help-centre articles edited through the API, and
-- which article versions the vector store holds.

-- One row per bot reply: what it answered, how, and everything it rested on.
CREATE TABLE bot_replies (
    message_id         TEXT PRIMARY KEY REFERENCES messages (id),
    conversation_id    TEXT NOT NULL REFERENCES conversations (id),
    -- The customer message the reply answers.
    answers_message_id TEXT NOT NULL REFERENCES messages (id),
    -- 'answered' (from the help centre), 'declined' (nothing answered the question;
    -- counts towards conversation.failed_bot_answers) or 'small_talk' (a canned reply
    -- to a greeting or thanks).
    outcome            TEXT NOT NULL CHECK (outcome IN ('answered', 'declined', 'small_talk')),
    -- 'llm', 'extractive' or 'canned'.
    mode               TEXT NOT NULL CHECK (mode IN ('llm', 'extractive', 'canned')),
    -- JSON array of {article_id, title, url}, shown with the reply.
    citations          TEXT NOT NULL DEFAULT '[]',
    -- JSON: passages with scores, the grounding and support verdicts, prompt version,
    -- model, token counts and latency.
    evidence           TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE INDEX bot_replies_by_conversation ON bot_replies (conversation_id, outcome);

-- Articles a supervisor added, changed or deleted through the API. They win over a
-- shipped file with the same id; a row with a NULL document deletes that article.
CREATE TABLE kb_articles (
    id           TEXT PRIMARY KEY,
    -- The whole Markdown file, front matter included.
    document     TEXT,
    content_hash TEXT,
    updated_by   TEXT REFERENCES agents (id),
    updated_at   BIGINT NOT NULL
);

-- The version of each article the vector store holds, so start-up and edits re-index
-- only what changed.
CREATE TABLE kb_index (
    article_id   TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    chunks       BIGINT NOT NULL,
    indexed_at   BIGINT NOT NULL
);
