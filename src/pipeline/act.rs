//! The act stage: carries out a decision against storage and tells live listeners.

use super::{PipelineError, Stages, publish};
use crate::domain::decision::Decision;
use crate::storage::{MessageRecord, QueueRequest};

/// The notice a customer sees when a human will take over.
const HANDOFF_NOTICE: &str =
    "Thanks for your message. A member of our support team will join this conversation shortly.";

pub(super) async fn carry_out(
    stages: &Stages,
    message: &MessageRecord,
    decision: &Decision,
    language: Option<&str>,
) -> Result<(), PipelineError> {
    match decision {
        // The answer stage handles `Answer`; there is nothing to carry out here.
        Decision::LeaveWithHumans | Decision::Answer => Ok(()),
        Decision::Handoff {
            queue,
            priority,
            reason,
            targets,
        } => {
            let targets = serde_json::to_value(targets).expect("targets serialise");
            let request = QueueRequest {
                queue,
                priority: *priority,
                reason,
                targets: &targets,
                language,
                notice: HANDOFF_NOTICE,
            };
            let events = stages
                .store
                .enqueue_conversation(&message.conversation_id, &request)
                .await?;
            if let Some(events) = events {
                tracing::info!(queue = %queue, "conversation queued for a human");
                publish(stages.bus.as_ref(), &events);
                stages.assign.wake();
            }
            Ok(())
        }
    }
}
