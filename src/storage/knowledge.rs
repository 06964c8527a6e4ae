//! Bot replies with their evidence, articles edited through the API, and the record of
//! which article versions the vector store holds.

use std::collections::HashMap;

use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use super::agents::{Actor, audit};
use super::events::{StoredEvent, append_event};
use super::messages::MessageRecord;
use super::{StorageError, Store, now_ms};
use crate::domain::conversation::AuthorKind;

/// A bot reply ready to store.
#[derive(Debug, Clone)]
pub struct NewBotReply<'a> {
    /// The reply's message id, chosen before streaming so live pieces and the stored
    /// message share it.
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub answers_message_id: &'a str,
    pub text: &'a str,
    /// `answered`, `declined` or `small_talk`.
    pub outcome: &'a str,
    /// `llm`, `extractive` or `canned`.
    pub mode: &'a str,
    pub citations: &'a Value,
    pub evidence: &'a Value,
}

/// A stored reply's evidence, for explanations.
#[derive(Debug, Clone)]
pub struct BotReplyRecord {
    pub message_id: String,
    pub conversation_id: String,
    pub answers_message_id: String,
    pub outcome: String,
    pub mode: String,
    pub citations: Value,
    pub evidence: Value,
    pub created_at: i64,
}

/// An article kept in the database.
#[derive(Debug, Clone)]
pub struct ArticleRow {
    pub id: String,
    /// `None` when the article was deleted.
    pub document: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

impl Store {
    /// Stores a bot reply, its evidence and its `message.created` event in one
    /// transaction.
    #[tracing::instrument(skip_all, fields(conversation.id = reply.conversation_id))]
    pub async fn save_bot_reply(
        &self,
        reply: &NewBotReply<'_>,
    ) -> Result<(MessageRecord, StoredEvent), StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let seq = super::messages::next_message_seq(&mut write.tx, reply.conversation_id).await?;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, author_kind, author_id, body, \
             pipeline_status, created_at) VALUES ($1, $2, $3, 'bot', NULL, $4, 'done', $5)",
        )
        .bind(reply.id)
        .bind(reply.conversation_id)
        .bind(seq)
        .bind(reply.text)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        sqlx::query(
            "INSERT INTO bot_replies (message_id, conversation_id, answers_message_id, outcome, \
             mode, citations, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(reply.id)
        .bind(reply.conversation_id)
        .bind(reply.answers_message_id)
        .bind(reply.outcome)
        .bind(reply.mode)
        .bind(reply.citations.to_string())
        .bind(reply.evidence.to_string())
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let message = MessageRecord {
            id: reply.id.to_owned(),
            conversation_id: reply.conversation_id.to_owned(),
            seq,
            author_kind: AuthorKind::Bot,
            author_id: None,
            text: reply.text.to_owned(),
            created_at: now,
            triage: None,
            citations: Some(reply.citations.clone()),
        };
        let data = json!({ "message": message.view() });
        let event = append_event(
            &mut write.tx,
            reply.conversation_id,
            "message.created",
            &data,
        )
        .await?;
        write.commit().await?;
        Ok((message, event))
    }

    /// Bot replies in the conversation that declined to answer.
    pub async fn failed_bot_answers(&self, conversation_id: &str) -> Result<i64, StorageError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM bot_replies WHERE conversation_id = $1 \
             AND outcome = 'declined'",
        )
        .bind(conversation_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// The evidence of one bot reply.
    pub async fn bot_reply(
        &self,
        message_id: &str,
    ) -> Result<Option<BotReplyRecord>, StorageError> {
        let row = sqlx::query(
            "SELECT message_id, conversation_id, answers_message_id, outcome, mode, citations, \
             evidence, created_at FROM bot_replies WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let json = |column: &str| -> Result<Value, StorageError> {
            let text: String = row.try_get(column)?;
            serde_json::from_str(&text)
                .map_err(|e| StorageError::Corrupt(format!("bot reply {column}: {e}")))
        };
        Ok(Some(BotReplyRecord {
            message_id: row.try_get("message_id")?,
            conversation_id: row.try_get("conversation_id")?,
            answers_message_id: row.try_get("answers_message_id")?,
            outcome: row.try_get("outcome")?,
            mode: row.try_get("mode")?,
            citations: json("citations")?,
            evidence: json("evidence")?,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// Every article row, deletions included.
    pub async fn article_rows(&self) -> Result<Vec<ArticleRow>, StorageError> {
        let rows =
            sqlx::query("SELECT id, document, updated_by, updated_at FROM kb_articles ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| {
                Ok(ArticleRow {
                    id: row.try_get("id")?,
                    document: row.try_get("document")?,
                    updated_by: row.try_get("updated_by")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Saves an article's document (`None` deletes it), with an audit entry.
    pub async fn put_article(
        &self,
        id: &str,
        document: Option<(&str, &str)>,
        actor: &Actor,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let (text, hash) = document.unzip();
        let updated_by = actor
            .id
            .as_deref()
            .filter(|_| matches!(actor.kind, "supervisor" | "agent"));
        sqlx::query(
            "INSERT INTO kb_articles (id, document, content_hash, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
             document = excluded.document, content_hash = excluded.content_hash, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(text)
        .bind(hash)
        .bind(updated_by)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let action = if document.is_some() {
            "article.saved"
        } else {
            "article.deleted"
        };
        audit(
            &mut write,
            actor,
            action,
            "article",
            Some(id),
            &json!({ "content_hash": hash }),
        )
        .await?;
        write.commit().await
    }

    /// Article id to the content hash the vector store holds.
    pub async fn indexed_articles(&self) -> Result<HashMap<String, String>, StorageError> {
        let rows = sqlx::query("SELECT article_id, content_hash FROM kb_index")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("article_id")?, row.try_get("content_hash")?)))
            .collect()
    }

    /// Records that the store holds `hash` of the article, in `chunks` passages.
    pub async fn mark_indexed(
        &self,
        article_id: &str,
        hash: &str,
        chunks: usize,
    ) -> Result<(), StorageError> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO kb_index (article_id, content_hash, chunks, indexed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (article_id) DO UPDATE SET \
             content_hash = excluded.content_hash, chunks = excluded.chunks, \
             indexed_at = excluded.indexed_at",
        )
        .bind(article_id)
        .bind(hash)
        .bind(i64::try_from(chunks).unwrap_or(i64::MAX))
        .bind(now_ms())
        .execute(&mut *write.tx)
        .await?;
        write.commit().await
    }

    /// Forgets what the store holds of one article (`Some`) or of all (`None`).
    pub async fn unmark_indexed(&self, article_id: Option<&str>) -> Result<(), StorageError> {
        let mut write = self.begin_write().await?;
        match article_id {
            Some(id) => {
                sqlx::query("DELETE FROM kb_index WHERE article_id = $1")
                    .bind(id)
                    .execute(&mut *write.tx)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM kb_index")
                    .execute(&mut *write.tx)
                    .await?
            }
        };
        write.commit().await
    }
}

/// A fresh id for a bot reply.
pub fn new_reply_id() -> String {
    Uuid::now_v7().to_string()
}
