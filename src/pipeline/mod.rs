//! The one path every customer message takes: accept and persist (done by the HTTP
//! handler before it answers), then triage, decide and act here, off the request path.
//!
//! Messages of one conversation always go to the same worker, so they are handled in the
//! order they were accepted. A message stays `pending` in the database until the
//! pipeline is done with it; pending messages are picked up again at start-up, so a crash
//! or a full queue delays work but never loses it.

mod act;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::clients::event_bus::{BusEvent, EventBus};
use crate::domain::decision::{DecisionInput, decide};
use crate::metrics::Metrics;
use crate::storage::{StorageError, Store, StoredEvent};

/// A failure while handling one message; the message is marked failed and kept.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("storage failed")]
    Storage(#[from] StorageError),
}

/// What every stage may use.
pub struct Stages {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<Metrics>,
}

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
    /// Starts `workers` workers, each with a queue of `capacity` messages.
    pub fn start(stages: Stages, workers: usize, capacity: usize) -> Self {
        let stages = Arc::new(stages);
        let (stop, stopped) = watch::channel(false);
        let mut set = JoinSet::new();
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

    let started = Instant::now();
    let decision = decide(&DecisionInput { state });
    stages.metrics.observe_stage("decide", started.elapsed());

    let started = Instant::now();
    act::carry_out(stages, &message, &decision).await?;
    stages.store.finish_message(message_id, false).await?;
    stages.metrics.observe_stage("act", started.elapsed());
    Ok(())
}

/// Tells live listeners about stored events, after they are committed.
pub fn publish(bus: &dyn EventBus, events: &[StoredEvent]) {
    for event in events {
        bus.publish(BusEvent {
            conversation_id: event.conversation_id.clone(),
            seq: Some(event.seq),
            kind: event.kind.clone(),
            data: event.data.clone(),
        });
    }
}
