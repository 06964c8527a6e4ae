//! Offers, assignment, hand-backs and the timers around them.
//!
//! Every change here re-checks its preconditions inside its own transaction, so that
//! concurrent events (two offers for one agent, an accept racing an expiry, a supervisor
//! assigning by hand) can never assign a conversation twice or put an agent over
//! capacity. The agent's row is locked before any of their conversations, on both
//! databases: PostgreSQL by the no-op update, SQLite by its single writer.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::agents::{Actor, audit};
use super::conversations::{CONVERSATION_COLUMNS, ConversationRecord};
use super::events::{StoredEvent, append_event};
use super::messages::{MessageRecord, insert_staff_message, insert_system_message};
use super::{StorageError, Store, WriteTx, now_ms, rfc3339};
use crate::domain::conversation::{AuthorKind, ConversationState};

/// A queued conversation as the assignment planner needs it.
#[derive(Debug, Clone)]
pub struct WaitingRow {
    pub conversation_id: String,
    pub priority: i64,
    pub language: Option<String>,
    /// JSON array of routing targets.
    pub targets: Value,
    pub target_index: i64,
    pub queued_at: i64,
    pub target_since: i64,
    pub offered: bool,
}

/// An agent with the conversations they hold (assigned plus offered).
#[derive(Debug, Clone)]
pub struct AgentLoad {
    pub agent: super::AgentRecord,
    pub active: i64,
    /// When they last took a conversation.
    pub last_assigned_at: Option<i64>,
}

/// An offer of a conversation to one agent.
#[derive(Debug, Clone, Serialize)]
pub struct OfferRecord {
    pub id: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub queue: String,
    /// `pending`, `accepted`, `rejected`, `expired` or `withdrawn`.
    pub status: String,
    /// The agent search that chose this agent.
    pub explanation: Value,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
}

/// An offer to make.
#[derive(Debug, Clone)]
pub struct NewOffer<'a> {
    pub conversation_id: &'a str,
    pub agent_id: &'a str,
    pub queue: &'a str,
    pub explanation: &'a Value,
    pub expires_at: i64,
}

/// An internal note on a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct NoteRecord {
    pub id: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub text: String,
    pub created_at: String,
}

/// Why an assignment action was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such offer, conversation or agent.
    NotFound,
    /// The offer or conversation belongs to someone else.
    NotYours,
    /// The offer was already answered, expired or withdrawn.
    OfferClosed,
    /// The conversation is not in a state that allows this.
    WrongState,
    /// The agent holds as many conversations as their capacity allows.
    AtCapacity,
}

/// What a successful change did: the stored events to announce and the conversation
/// after it.
#[derive(Debug, Clone)]
pub struct Change {
    pub events: Vec<StoredEvent>,
    pub conversation: ConversationRecord,
    /// The agent who held the conversation before, when it changed hands.
    pub previous_agent: Option<String>,
}

/// How a person lets go of a conversation.
#[derive(Debug, Clone)]
pub enum Release<'a> {
    /// The problem is solved.
    Resolve,
    /// The bot takes over again.
    HandBack,
    /// Back to a queue, waiting for someone else.
    ToQueue { queue: &'a str, priority: i64 },
    /// Straight to another agent, within their capacity.
    ToAgent { agent_id: &'a str },
}

/// When the next timer is due, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadlines {
    pub offer_expiry: Option<i64>,
    pub return_due: Option<i64>,
    pub presence_due: Option<i64>,
}

const OFFER_COLUMNS: &str = "id, conversation_id, agent_id, queue, status, explanation, \
     created_at, expires_at, decided_at";

impl OfferRecord {
    fn from_row(row: &AnyRow) -> Result<Self, StorageError> {
        let explanation: String = row.try_get("explanation")?;
        let decided: Option<i64> = row.try_get("decided_at")?;
        Ok(Self {
            id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
            agent_id: row.try_get("agent_id")?,
            queue: row.try_get("queue")?,
            status: row.try_get("status")?,
            explanation: serde_json::from_str(&explanation)
                .map_err(|e| StorageError::Corrupt(format!("offer explanation: {e}")))?,
            created_at: rfc3339(row.try_get("created_at")?),
            expires_at: rfc3339(row.try_get("expires_at")?),
            decided_at: decided.map(rfc3339),
        })
    }
}

impl Store {
    /// Every conversation waiting for a person, with its handoff plan.
    pub async fn waiting_conversations(&self) -> Result<Vec<WaitingRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, priority, language, handoff_targets, target_index, queued_at, \
             target_since, created_at, offered_agent_id FROM conversations \
             WHERE state = 'queued' ORDER BY queued_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let targets: Option<String> = row.try_get("handoff_targets")?;
                let created: i64 = row.try_get("created_at")?;
                let queued: Option<i64> = row.try_get("queued_at")?;
                let since: Option<i64> = row.try_get("target_since")?;
                let offered: Option<String> = row.try_get("offered_agent_id")?;
                Ok(WaitingRow {
                    conversation_id: row.try_get("id")?,
                    priority: row.try_get("priority")?,
                    language: row.try_get("language")?,
                    targets: targets
                        .map(|t| serde_json::from_str(&t))
                        .transpose()
                        .map_err(|e| StorageError::Corrupt(format!("handoff targets: {e}")))?
                        .unwrap_or(Value::Null),
                    target_index: row.try_get("target_index")?,
                    queued_at: queued.unwrap_or(created),
                    target_since: since.or(queued).unwrap_or(created),
                    offered: offered.is_some(),
                })
            })
            .collect()
    }

    /// Pairs of (conversation, agent) where the agent declined or let an offer lapse at
    /// or after `since`.
    pub async fn recent_declines(&self, since: i64) -> Result<Vec<(String, String)>, StorageError> {
        let rows = sqlx::query(
            "SELECT DISTINCT conversation_id, agent_id FROM offers \
             WHERE status IN ('rejected', 'expired') AND decided_at >= $1",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("conversation_id")?, row.try_get("agent_id")?)))
            .collect()
    }

    /// Every agent with how many conversations they hold, offers included.
    pub async fn agent_loads(&self) -> Result<Vec<AgentLoad>, StorageError> {
        let sql = format!(
            "SELECT {}, \
             (SELECT COUNT(*) FROM conversations c WHERE \
                (c.state = 'assigned' AND c.assigned_agent_id = a.id) \
                OR (c.state = 'queued' AND c.offered_agent_id = a.id)) AS active, \
             (SELECT MAX(c.assigned_at) FROM conversations c \
                WHERE c.assigned_agent_id = a.id) AS last_assigned_at \
             FROM agents a ORDER BY a.id",
            super::agents::AGENT_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AgentLoad {
                    agent: super::AgentRecord::from_row(row)?,
                    active: row.try_get("active")?,
                    last_assigned_at: row.try_get("last_assigned_at")?,
                })
            })
            .collect()
    }

    /// Moves a queued conversation on to a later target of its plan; `None` when it is
    /// no longer queued on `from_index` (someone else moved or took it).
    pub async fn move_to_target(
        &self,
        conversation_id: &str,
        from_index: i64,
        to_index: i64,
        queue: &str,
        target_since: i64,
    ) -> Result<Option<StoredEvent>, StorageError> {
        let mut write = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE conversations SET target_index = $3, queue = $4, target_since = $5, \
             updated_at = $6 WHERE id = $1 AND state = 'queued' AND target_index = $2",
        )
        .bind(conversation_id)
        .bind(from_index)
        .bind(to_index)
        .bind(queue)
        .bind(target_since)
        .bind(now_ms())
        .execute(&mut *write.tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let data = json!({ "queue": queue, "reason": "the earlier target timed out" });
        let event = append_event(
            &mut write.tx,
            conversation_id,
            "conversation.queue_changed",
            &data,
        )
        .await?;
        write.commit().await?;
        Ok(Some(event))
    }

    /// Offers a queued conversation to an agent, if the conversation is still waiting
    /// with no open offer and the agent is online with a free slot. `None` otherwise.
    pub async fn create_offer(
        &self,
        new: &NewOffer<'_>,
    ) -> Result<Option<OfferRecord>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        if !has_free_slot(&mut write, new.agent_id, true).await? {
            return Ok(None);
        }
        let taken = sqlx::query(
            "UPDATE conversations SET offered_agent_id = $2, offer_expires_at = $3, \
             updated_at = $4 WHERE id = $1 AND state = 'queued' AND offered_agent_id IS NULL",
        )
        .bind(new.conversation_id)
        .bind(new.agent_id)
        .bind(new.expires_at)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        if taken.rows_affected() == 0 {
            return Ok(None);
        }
        let id = Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO offers (id, conversation_id, agent_id, queue, status, explanation, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
        )
        .bind(&id)
        .bind(new.conversation_id)
        .bind(new.agent_id)
        .bind(new.queue)
        .bind(new.explanation.to_string())
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut *write.tx)
        .await?;
        let offer = fetch_offer(&mut write, &id).await?;
        write.commit().await?;
        Ok(Some(offer))
    }

    /// Closes every pending offer that expired at or before `now`; returns them.
    pub async fn expire_offers(&self, now: i64) -> Result<Vec<OfferRecord>, StorageError> {
        let due = sqlx::query(
            "SELECT id FROM offers WHERE status = 'pending' AND expires_at <= $1 ORDER BY id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut closed = Vec::new();
        for row in due {
            let id: String = row.try_get("id")?;
            let mut write = self.begin_write().await?;
            if let Some(offer) = close_offer(&mut write, &id, None, "expired", now).await? {
                write.commit().await?;
                closed.push(offer);
            }
        }
        Ok(closed)
    }

    /// Pending offers held by an agent, oldest first.
    pub async fn pending_offers(&self, agent_id: &str) -> Result<Vec<OfferRecord>, StorageError> {
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers WHERE agent_id = $1 AND status = 'pending' \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(agent_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(OfferRecord::from_row).collect()
    }

    /// Every offer of a conversation, oldest first.
    pub async fn offers_of(&self, conversation_id: &str) -> Result<Vec<OfferRecord>, StorageError> {
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers WHERE conversation_id = $1 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conversation_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(OfferRecord::from_row).collect()
    }

    /// The agent accepts their pending offer: the conversation becomes theirs.
    pub async fn accept_offer(
        &self,
        offer_id: &str,
        agent_id: &str,
        joined_notice: &str,
    ) -> Result<Result<Change, Refusal>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let Some(offer) = offer_in(&mut write, offer_id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if offer.agent_id != agent_id {
            return Ok(Err(Refusal::NotYours));
        }
        let Some(offer) =
            close_offer(&mut write, offer_id, Some(agent_id), "accepted", now).await?
        else {
            return Ok(Err(Refusal::OfferClosed));
        };
        // The offer reserved the agent's slot, so capacity holds without a new check.
        let events = take_over(
            &mut write,
            &offer.conversation_id,
            agent_id,
            now,
            joined_notice,
        )
        .await?;
        let conversation = fetch_conversation(&mut write, &offer.conversation_id).await?;
        write.commit().await?;
        Ok(Ok(Change {
            events,
            conversation,
            previous_agent: None,
        }))
    }

    /// The agent turns their pending offer down; the conversation waits for someone else.
    pub async fn reject_offer(
        &self,
        offer_id: &str,
        agent_id: &str,
    ) -> Result<Result<OfferRecord, Refusal>, StorageError> {
        let mut write = self.begin_write().await?;
        let Some(offer) = offer_in(&mut write, offer_id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if offer.agent_id != agent_id {
            return Ok(Err(Refusal::NotYours));
        }
        match close_offer(&mut write, offer_id, Some(agent_id), "rejected", now_ms()).await? {
            Some(offer) => {
                write.commit().await?;
                Ok(Ok(offer))
            }
            None => Ok(Err(Refusal::OfferClosed)),
        }
    }

    /// Turns online agents whose last heartbeat is older than `cutoff` to away and
    /// withdraws their pending offers. Returns each agent with the offers withdrawn.
    pub async fn mark_silent_agents_away(
        &self,
        cutoff: i64,
    ) -> Result<Vec<(String, Vec<OfferRecord>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT id FROM agents WHERE presence = 'online' \
             AND (last_seen_at IS NULL OR last_seen_at < $1)",
        )
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        let mut changed = Vec::new();
        for row in rows {
            let agent_id: String = row.try_get("id")?;
            let now = now_ms();
            let mut write = self.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE agents SET presence = 'away', updated_at = $3 WHERE id = $1 \
                 AND presence = 'online' AND (last_seen_at IS NULL OR last_seen_at < $2)",
            )
            .bind(&agent_id)
            .bind(cutoff)
            .bind(now)
            .execute(&mut *write.tx)
            .await?;
            if updated.rows_affected() == 0 {
                continue;
            }
            let withdrawn = withdraw_offers(&mut write, &agent_id, now).await?;
            let actor = Actor {
                kind: "system",
                id: None,
            };
            let detail = json!({ "presence": "away", "reason": "no heartbeat" });
            audit(
                &mut write,
                &actor,
                "agent.presence_changed",
                "agent",
                Some(&agent_id),
                &detail,
            )
            .await?;
            write.commit().await?;
            changed.push((agent_id, withdrawn));
        }
        Ok(changed)
    }

    /// Withdraws an agent's pending offers, e.g. when they go away or offline.
    pub async fn withdraw_offers_of(
        &self,
        agent_id: &str,
    ) -> Result<Vec<OfferRecord>, StorageError> {
        let mut write = self.begin_write().await?;
        let withdrawn = withdraw_offers(&mut write, agent_id, now_ms()).await?;
        write.commit().await?;
        Ok(withdrawn)
    }

    /// Puts back in their queue the assigned conversations whose customer has waited
    /// for the agent's reply since before `cutoff`. Returns each with its former agent.
    pub async fn return_unanswered(
        &self,
        cutoff: i64,
        notice: &str,
    ) -> Result<Vec<(Change, String)>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, assigned_agent_id FROM conversations WHERE state = 'assigned' \
             AND awaiting_agent_since IS NOT NULL AND awaiting_agent_since < $1",
        )
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        let mut returned = Vec::new();
        for row in rows {
            let id: String = row.try_get("id")?;
            let agent: Option<String> = row.try_get("assigned_agent_id")?;
            let Some(agent) = agent else { continue };
            let now = now_ms();
            let mut write = self.begin_write().await?;
            let requeued = sqlx::query(
                "UPDATE conversations SET state = 'queued', assigned_agent_id = NULL, \
                 assigned_at = NULL, awaiting_agent_since = NULL, queued_at = $3, \
                 target_since = $3, updated_at = $3 WHERE id = $1 AND state = 'assigned' \
                 AND assigned_agent_id = $2 AND awaiting_agent_since < $4",
            )
            .bind(&id)
            .bind(&agent)
            .bind(now)
            .bind(cutoff)
            .execute(&mut *write.tx)
            .await?;
            if requeued.rows_affected() == 0 {
                continue;
            }
            let data = json!({ "from": "assigned", "to": "queued",
                "reason": "the assigned agent did not reply in time" });
            let mut events =
                vec![append_event(&mut write.tx, &id, "conversation.state_changed", &data).await?];
            events.push(
                insert_system_message(&mut write.tx, &id, notice, now)
                    .await?
                    .1,
            );
            let actor = Actor {
                kind: "system",
                id: None,
            };
            let detail = json!({ "agent_id": agent, "reason": "return timer" });
            audit(
                &mut write,
                &actor,
                "conversation.returned",
                "conversation",
                Some(&id),
                &detail,
            )
            .await?;
            let conversation = fetch_conversation(&mut write, &id).await?;
            write.commit().await?;
            returned.push((
                Change {
                    events,
                    conversation,
                    previous_agent: Some(agent.clone()),
                },
                agent,
            ));
        }
        Ok(returned)
    }

    /// When the next offer expires, the next return timer fires and the next online
    /// agent's heartbeat runs out (given the timer lengths).
    pub async fn deadlines(
        &self,
        return_after_ms: Option<i64>,
        grace_ms: i64,
    ) -> Result<Deadlines, StorageError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT MIN(expires_at) FROM offers WHERE status = 'pending') AS offer_expiry, \
             (SELECT MIN(awaiting_agent_since) FROM conversations \
                WHERE state = 'assigned') AS awaiting, \
             (SELECT MIN(COALESCE(last_seen_at, 0)) FROM agents \
                WHERE presence = 'online') AS seen",
        )
        .fetch_one(self.pool())
        .await?;
        let awaiting: Option<i64> = row.try_get("awaiting")?;
        let seen: Option<i64> = row.try_get("seen")?;
        Ok(Deadlines {
            offer_expiry: row.try_get("offer_expiry")?,
            return_due: return_after_ms.and_then(|after| awaiting.map(|a| a + after)),
            presence_due: seen.map(|s| s + grace_ms),
        })
    }

    /// A supervisor gives a conversation to an agent directly, within capacity. An open
    /// offer for it is withdrawn; an agent who held it lets go.
    pub async fn assign_directly(
        &self,
        conversation_id: &str,
        agent_id: &str,
        actor: &Actor,
        joined_notice: &str,
    ) -> Result<Result<Change, Refusal>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        if !lock_agent(&mut write, agent_id).await? {
            return Ok(Err(Refusal::NotFound));
        }
        let Some(before) = lock_conversation(&mut write, conversation_id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if before.assigned_agent_id.as_deref() == Some(agent_id) {
            return Ok(Err(Refusal::WrongState));
        }
        // An offer to this agent already holds a slot for the conversation.
        if before.offered_agent_id.as_deref() != Some(agent_id)
            && !has_free_slot(&mut write, agent_id, false).await?
        {
            return Ok(Err(Refusal::AtCapacity));
        }
        withdraw_offer_of_conversation(&mut write, conversation_id, now).await?;
        let events = take_over(&mut write, conversation_id, agent_id, now, joined_notice).await?;
        let detail = json!({ "agent_id": agent_id, "previous_agent_id": before.assigned_agent_id });
        audit(
            &mut write,
            actor,
            "conversation.assigned",
            "conversation",
            Some(conversation_id),
            &detail,
        )
        .await?;
        let conversation = fetch_conversation(&mut write, conversation_id).await?;
        write.commit().await?;
        Ok(Ok(Change {
            events,
            conversation,
            previous_agent: before.assigned_agent_id,
        }))
    }

    /// The assigned agent (or a supervisor, `agent_id = None`) lets go of a
    /// conversation: resolved, back to the bot, to a queue or to another agent.
    pub async fn release(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        release: &Release<'_>,
        actor: &Actor,
        notice: &str,
    ) -> Result<Result<Change, Refusal>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        if let Release::ToAgent { agent_id: to } = release {
            if !lock_agent(&mut write, to).await? {
                return Ok(Err(Refusal::NotFound));
            }
            if !has_free_slot(&mut write, to, false).await? {
                return Ok(Err(Refusal::AtCapacity));
            }
        }
        let Some(before) = lock_conversation(&mut write, conversation_id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if let Some(agent) = agent_id
            && (before.state != ConversationState::Assigned
                || before.assigned_agent_id.as_deref() != Some(agent))
        {
            return Ok(Err(Refusal::NotYours));
        }
        if let Release::ToAgent { agent_id: to } = release
            && before.assigned_agent_id.as_deref() == Some(*to)
        {
            return Ok(Err(Refusal::WrongState));
        }
        let (to_state, action) = match release {
            Release::Resolve => (ConversationState::Resolved, "conversation.resolved"),
            Release::HandBack => (ConversationState::Bot, "conversation.handed_back"),
            Release::ToQueue { .. } => (ConversationState::Queued, "conversation.transferred"),
            Release::ToAgent { .. } => (ConversationState::Assigned, "conversation.transferred"),
        };
        if before.state.transition(to_state).is_err() {
            return Ok(Err(Refusal::WrongState));
        }
        withdraw_offer_of_conversation(&mut write, conversation_id, now).await?;

        let mut events = Vec::new();
        match release {
            Release::Resolve | Release::HandBack => {
                sqlx::query(
                    "UPDATE conversations SET state = $2, assigned_agent_id = NULL, \
                     awaiting_agent_since = NULL, updated_at = $3 WHERE id = $1",
                )
                .bind(conversation_id)
                .bind(to_state.as_str())
                .bind(now)
                .execute(&mut *write.tx)
                .await?;
                let data = json!({ "from": before.state, "to": to_state });
                events.push(
                    append_event(
                        &mut write.tx,
                        conversation_id,
                        "conversation.state_changed",
                        &data,
                    )
                    .await?,
                );
                events.push(
                    insert_system_message(&mut write.tx, conversation_id, notice, now)
                        .await?
                        .1,
                );
            }
            Release::ToQueue { queue, priority } => {
                let targets = json!([{ "queue": queue, "priority": priority }]);
                sqlx::query(
                    "UPDATE conversations SET state = 'queued', queue = $2, priority = $3, \
                     assigned_agent_id = NULL, assigned_at = NULL, awaiting_agent_since = NULL, \
                     handoff_targets = $4, target_index = 0, queued_at = $5, target_since = $5, \
                     updated_at = $5 WHERE id = $1",
                )
                .bind(conversation_id)
                .bind(*queue)
                .bind(*priority)
                .bind(targets.to_string())
                .bind(now)
                .execute(&mut *write.tx)
                .await?;
                let data = json!({ "from": before.state, "to": "queued", "queue": queue,
                    "priority": priority, "reason": "transferred" });
                events.push(
                    append_event(
                        &mut write.tx,
                        conversation_id,
                        "conversation.state_changed",
                        &data,
                    )
                    .await?,
                );
                events.push(
                    insert_system_message(&mut write.tx, conversation_id, notice, now)
                        .await?
                        .1,
                );
            }
            Release::ToAgent { agent_id: to } => {
                events = take_over(&mut write, conversation_id, to, now, notice).await?;
            }
        }
        let detail = json!({
            "from_agent_id": before.assigned_agent_id,
            "to": match release {
                Release::Resolve => json!("resolved"),
                Release::HandBack => json!("bot"),
                Release::ToQueue { queue, .. } => json!({ "queue": queue }),
                Release::ToAgent { agent_id } => json!({ "agent_id": agent_id }),
            },
        });
        audit(
            &mut write,
            actor,
            action,
            "conversation",
            Some(conversation_id),
            &detail,
        )
        .await?;
        let conversation = fetch_conversation(&mut write, conversation_id).await?;
        write.commit().await?;
        Ok(Ok(Change {
            events,
            conversation,
            previous_agent: before.assigned_agent_id,
        }))
    }

    /// A supervisor moves a queued conversation to another queue.
    pub async fn move_queued(
        &self,
        conversation_id: &str,
        queue: &str,
        priority: Option<i64>,
        actor: &Actor,
    ) -> Result<Result<Change, Refusal>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let Some(before) = lock_conversation(&mut write, conversation_id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if before.state != ConversationState::Queued {
            return Ok(Err(Refusal::WrongState));
        }
        withdraw_offer_of_conversation(&mut write, conversation_id, now).await?;
        let priority = priority.unwrap_or(before.priority);
        let targets = json!([{ "queue": queue, "priority": priority }]);
        sqlx::query(
            "UPDATE conversations SET queue = $2, priority = $3, handoff_targets = $4, \
             target_index = 0, target_since = $5, updated_at = $5 WHERE id = $1",
        )
        .bind(conversation_id)
        .bind(queue)
        .bind(priority)
        .bind(targets.to_string())
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let data =
            json!({ "queue": queue, "priority": priority, "reason": "moved by a supervisor" });
        let event = append_event(
            &mut write.tx,
            conversation_id,
            "conversation.queue_changed",
            &data,
        )
        .await?;
        let detail = json!({ "from_queue": before.queue, "queue": queue, "priority": priority });
        audit(
            &mut write,
            actor,
            "conversation.moved",
            "conversation",
            Some(conversation_id),
            &detail,
        )
        .await?;
        let conversation = fetch_conversation(&mut write, conversation_id).await?;
        write.commit().await?;
        Ok(Ok(Change {
            events: vec![event],
            conversation,
            previous_agent: None,
        }))
    }

    /// The assigned agent replies to the customer; stops the return timer.
    pub async fn post_agent_message(
        &self,
        conversation_id: &str,
        agent_id: &str,
        text: &str,
    ) -> Result<Result<(MessageRecord, StoredEvent), Refusal>, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let owned = sqlx::query(
            "UPDATE conversations SET awaiting_agent_since = NULL, updated_at = $3 \
             WHERE id = $1 AND state = 'assigned' AND assigned_agent_id = $2",
        )
        .bind(conversation_id)
        .bind(agent_id)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        if owned.rows_affected() == 0 {
            return Ok(Err(Refusal::NotYours));
        }
        let posted = insert_staff_message(
            &mut write.tx,
            conversation_id,
            AuthorKind::Agent,
            Some(agent_id),
            text,
            now,
        )
        .await?;
        write.commit().await?;
        Ok(Ok(posted))
    }

    /// Adds an internal note; never shown to the customer.
    pub async fn add_note(
        &self,
        conversation_id: &str,
        agent_id: &str,
        text: &str,
    ) -> Result<NoteRecord, StorageError> {
        let now = now_ms();
        let id = Uuid::now_v7().to_string();
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO conversation_notes (id, conversation_id, agent_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(conversation_id)
        .bind(agent_id)
        .bind(text)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        write.commit().await?;
        Ok(NoteRecord {
            id,
            conversation_id: conversation_id.to_owned(),
            agent_id: agent_id.to_owned(),
            text: text.to_owned(),
            created_at: rfc3339(now),
        })
    }

    /// Internal notes of a conversation, oldest first.
    pub async fn notes(&self, conversation_id: &str) -> Result<Vec<NoteRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, agent_id, body, created_at FROM conversation_notes \
             WHERE conversation_id = $1 ORDER BY created_at, id",
        )
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NoteRecord {
                    id: row.try_get("id")?,
                    conversation_id: row.try_get("conversation_id")?,
                    agent_id: row.try_get("agent_id")?,
                    text: row.try_get("body")?,
                    created_at: rfc3339(row.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Conversations assigned to an agent now, oldest assignment first.
    pub async fn assigned_to(
        &self,
        agent_id: &str,
    ) -> Result<Vec<ConversationRecord>, StorageError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations \
             WHERE state = 'assigned' AND assigned_agent_id = $1 ORDER BY assigned_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(agent_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ConversationRecord::from_row).collect()
    }

    /// Records a heartbeat from an agent's console.
    pub async fn touch_agent(&self, agent_id: &str) -> Result<(), StorageError> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE agents SET last_seen_at = $2 WHERE id = $1")
            .bind(agent_id)
            .bind(now_ms())
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    /// Conversations and counts supervisors watch: everything queued or assigned.
    pub async fn open_conversations(&self) -> Result<Vec<ConversationRecord>, StorageError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations \
             WHERE state IN ('queued', 'assigned') ORDER BY queued_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ConversationRecord::from_row).collect()
    }
}

/// Locks the agent's row (by touching it); false when there is no such agent.
///
/// Lock order, everywhere in this module: the agent, then the conversation, then its
/// offers. Keeping one order is what keeps concurrent transactions on PostgreSQL from
/// deadlocking.
async fn lock_agent(write: &mut WriteTx<'_>, agent_id: &str) -> Result<bool, StorageError> {
    let touched = sqlx::query("UPDATE agents SET updated_at = updated_at WHERE id = $1")
        .bind(agent_id)
        .execute(&mut *write.tx)
        .await?;
    Ok(touched.rows_affected() > 0)
}

/// Locks the agent's row and tells whether they may take one more conversation.
/// `require_online` also demands presence `online` (offers); a supervisor's direct
/// assignment may go to anyone with a free slot.
async fn has_free_slot(
    write: &mut WriteTx<'_>,
    agent_id: &str,
    require_online: bool,
) -> Result<bool, StorageError> {
    lock_agent(write, agent_id).await?;
    let row = sqlx::query(
        "SELECT a.capacity, a.presence, \
         (SELECT COUNT(*) FROM conversations c WHERE \
            (c.state = 'assigned' AND c.assigned_agent_id = a.id) \
            OR (c.state = 'queued' AND c.offered_agent_id = a.id)) AS active \
         FROM agents a WHERE a.id = $1",
    )
    .bind(agent_id)
    .fetch_optional(&mut *write.tx)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let capacity: i64 = row.try_get("capacity")?;
    let presence: String = row.try_get("presence")?;
    let active: i64 = row.try_get("active")?;
    Ok(active < capacity && (!require_online || presence == "online"))
}

/// Locks the conversation's row (by touching it) and reads it.
async fn lock_conversation(
    write: &mut WriteTx<'_>,
    id: &str,
) -> Result<Option<ConversationRecord>, StorageError> {
    let touched = sqlx::query("UPDATE conversations SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *write.tx)
        .await?;
    if touched.rows_affected() == 0 {
        return Ok(None);
    }
    fetch_conversation(write, id).await.map(Some)
}

async fn fetch_conversation(
    write: &mut WriteTx<'_>,
    id: &str,
) -> Result<ConversationRecord, StorageError> {
    let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut *write.tx)
        .await?;
    ConversationRecord::from_row(&row)
}

async fn offer_in(write: &mut WriteTx<'_>, id: &str) -> Result<Option<OfferRecord>, StorageError> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *write.tx)
        .await?;
    row.as_ref().map(OfferRecord::from_row).transpose()
}

async fn fetch_offer(write: &mut WriteTx<'_>, id: &str) -> Result<OfferRecord, StorageError> {
    offer_in(write, id)
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("offer {id} vanished")))
}

/// Closes a pending offer with `status` and frees the conversation's offer slot.
/// `None` when the offer was not pending (or, with `agent_id`, not that agent's).
async fn close_offer(
    write: &mut WriteTx<'_>,
    offer_id: &str,
    agent_id: Option<&str>,
    status: &str,
    now: i64,
) -> Result<Option<OfferRecord>, StorageError> {
    let Some(offer) = offer_in(write, offer_id).await? else {
        return Ok(None);
    };
    lock_conversation(write, &offer.conversation_id).await?;
    let closed = sqlx::query(
        "UPDATE offers SET status = $2, decided_at = $3 WHERE id = $1 AND status = 'pending' \
         AND ($4 IS NULL OR agent_id = $4) AND ($2 <> 'accepted' OR expires_at > $3)",
    )
    .bind(offer_id)
    .bind(status)
    .bind(now)
    .bind(agent_id)
    .execute(&mut *write.tx)
    .await?;
    if closed.rows_affected() == 0 {
        return Ok(None);
    }
    let offer = fetch_offer(write, offer_id).await?;
    sqlx::query(
        "UPDATE conversations SET offered_agent_id = NULL, offer_expires_at = NULL, \
         updated_at = $3 WHERE id = $1 AND offered_agent_id = $2",
    )
    .bind(&offer.conversation_id)
    .bind(&offer.agent_id)
    .bind(now)
    .execute(&mut *write.tx)
    .await?;
    Ok(Some(offer))
}

async fn withdraw_offers(
    write: &mut WriteTx<'_>,
    agent_id: &str,
    now: i64,
) -> Result<Vec<OfferRecord>, StorageError> {
    let rows = sqlx::query("SELECT id FROM offers WHERE agent_id = $1 AND status = 'pending'")
        .bind(agent_id)
        .fetch_all(&mut *write.tx)
        .await?;
    let mut withdrawn = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        if let Some(offer) = close_offer(write, &id, None, "withdrawn", now).await? {
            withdrawn.push(offer);
        }
    }
    Ok(withdrawn)
}

async fn withdraw_offer_of_conversation(
    write: &mut WriteTx<'_>,
    conversation_id: &str,
    now: i64,
) -> Result<(), StorageError> {
    let row =
        sqlx::query("SELECT id FROM offers WHERE conversation_id = $1 AND status = 'pending'")
            .bind(conversation_id)
            .fetch_optional(&mut *write.tx)
            .await?;
    if let Some(row) = row {
        let id: String = row.try_get("id")?;
        close_offer(write, &id, None, "withdrawn", now).await?;
    }
    Ok(())
}

/// Makes `agent_id` the conversation's owner, with the state change and the notice
/// the customer sees.
async fn take_over(
    write: &mut WriteTx<'_>,
    conversation_id: &str,
    agent_id: &str,
    now: i64,
    notice: &str,
) -> Result<Vec<StoredEvent>, StorageError> {
    let before = fetch_conversation(write, conversation_id).await?;
    sqlx::query(
        "UPDATE conversations SET state = 'assigned', assigned_agent_id = $2, assigned_at = $3, \
         offered_agent_id = NULL, offer_expires_at = NULL, awaiting_agent_since = $3, \
         updated_at = $3 WHERE id = $1",
    )
    .bind(conversation_id)
    .bind(agent_id)
    .bind(now)
    .execute(&mut *write.tx)
    .await?;
    let name: String = sqlx::query("SELECT name FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_one(&mut *write.tx)
        .await?
        .try_get("name")?;
    let data = json!({
        "from": before.state, "to": "assigned",
        "agent": { "id": agent_id, "name": name },
    });
    let changed = append_event(
        &mut write.tx,
        conversation_id,
        "conversation.state_changed",
        &data,
    )
    .await?;
    let text = notice.replace("{agent}", &name);
    let (_, posted) = insert_system_message(&mut write.tx, conversation_id, &text, now).await?;
    Ok(vec![changed, posted])
}
