//! Routing decisions with their explanations, and the facts routing reads.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::{StorageError, Store, now_ms, rfc3339};

/// A decision to store.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub conversation_id: String,
    pub message_id: String,
    pub rule_name: Option<String>,
    /// `bot` or `handoff`.
    pub action: &'static str,
    pub queue: Option<String>,
    pub priority: i64,
    pub explanation: Value,
    /// Every routing fact the rules could read, for replaying drafts.
    pub context: Value,
}

/// A stored decision, as supervisors read it.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    pub id: String,
    pub conversation_id: String,
    pub message_id: String,
    pub rule_name: Option<String>,
    pub action: String,
    pub queue: Option<String>,
    pub priority: i64,
    pub explanation: Value,
    pub created_at: String,
}

/// What routing needs to know about the customer and the conversation.
#[derive(Debug, Clone, Default)]
pub struct ConversationFactsRow {
    /// The customer's internal id.
    pub customer_id: String,
    pub tier: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    pub past_conversations: i64,
    pub customer_turns: i64,
    /// Bot replies in this conversation that declined to answer.
    pub failed_bot_answers: i64,
    pub language: Option<String>,
    pub created_at: i64,
}

impl Store {
    #[tracing::instrument(skip_all, fields(conversation.id = %decision.conversation_id))]
    pub async fn record_decision(&self, decision: &NewDecision) -> Result<String, StorageError> {
        let id = Uuid::now_v7().to_string();
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO routing_decisions (id, conversation_id, message_id, rule_name, action, \
             queue, priority, explanation, context, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(&decision.conversation_id)
        .bind(&decision.message_id)
        .bind(&decision.rule_name)
        .bind(decision.action)
        .bind(&decision.queue)
        .bind(decision.priority)
        .bind(decision.explanation.to_string())
        .bind(decision.context.to_string())
        .bind(now_ms())
        .execute(&mut *write.tx)
        .await?;
        write.commit().await?;
        Ok(id)
    }

    /// Decisions of a conversation, oldest first.
    pub async fn decisions(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<DecisionRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, message_id, rule_name, action, queue, priority, \
             explanation, created_at FROM routing_decisions WHERE conversation_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let explanation: String = row.try_get("explanation")?;
                Ok(DecisionRecord {
                    id: row.try_get("id")?,
                    conversation_id: row.try_get("conversation_id")?,
                    message_id: row.try_get("message_id")?,
                    rule_name: row.try_get("rule_name")?,
                    action: row.try_get("action")?,
                    queue: row.try_get("queue")?,
                    priority: row.try_get("priority")?,
                    explanation: serde_json::from_str(&explanation)
                        .map_err(|e| StorageError::Corrupt(format!("explanation: {e}")))?,
                    created_at: rfc3339(row.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// The customer's profile and history counts for routing.
    pub async fn conversation_facts(
        &self,
        conversation_id: &str,
    ) -> Result<ConversationFactsRow, StorageError> {
        let row = sqlx::query(
            "SELECT cu.id AS customer_id, cu.tier, cu.attributes, cu.language, c.created_at, \
             (SELECT COUNT(*) FROM conversations p WHERE p.customer_id = c.customer_id \
                AND p.id <> c.id) AS past_conversations, \
             (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id \
                AND m.author_kind = 'customer') AS customer_turns, \
             (SELECT COUNT(*) FROM bot_replies r WHERE r.conversation_id = c.id \
                AND r.outcome = 'declined') AS failed_bot_answers \
             FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1",
        )
        .bind(conversation_id)
        .fetch_one(self.pool())
        .await?;
        let attributes: String = row.try_get("attributes")?;
        Ok(ConversationFactsRow {
            customer_id: row.try_get("customer_id")?,
            tier: row.try_get("tier")?,
            attributes: serde_json::from_str(&attributes)
                .map_err(|e| StorageError::Corrupt(format!("customer attributes: {e}")))?,
            past_conversations: row.try_get("past_conversations")?,
            customer_turns: row.try_get("customer_turns")?,
            failed_bot_answers: row.try_get("failed_bot_answers")?,
            language: row.try_get("language")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// The customer behind a conversation, for the handoff packet.
#[derive(Debug, Clone, Default)]
pub struct CustomerRow {
    pub name: Option<String>,
    pub tier: Option<String>,
    pub language: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    pub past_conversations: i64,
    /// Why each of the latest earlier conversations went to a person, newest first.
    pub recent_handoff_reasons: Vec<String>,
}

impl Store {
    /// The customer's profile and a little of their history.
    pub async fn customer_of(&self, conversation_id: &str) -> Result<CustomerRow, StorageError> {
        let row = sqlx::query(
            "SELECT cu.id, cu.name, cu.tier, cu.language, cu.attributes, \
             (SELECT COUNT(*) FROM conversations p WHERE p.customer_id = c.customer_id \
                AND p.id <> c.id) AS past_conversations \
             FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1",
        )
        .bind(conversation_id)
        .fetch_one(self.pool())
        .await?;
        let customer_id: String = row.try_get("id")?;
        let attributes: String = row.try_get("attributes")?;
        let reasons = sqlx::query(
            "SELECT handoff_reason FROM conversations WHERE customer_id = $1 AND id <> $2 \
             AND handoff_reason IS NOT NULL ORDER BY created_at DESC LIMIT 5",
        )
        .bind(&customer_id)
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        Ok(CustomerRow {
            name: row.try_get("name")?,
            tier: row.try_get("tier")?,
            language: row.try_get("language")?,
            attributes: serde_json::from_str(&attributes)
                .map_err(|e| StorageError::Corrupt(format!("customer attributes: {e}")))?,
            past_conversations: row.try_get("past_conversations")?,
            recent_handoff_reasons: reasons
                .iter()
                .map(|r| r.try_get("handoff_reason"))
                .collect::<Result<_, _>>()?,
        })
    }
}
