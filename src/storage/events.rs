//! The per-conversation event stream that live clients follow and resume.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{StorageError, Store, now_ms};

/// One event of a conversation, numbered by `seq` from 1 without gaps.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub conversation_id: String,
    pub seq: i64,
    pub kind: String,
    pub data: Value,
    pub created_at: i64,
}

impl StoredEvent {
    fn from_row(row: &AnyRow) -> Result<Self, StorageError> {
        let payload: String = row.try_get("payload")?;
        Ok(Self {
            conversation_id: row.try_get("conversation_id")?,
            seq: row.try_get("seq")?,
            kind: row.try_get("kind")?,
            data: serde_json::from_str(&payload)
                .map_err(|e| StorageError::Corrupt(format!("event payload: {e}")))?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Appends an event inside the caller's transaction.
///
/// Bumping the conversation's counter locks its row until the transaction ends, so events
/// of one conversation commit in `seq` order.
pub(crate) async fn append_event(
    tx: &mut Transaction<'static, Any>,
    conversation_id: &str,
    kind: &str,
    data: &Value,
) -> Result<StoredEvent, StorageError> {
    let now = now_ms();
    let row = sqlx::query(
        "UPDATE conversations SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
         RETURNING last_event_seq",
    )
    .bind(conversation_id)
    .fetch_one(&mut **tx)
    .await?;
    let seq: i64 = row.try_get("last_event_seq")?;

    sqlx::query(
        "INSERT INTO conversation_events (conversation_id, seq, kind, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(conversation_id)
    .bind(seq)
    .bind(kind)
    .bind(data.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;

    Ok(StoredEvent {
        conversation_id: conversation_id.to_owned(),
        seq,
        kind: kind.to_owned(),
        data: data.clone(),
        created_at: now,
    })
}

impl Store {
    /// Events after `after_seq`, oldest first, at most `limit`.
    #[tracing::instrument(skip_all, fields(conversation.id = conversation_id, after_seq))]
    pub async fn events_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        let rows = sqlx::query(
            "SELECT conversation_id, seq, kind, payload, created_at FROM conversation_events \
             WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(conversation_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(StoredEvent::from_row).collect()
    }
}
