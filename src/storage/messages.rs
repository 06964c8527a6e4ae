//! Messages, their idempotent acceptance and their triage results.

use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::events::{StoredEvent, append_event};
use super::{StorageError, Store, is_unique_violation, now_ms, rfc3339};
use crate::domain::conversation::{AuthorKind, ConversationState};

/// A customer message as received, before it is stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: String,
    pub text: String,
    pub idempotency_key: Option<String>,
    /// Hash of the request body, to tell a retry from a reused key.
    pub request_hash: String,
}

/// A stored message, with its triage once the pipeline has produced it.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub author_kind: AuthorKind,
    pub author_id: Option<String>,
    pub text: String,
    pub created_at: i64,
    pub triage: Option<Value>,
    /// Articles a bot reply cites.
    pub citations: Option<Value>,
}

/// The outcome of [`Store::accept_message`].
#[derive(Debug)]
pub enum AcceptedMessage {
    /// Stored now; the event announces it.
    Created(MessageRecord, StoredEvent),
    /// The same request was accepted before; this is the stored message.
    Replayed(MessageRecord),
    /// The idempotency key was used before with a different request.
    KeyReused,
}

/// A message the pipeline has not finished with.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    pub message_id: String,
    pub conversation_id: String,
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.seq, m.author_kind, m.author_id, \
     m.body, m.created_at, t.result AS triage, r.citations";
const MESSAGE_FROM: &str = "FROM messages m LEFT JOIN message_triage t ON t.message_id = m.id \
     LEFT JOIN bot_replies r ON r.message_id = m.id";

impl MessageRecord {
    fn from_row(row: &AnyRow) -> Result<Self, StorageError> {
        let kind: String = row.try_get("author_kind")?;
        let triage: Option<String> = row.try_get("triage")?;
        let triage = triage
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StorageError::Corrupt(format!("triage result: {e}")))?;
        let citations: Option<String> = row.try_get("citations")?;
        let citations = citations
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StorageError::Corrupt(format!("citations: {e}")))?;
        Ok(Self {
            id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
            seq: row.try_get("seq")?,
            author_kind: AuthorKind::parse(&kind)
                .ok_or_else(|| StorageError::Corrupt(format!("author kind {kind}")))?,
            author_id: row.try_get("author_id")?,
            text: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
            triage,
            citations,
        })
    }

    /// The public shape of a message, used by the API and by live events alike.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "author": { "kind": self.author_kind, "id": self.author_id },
            "text": self.text,
            "created_at": rfc3339(self.created_at),
            "triage": self.triage,
            "citations": self.citations,
        })
    }
}

impl Store {
    /// Stores a customer message and its `message.created` event in one transaction.
    ///
    /// The conversation row is locked first, so two retries of one request are ordered
    /// and the second finds the first's message.
    #[tracing::instrument(skip_all, fields(conversation.id = %new.conversation_id))]
    pub async fn accept_message(&self, new: &NewMessage) -> Result<AcceptedMessage, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE conversations SET updated_at = $2 WHERE id = $1")
            .bind(&new.conversation_id)
            .bind(now)
            .execute(&mut *write.tx)
            .await?;

        if let Some(key) = &new.idempotency_key
            && let Some((message, hash)) = find_by_key(&mut write.tx, new, key).await?
        {
            return Ok(if hash.as_deref() == Some(new.request_hash.as_str()) {
                AcceptedMessage::Replayed(message)
            } else {
                AcceptedMessage::KeyReused
            });
        }

        let message = insert_message(&mut write.tx, new, now).await;
        let message = match message {
            Err(StorageError::Database(e)) if is_unique_violation(&e) => {
                return Ok(AcceptedMessage::KeyReused);
            }
            other => other?,
        };
        // A customer writing to an agent starts the agent's return timer, unless it runs.
        sqlx::query(
            "UPDATE conversations SET awaiting_agent_since = COALESCE(awaiting_agent_since, $2) \
             WHERE id = $1 AND state = 'assigned'",
        )
        .bind(&new.conversation_id)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let data = json!({ "message": message.view() });
        let event = append_event(
            &mut write.tx,
            &new.conversation_id,
            "message.created",
            &data,
        )
        .await?;
        write.commit().await?;
        Ok(AcceptedMessage::Created(message, event))
    }

    /// A page of the transcript: messages after `after_seq`, oldest first.
    #[tracing::instrument(skip_all, fields(conversation.id = conversation_id))]
    pub async fn messages(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StorageError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} WHERE m.conversation_id = $1 \
             AND m.seq > $2 ORDER BY m.seq LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conversation_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(MessageRecord::from_row).collect()
    }

    /// One message, with whether the pipeline still has to handle it and the state of
    /// its conversation.
    #[tracing::instrument(skip_all, fields(message.id = message_id))]
    pub async fn message_for_pipeline(
        &self,
        message_id: &str,
    ) -> Result<Option<(MessageRecord, bool, ConversationState)>, StorageError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, m.pipeline_status, c.state {MESSAGE_FROM} \
             JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(message_id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let status: String = row.try_get("pipeline_status")?;
        let state: String = row.try_get("state")?;
        let state = ConversationState::parse(&state)
            .ok_or_else(|| StorageError::Corrupt(format!("conversation state {state}")))?;
        Ok(Some((
            MessageRecord::from_row(&row)?,
            status == "pending",
            state,
        )))
    }

    /// Customer messages the pipeline has not finished, oldest first.
    pub async fn pending_messages(&self, limit: i64) -> Result<Vec<PendingMessage>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, conversation_id FROM messages WHERE pipeline_status = 'pending' \
             ORDER BY created_at, seq LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingMessage {
                    message_id: row.try_get("id")?,
                    conversation_id: row.try_get("conversation_id")?,
                })
            })
            .collect()
    }

    /// Stores a triage result and announces it with a `message.triaged` event.
    #[tracing::instrument(skip_all, fields(message.id = message_id))]
    pub async fn save_triage(
        &self,
        conversation_id: &str,
        message_id: &str,
        model_version: &str,
        triage: &Value,
    ) -> Result<StoredEvent, StorageError> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO message_triage (message_id, model_version, result, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO UPDATE SET \
             model_version = $2, result = $3, created_at = $4",
        )
        .bind(message_id)
        .bind(model_version)
        .bind(triage.to_string())
        .bind(now_ms())
        .execute(&mut *write.tx)
        .await?;
        let data = json!({ "message_id": message_id, "triage": triage });
        let event = append_event(&mut write.tx, conversation_id, "message.triaged", &data).await?;
        write.commit().await?;
        Ok(event)
    }

    /// Marks the pipeline's work on a message as finished.
    pub async fn finish_message(&self, message_id: &str, failed: bool) -> Result<(), StorageError> {
        let status = if failed { "failed" } else { "done" };
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE messages SET pipeline_status = $2 WHERE id = $1")
            .bind(message_id)
            .bind(status)
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }
}

async fn find_by_key(
    tx: &mut Transaction<'static, Any>,
    new: &NewMessage,
    key: &str,
) -> Result<Option<(MessageRecord, Option<String>)>, StorageError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, m.request_hash {MESSAGE_FROM} \
         WHERE m.conversation_id = $1 AND m.idempotency_key = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&new.conversation_id)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => Ok(Some((
            MessageRecord::from_row(&row)?,
            row.try_get("request_hash")?,
        ))),
        None => Ok(None),
    }
}

pub(crate) async fn next_message_seq(
    tx: &mut Transaction<'static, Any>,
    conversation_id: &str,
) -> Result<i64, StorageError> {
    let row = sqlx::query(
        "UPDATE conversations SET last_message_seq = last_message_seq + 1 WHERE id = $1 \
         RETURNING last_message_seq",
    )
    .bind(conversation_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("last_message_seq")?)
}

async fn insert_message(
    tx: &mut Transaction<'static, Any>,
    new: &NewMessage,
    now: i64,
) -> Result<MessageRecord, StorageError> {
    let seq = next_message_seq(tx, &new.conversation_id).await?;
    let id = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, author_kind, body, idempotency_key, \
         request_hash, created_at) VALUES ($1, $2, $3, 'customer', $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&new.conversation_id)
    .bind(seq)
    .bind(&new.text)
    .bind(&new.idempotency_key)
    .bind(&new.request_hash)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(MessageRecord {
        id,
        conversation_id: new.conversation_id.clone(),
        seq,
        author_kind: AuthorKind::Customer,
        author_id: None,
        text: new.text.clone(),
        created_at: now,
        triage: None,
        citations: None,
    })
}

/// Posts a system notice in the caller's transaction; it needs no pipeline work.
pub(crate) async fn insert_system_message(
    tx: &mut Transaction<'static, Any>,
    conversation_id: &str,
    text: &str,
    now: i64,
) -> Result<(MessageRecord, StoredEvent), StorageError> {
    insert_staff_message(tx, conversation_id, AuthorKind::System, None, text, now).await
}

/// Posts a message written by the system or an agent in the caller's transaction, with
/// its `message.created` event. Such messages need no pipeline work.
pub(crate) async fn insert_staff_message(
    tx: &mut Transaction<'static, Any>,
    conversation_id: &str,
    author: AuthorKind,
    author_id: Option<&str>,
    text: &str,
    now: i64,
) -> Result<(MessageRecord, StoredEvent), StorageError> {
    let seq = next_message_seq(tx, conversation_id).await?;
    let id = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, author_kind, author_id, body, \
         pipeline_status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'done', $7)",
    )
    .bind(&id)
    .bind(conversation_id)
    .bind(seq)
    .bind(author.as_str())
    .bind(author_id)
    .bind(text)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let message = MessageRecord {
        id,
        conversation_id: conversation_id.to_owned(),
        seq,
        author_kind: author,
        author_id: author_id.map(str::to_owned),
        text: text.to_owned(),
        created_at: now,
        triage: None,
        citations: None,
    };
    let data = json!({ "message": message.view() });
    let event = append_event(tx, conversation_id, "message.created", &data).await?;
    Ok((message, event))
}
