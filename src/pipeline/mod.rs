//! The one path every customer message takes: accept and persist (done by the HTTP
//! handler before it answers), then triage, decide and act here, off the request path.
//!
//! Messages of one conversation always go to the same worker, so they are handled in the
//! order they were accepted. A message stays `pending` in the database until the
//! pipeline is done with it; pending messages are picked up again at start-up, so a crash
//! or a full queue delays work but never loses it.

mod act;
pub mod answer;
pub mod assign;
pub mod intents;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::clients::event_bus::{BusEvent, EventBus, StaffNotice};
use crate::config::AssignmentSettings;
use crate::domain::conversation::AuthorKind;
use crate::domain::decision::{Decision, DecisionInput, ProfileFacts, decide, routing_context};
use crate::domain::routing::{Action, Explanation, RuleSet};
use crate::domain::triage::{Triage, TriageContext, Triager};
use crate::metrics::Metrics;
use crate::storage::{MessageRecord, NewDecision, StorageError, Store, StoredEvent, now_ms};
use assign::{AssignHandle, Assigner};

/// A failure while handling one message; the message is marked failed and kept.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("storage failed")]
    Storage(#[from] StorageError),
    #[error("triage panicked")]
    Triage(#[source] tokio::task::JoinError),
}

/// What every stage may use.
pub struct Stages {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<Metrics>,
    pub triager: Current<Triager>,
    pub rules: Current<RuleSet>,
    /// Wakes the assignment service when a conversation is queued.
    pub assign: AssignHandle,
    /// Retrieval, prompts and the LLM, for the bot's replies.
    pub answers: Arc<answer::Answerer>,
}

/// A model or rule set in force, replaced whole when a new one is ready, so that readers
/// never wait for training or validation and never see half an update.
pub struct Current<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Current<T> {
    pub fn new(value: Arc<T>) -> Self {
        Self(Arc::new(RwLock::new(value)))
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        self.0
            .read()
            .expect("no writer panics while holding the lock")
            .clone()
    }

    /// Puts a new value in force for every later reader.
    pub fn replace(&self, value: Arc<T>) {
        *self
            .0
            .write()
            .expect("no writer panics while holding the lock") = value;
    }
}

/// Earlier messages of a conversation that triage and routing look back on.
const HISTORY: i64 = 50;

/// Sends accepted messages to the workers; cheap to clone.
#[derive(Clone)]
pub struct PipelineHandle {
    senders: Arc<Vec<mpsc::Sender<String>>>,
}

/// The running workers.
pub struct Pipeline {
    handle: PipelineHandle,
    workers: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Pipeline {
    /// Starts `workers` workers, each with a queue of `capacity` messages, and the
    /// assignment service.
    pub fn start(
        stages: Stages,
        workers: usize,
        capacity: usize,
        assignment: AssignmentSettings,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut set = JoinSet::new();
        let assigner = Assigner {
            store: stages.store.clone(),
            bus: stages.bus.clone(),
            metrics: stages.metrics.clone(),
            settings: assignment,
            handle: stages.assign.clone(),
        };
        set.spawn(assigner.run(stopped.clone()));
        let stages = Arc::new(stages);
        let mut senders = Vec::with_capacity(workers.max(1));
        for _ in 0..workers.max(1) {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            senders.push(tx);
            set.spawn(run_worker(stages.clone(), rx, stopped.clone()));
        }
        let handle = PipelineHandle {
            senders: Arc::new(senders),
        };
        set.spawn(resume_pending(stages, handle.clone()));
        Self {
            handle,
            workers: set,
            stop,
        }
    }

    pub fn handle(&self) -> PipelineHandle {
        self.handle.clone()
    }

    /// Lets workers finish what they hold, then returns. Messages still queued stay
    /// pending in the database for the next start.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.workers.join_next().await.is_some() {}
    }
}

impl PipelineHandle {
    /// Queues a stored message; waits while the worker's queue is full.
    pub async fn submit(&self, conversation_id: &str, message_id: String) {
        let mut hasher = DefaultHasher::new();
        conversation_id.hash(&mut hasher);
        let index = (hasher.finish() % self.senders.len() as u64) as usize;
        if self.senders[index].send(message_id).await.is_err() {
            // The pipeline is shutting down; the message is stored as pending and the
            // next start picks it up.
            tracing::debug!("pipeline closed; message left pending");
        }
    }
}

async fn run_worker(
    stages: Arc<Stages>,
    mut rx: mpsc::Receiver<String>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(id) => handle_logged(&stages, &id).await,
                None => return,
            },
            _ = async { stopped.wait_for(|stop| *stop).await.is_ok() } => break,
        }
    }
    // Refuse new work, then finish what is already queued.
    rx.close();
    while let Some(id) = rx.recv().await {
        handle_logged(&stages, &id).await;
    }
}

/// Re-queues messages left pending by an earlier run.
async fn resume_pending(stages: Arc<Stages>, handle: PipelineHandle) {
    match stages.store.pending_messages(10_000).await {
        Ok(pending) => {
            if !pending.is_empty() {
                tracing::info!(messages = pending.len(), "resuming pending messages");
            }
            for message in pending {
                handle
                    .submit(&message.conversation_id, message.message_id)
                    .await;
            }
        }
        Err(error) => tracing::error!(error = %error, "could not load pending messages"),
    }
}

async fn handle_logged(stages: &Stages, message_id: &str) {
    if let Err(error) = handle(stages, message_id).await {
        tracing::error!(message.id = message_id, error = ?error, "pipeline failed");
        if let Err(error) = stages.store.finish_message(message_id, true).await {
            tracing::error!(message.id = message_id, error = ?error, "could not mark failure");
        }
    }
}

#[tracing::instrument(skip_all, fields(message.id = message_id))]
async fn handle(stages: &Stages, message_id: &str) -> Result<(), PipelineError> {
    let Some((message, pending, state)) = stages.store.message_for_pipeline(message_id).await?
    else {
        return Ok(());
    };
    if !pending {
        return Ok(());
    }
    let conversation_id = message.conversation_id.as_str();
    let history = stages
        .store
        .messages(conversation_id, (message.seq - HISTORY).max(0), HISTORY)
        .await?;
    let (earlier_texts, earlier) = earlier_customer_messages(&history, message.seq);
    let facts = stages.store.conversation_facts(conversation_id).await?;

    let started = Instant::now();
    let context = TriageContext {
        previous_messages: earlier_texts,
        previous_triage: earlier.clone(),
        customer_tier: facts.tier.clone(),
    };
    // Triage is CPU work, milliseconds when the intent model consults the sentence
    // encoder: it runs on the blocking pool so the runtime's workers stay free.
    let triager = stages.triager.get();
    let text = message.text.clone();
    let triage = tokio::task::spawn_blocking(move || triager.triage(&text, &context))
        .await
        .map_err(PipelineError::Triage)?;
    stages.metrics.observe_stage("triage", started.elapsed());
    let value = serde_json::to_value(&triage).expect("a triage record serialises");
    let event = stages
        .store
        .save_triage(conversation_id, &message.id, &triage.model_version, &value)
        .await?;
    publish(stages.bus.as_ref(), &[event]);

    let started = Instant::now();
    let profile = ProfileFacts {
        tier: facts.tier,
        attributes: facts.attributes,
        past_conversations: u32::try_from(facts.past_conversations).unwrap_or(u32::MAX),
        failed_bot_answers: u32::try_from(facts.failed_bot_answers).unwrap_or(u32::MAX),
        turns: u32::try_from(facts.customer_turns).unwrap_or(u32::MAX),
        waiting_seconds: u64::try_from((now_ms() - facts.created_at) / 1000).unwrap_or(0),
    };
    let routing_facts = routing_context(&triage, &earlier, &profile);
    let rules = stages.rules.get();
    let routing = rules.decide(&routing_facts);
    let decision = decide(&DecisionInput {
        state,
        routing: &routing,
    });
    stages.metrics.observe_stage("decide", started.elapsed());

    let recorded = match &decision {
        Decision::Handoff {
            queue, priority, ..
        } => Some((Some(queue.clone()), *priority)),
        Decision::Answer => Some((None, routing.priority_boost())),
        Decision::LeaveWithHumans => None,
    };
    if let Some((queue, priority)) = recorded {
        let explanation = Explanation::new(&rules, &routing_facts, &routing, None);
        let record = NewDecision {
            conversation_id: conversation_id.to_owned(),
            message_id: message.id.clone(),
            rule_name: routing.matched.as_ref().map(|m| m.name.clone()),
            action: match routing.action {
                Action::Bot => "bot",
                Action::Handoff(_) => "handoff",
            },
            queue,
            priority,
            explanation: serde_json::to_value(&explanation).expect("an explanation serialises"),
            context: serde_json::to_value(&routing_facts).expect("routing facts serialise"),
        };
        stages.store.record_decision(&record).await?;
    }

    let started = Instant::now();
    let asker = answer::Asker {
        message: &message,
        triage: &triage,
        customer_id: &facts.customer_id,
    };
    if decision == Decision::Answer {
        answer::respond(stages, &asker).await?;
        stages.metrics.observe_stage("answer", started.elapsed());
    } else {
        let language = Some(triage.language.code.as_str()).filter(|code| *code != "und");
        act::carry_out(stages, &message, &decision, language).await?;
        stages.metrics.observe_stage("act", started.elapsed());
    }
    answer::remember(&stages.answers.knowledge, &asker).await;
    stages.store.finish_message(message_id, false).await?;
    Ok(())
}

/// Texts and stored triage of the customer messages before `seq`, oldest first.
fn earlier_customer_messages(history: &[MessageRecord], seq: i64) -> (Vec<String>, Vec<Triage>) {
    let earlier = history
        .iter()
        .filter(|m| m.author_kind == AuthorKind::Customer && m.seq < seq);
    let texts = earlier.clone().map(|m| m.text.clone()).collect();
    let triage = earlier
        .filter_map(|m| m.triage.clone())
        .filter_map(|t| serde_json::from_value(t).ok())
        .collect();
    (texts, triage)
}

/// Tells live listeners (the customer's and staff consoles) about stored events,
/// after they are committed.
pub fn publish(bus: &dyn EventBus, events: &[StoredEvent]) {
    for event in events {
        let event = BusEvent {
            conversation_id: event.conversation_id.clone(),
            seq: Some(event.seq),
            kind: event.kind.clone(),
            data: event.data.clone(),
        };
        bus.publish_staff(StaffNotice {
            agent_id: None,
            event: event.clone(),
        });
        bus.publish(event);
    }
}

/// Tells one agent's console something that concerns only them, such as an offer.
pub fn notify_agent(
    bus: &dyn EventBus,
    agent_id: &str,
    conversation_id: &str,
    kind: &str,
    data: serde_json::Value,
) {
    bus.publish_staff(StaffNotice {
        agent_id: Some(agent_id.to_owned()),
        event: BusEvent {
            conversation_id: conversation_id.to_owned(),
            seq: None,
            kind: kind.to_owned(),
            data,
        },
    });
}
