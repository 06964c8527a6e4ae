//! The assignment service: offers waiting conversations to agents, and runs the timers
//! around that (offer expiry, target timeouts, skill relaxation, return timers, presence
//! grace).
//!
//! It is event-driven: anything that may free an agent or queue a conversation calls
//! [`AssignHandle::wake`], and the service runs one round at once. Between events it
//! sleeps until the earliest timer is due, so nothing waits on a polling interval. Each
//! round reads a fresh snapshot, lets [`crate::domain::routing::plan`] decide, and
//! carries the plan out through storage, which re-checks every limit in its own
//! transaction. Rounds never overlap within a process; across processes the database
//! checks keep them safe.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{Notify, watch};

use super::{notify_agent, publish};
use crate::clients::event_bus::EventBus;
use crate::config::AssignmentSettings;
use crate::domain::decision::general_target;
use crate::domain::routing::{
    AgentSnapshot, Aging, PlanSettings, Presence as RoutingPresence, Target, WaitingCase, plan,
};
use crate::metrics::Metrics;
use crate::storage::{AgentLoad, NewOffer, Presence, StorageError, Store, WaitingRow, now_ms};

/// What the customer reads when their agent did not answer in time.
pub const RETURN_NOTICE: &str =
    "Sorry for the wait. We are finding another member of our team to help you.";

/// Longest sleep between rounds when no timer is due; a safety net, not the mechanism.
const IDLE_ROUND: Duration = Duration::from_secs(30);
/// Shortest sleep, so a timer that is due but cannot be served does not spin.
const MIN_SLEEP: Duration = Duration::from_millis(20);

/// Asks the assignment service to look again; cheap to clone.
#[derive(Clone, Default)]
pub struct AssignHandle(Arc<Notify>);

impl AssignHandle {
    /// Something changed: run a round soon. Many wakes before a round make one round.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The service's dependencies.
pub struct Assigner {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<Metrics>,
    pub settings: AssignmentSettings,
    pub handle: AssignHandle,
}

impl Assigner {
    /// Runs rounds until `stopped` turns true.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            let started = Instant::now();
            let next = match self.round().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(error = ?error, "assignment round failed");
                    Some(now_ms() + 1_000)
                }
            };
            self.metrics.observe_stage("assign", started.elapsed());
            let sleep = next.map_or(IDLE_ROUND, |at| {
                let millis = u64::try_from(at - now_ms()).unwrap_or(0);
                Duration::from_millis(millis).clamp(MIN_SLEEP, IDLE_ROUND)
            });
            tokio::select! {
                () = self.handle.0.notified() => {}
                () = tokio::time::sleep(sleep) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One pass: timers, then moves and offers. Returns when the next timer is due.
    async fn round(&self) -> Result<Option<i64>, StorageError> {
        let now = now_ms();
        self.expire_offers(now).await?;
        let grace_ms = secs_to_ms(self.settings.presence_grace_secs);
        self.mark_silent_agents(now - grace_ms).await?;
        let return_ms = (self.settings.return_after_secs > 0)
            .then(|| secs_to_ms(self.settings.return_after_secs));
        if let Some(after) = return_ms {
            self.return_unanswered(now - after).await?;
        }
        let wake_at = self.offer(now).await?;

        let deadlines = self.store.deadlines(return_ms, grace_ms).await?;
        Ok([
            wake_at,
            deadlines.offer_expiry,
            deadlines.return_due,
            deadlines.presence_due,
        ]
        .into_iter()
        .flatten()
        .min())
    }

    async fn expire_offers(&self, now: i64) -> Result<(), StorageError> {
        for offer in self.store.expire_offers(now).await? {
            self.metrics.offer("expired");
            let data = json!({ "offer": offer });
            notify_agent(
                self.bus.as_ref(),
                &offer.agent_id,
                &offer.conversation_id,
                "offer.expired",
                data,
            );
        }
        Ok(())
    }

    async fn mark_silent_agents(&self, cutoff: i64) -> Result<(), StorageError> {
        for (agent_id, withdrawn) in self.store.mark_silent_agents_away(cutoff).await? {
            tracing::info!(agent.id = %agent_id, "agent went quiet; presence is now away");
            for offer in withdrawn {
                self.metrics.offer("withdrawn");
                let data = json!({ "offer": offer, "reason": "presence" });
                notify_agent(
                    self.bus.as_ref(),
                    &agent_id,
                    &offer.conversation_id,
                    "offer.withdrawn",
                    data,
                );
            }
        }
        Ok(())
    }

    async fn return_unanswered(&self, cutoff: i64) -> Result<(), StorageError> {
        for (change, agent_id) in self.store.return_unanswered(cutoff, RETURN_NOTICE).await? {
            tracing::info!(conversation.id = %change.conversation.id, "returned to queue");
            publish(self.bus.as_ref(), &change.events);
            let data = json!({ "reason": "return timer" });
            notify_agent(
                self.bus.as_ref(),
                &agent_id,
                &change.conversation.id,
                "conversation.released",
                data,
            );
        }
        Ok(())
    }

    /// Plans and makes offers; returns when a target timeout or relaxation is next due.
    async fn offer(&self, now: i64) -> Result<Option<i64>, StorageError> {
        let waiting = self.store.waiting_conversations().await?;
        if waiting.is_empty() {
            return Ok(None);
        }
        let cooldown = secs_to_ms(self.settings.decline_cooldown_secs);
        let mut declines: HashMap<String, Vec<String>> = HashMap::new();
        for (conversation, agent) in self.store.recent_declines(now - cooldown).await? {
            declines.entry(conversation).or_default().push(agent);
        }
        let cases: Vec<WaitingCase> = waiting
            .into_iter()
            .map(|row| {
                let declined = declines.remove(&row.conversation_id).unwrap_or_default();
                waiting_case(row, declined)
            })
            .collect();
        let agents: Vec<AgentSnapshot> = (self.store.agent_loads().await?)
            .into_iter()
            .map(|load| snapshot(load, now))
            .collect();
        let settings = PlanSettings {
            aging: Aging {
                seconds_per_point: NonZeroU64::new(self.settings.aging_secs_per_point),
            },
        };
        let plan = plan(&cases, &agents, ms_to_secs(now), settings);

        for moved in &plan.moves {
            let event = self
                .store
                .move_to_target(
                    &moved.conversation_id,
                    to_i64(moved.from_index),
                    to_i64(moved.to_index),
                    &moved.queue,
                    secs_to_ms(moved.target_since),
                )
                .await?;
            if let Some(event) = event {
                publish(self.bus.as_ref(), &[event]);
            }
        }
        let expires_at = now + secs_to_ms(self.settings.offer_timeout_secs);
        for planned in &plan.offers {
            let explanation = json!({
                "queue": planned.queue,
                "chosen": planned.agent_id,
                "skills_relaxed": planned.skills_relaxed,
                "candidates": planned.candidates,
            });
            let new = NewOffer {
                conversation_id: &planned.conversation_id,
                agent_id: &planned.agent_id,
                queue: &planned.queue,
                explanation: &explanation,
                expires_at,
            };
            if let Some(offer) = self.store.create_offer(&new).await? {
                self.metrics.offer("made");
                tracing::info!(
                    conversation.id = %offer.conversation_id,
                    agent.id = %offer.agent_id,
                    "offered conversation"
                );
                let data = json!({ "offer": offer });
                notify_agent(
                    self.bus.as_ref(),
                    &offer.agent_id,
                    &offer.conversation_id,
                    "offer.created",
                    data,
                );
            }
        }
        Ok(plan.wake_at.map(secs_to_ms))
    }
}

fn waiting_case(row: WaitingRow, declined_by: Vec<String>) -> WaitingCase {
    let targets: Vec<Target> = serde_json::from_value(row.targets)
        .ok()
        .filter(|t: &Vec<Target>| !t.is_empty())
        .unwrap_or_else(|| vec![general_target(row.priority)]);
    WaitingCase {
        conversation_id: row.conversation_id,
        priority: row.priority,
        language: row.language.unwrap_or_default(),
        target_index: usize::try_from(row.target_index).unwrap_or(0),
        targets,
        queued_at: ms_to_secs(row.queued_at),
        target_since: ms_to_secs(row.target_since),
        offered: row.offered,
        declined_by,
    }
}

fn snapshot(load: AgentLoad, now: i64) -> AgentSnapshot {
    let agent = load.agent;
    let idle_from = load.last_assigned_at.unwrap_or(agent.created_at);
    AgentSnapshot {
        id: agent.id,
        name: agent.name,
        skills: agent.skills,
        languages: agent.languages,
        teams: agent.teams,
        capacity: u32::try_from(agent.capacity).unwrap_or(0),
        active_conversations: u32::try_from(load.active).unwrap_or(u32::MAX),
        presence: match agent.presence {
            Presence::Online => RoutingPresence::Online,
            Presence::Away => RoutingPresence::Away,
            Presence::Offline => RoutingPresence::Offline,
        },
        idle_seconds: ms_to_secs(now - idle_from),
    }
}

fn secs_to_ms<T: TryInto<i64>>(secs: T) -> i64 {
    secs.try_into()
        .unwrap_or(i64::MAX / 1_000)
        .saturating_mul(1_000)
}

fn ms_to_secs(ms: i64) -> u64 {
    u64::try_from(ms / 1_000).unwrap_or(0)
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
