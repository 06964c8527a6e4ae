//! Customers and conversations.

use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::events::{StoredEvent, append_event};
use super::{StorageError, Store, now_ms};
use crate::domain::conversation::ConversationState;

/// The customer as the embedding site describes them.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub tier: Option<String>,
    /// A JSON object.
    pub attributes: Option<Value>,
}

/// A stored conversation.
#[derive(Debug, Clone)]
pub struct ConversationRecord {
    pub id: String,
    pub customer_id: String,
    pub token_hash: String,
    pub state: ConversationState,
    pub queue: Option<String>,
    pub priority: i64,
    pub assigned_agent_id: Option<String>,
    /// The agent holding an offer for it, while the offer is open.
    pub offered_agent_id: Option<String>,
    /// Why it is with people, as routing said.
    pub handoff_reason: Option<String>,
    /// Language triage last saw, e.g. `en`.
    pub language: Option<String>,
    pub queued_at: Option<i64>,
    pub assigned_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const CONVERSATION_COLUMNS: &str = "id, customer_id, token_hash, state, queue, \
     priority, assigned_agent_id, offered_agent_id, handoff_reason, language, queued_at, \
     assigned_at, created_at, updated_at";

impl ConversationRecord {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StorageError> {
        let state: String = row.try_get("state")?;
        Ok(Self {
            id: row.try_get("id")?,
            customer_id: row.try_get("customer_id")?,
            token_hash: row.try_get("token_hash")?,
            state: ConversationState::parse(&state)
                .ok_or_else(|| StorageError::Corrupt(format!("conversation state {state}")))?,
            queue: row.try_get("queue")?,
            priority: row.try_get("priority")?,
            assigned_agent_id: row.try_get("assigned_agent_id")?,
            offered_agent_id: row.try_get("offered_agent_id")?,
            handoff_reason: row.try_get("handoff_reason")?,
            language: row.try_get("language")?,
            queued_at: row.try_get("queued_at")?,
            assigned_at: row.try_get("assigned_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Store {
    /// Stores the customer (updating the fields given) and opens a conversation for them.
    #[tracing::instrument(skip_all, fields(conversation.id))]
    pub async fn create_conversation(
        &self,
        customer: &NewCustomer,
        token_hash: &str,
    ) -> Result<(ConversationRecord, StoredEvent), StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let customer_id = upsert_customer(&mut write.tx, customer, now).await?;

        let id = Uuid::now_v7().to_string();
        tracing::Span::current().record("conversation.id", &id);
        let sql = format!(
            "INSERT INTO conversations (id, customer_id, token_hash, state, created_at, \
             updated_at) VALUES ($1, $2, $3, 'bot', $4, $4) RETURNING {CONVERSATION_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&id)
            .bind(&customer_id)
            .bind(token_hash)
            .bind(now)
            .fetch_one(&mut *write.tx)
            .await?;
        let conversation = ConversationRecord::from_row(&row)?;

        let data = json!({ "conversation_id": id, "state": "bot" });
        let event = append_event(&mut write.tx, &id, "conversation.created", &data).await?;
        write.commit().await?;
        Ok((conversation, event))
    }

    /// Looks a conversation up by id.
    #[tracing::instrument(skip_all, fields(conversation.id = id))]
    pub async fn conversation(&self, id: &str) -> Result<Option<ConversationRecord>, StorageError> {
        let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(ConversationRecord::from_row).transpose()
    }

    /// Moves a conversation to a queue with its handoff plan, recording the change as an
    /// event and a system message in the same transaction. Returns `None` when the
    /// conversation was already with humans, in which case nothing changes.
    #[tracing::instrument(skip_all, fields(conversation.id = conversation_id, queue = request.queue))]
    pub async fn enqueue_conversation(
        &self,
        conversation_id: &str,
        request: &QueueRequest<'_>,
    ) -> Result<Option<Vec<StoredEvent>>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let row = sqlx::query("SELECT state FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_one(&mut *write.tx)
            .await?;
        let from: String = row.try_get("state")?;
        let from = ConversationState::parse(&from)
            .ok_or_else(|| StorageError::Corrupt(format!("conversation state {from}")))?;
        if from.is_with_humans() {
            return Ok(None);
        }

        sqlx::query(
            "UPDATE conversations SET state = 'queued', queue = $2, priority = $3, \
             assigned_agent_id = NULL, offered_agent_id = NULL, offer_expires_at = NULL, \
             handoff_reason = $4, handoff_targets = $5, target_index = 0, queued_at = $6, \
             target_since = $6, language = COALESCE($7, language), awaiting_agent_since = NULL, \
             updated_at = $6 WHERE id = $1",
        )
        .bind(conversation_id)
        .bind(request.queue)
        .bind(request.priority)
        .bind(request.reason)
        .bind(request.targets.to_string())
        .bind(now)
        .bind(request.language)
        .execute(&mut *write.tx)
        .await?;

        let data = json!({
            "from": from, "to": "queued", "queue": request.queue,
            "priority": request.priority, "reason": request.reason,
        });
        let changed = append_event(
            &mut write.tx,
            conversation_id,
            "conversation.state_changed",
            &data,
        )
        .await?;
        let (_, posted) = super::messages::insert_system_message(
            &mut write.tx,
            conversation_id,
            request.notice,
            now,
        )
        .await?;
        write.commit().await?;
        Ok(Some(vec![changed, posted]))
    }
}

/// Where and why a conversation waits for a person.
#[derive(Debug, Clone)]
pub struct QueueRequest<'a> {
    pub queue: &'a str,
    pub priority: i64,
    pub reason: &'a str,
    /// The handoff plan: a JSON array of routing targets, in order.
    pub targets: &'a Value,
    /// The conversation's language, when triage knows it.
    pub language: Option<&'a str>,
    /// What the customer is told.
    pub notice: &'a str,
}

/// Inserts the customer or updates the fields the caller supplied; returns its id.
///
/// One statement, so two first conversations of the same new customer cannot race.
async fn upsert_customer(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    customer: &NewCustomer,
    now: i64,
) -> Result<String, StorageError> {
    let attributes = customer.attributes.as_ref().map(Value::to_string);
    let row = sqlx::query(
        "INSERT INTO customers (id, external_id, name, email, language, tier, attributes, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, '{}'), $8, $8) \
         ON CONFLICT (external_id) DO UPDATE SET \
         name = COALESCE($3, customers.name), email = COALESCE($4, customers.email), \
         language = COALESCE($5, customers.language), tier = COALESCE($6, customers.tier), \
         attributes = COALESCE($7, customers.attributes), updated_at = $8 \
         RETURNING id",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(&customer.external_id)
    .bind(&customer.name)
    .bind(&customer.email)
    .bind(&customer.language)
    .bind(&customer.tier)
    .bind(&attributes)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("id")?)
}
