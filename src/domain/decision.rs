//! What to do with a customer message once it is stored and triaged.
//!
//! The decision reads only the values it is given. Until the bot can answer from the
//! knowledge base, every message of a conversation that no human owns yet goes to the
//! general queue: a customer is never left without a way forward and never receives an
//! invented reply.

use serde::{Deserialize, Serialize};

use super::conversation::ConversationState;

/// The queue used when nothing more specific applies.
pub const GENERAL_QUEUE: &str = "general";

/// What the decision stage knows about the message and its conversation.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    /// State of the conversation when the message was handled.
    pub state: ConversationState,
}

/// What the act stage must carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// A human already has the conversation: the bot keeps quiet.
    LeaveWithHumans,
    /// Put the conversation in a queue for a human agent.
    Handoff {
        queue: String,
        priority: i32,
        reason: String,
    },
}

/// Decides for one message.
pub fn decide(input: &DecisionInput) -> Decision {
    if input.state.is_with_humans() {
        return Decision::LeaveWithHumans;
    }
    Decision::Handoff {
        queue: GENERAL_QUEUE.to_owned(),
        priority: 0,
        reason: "automated answers are not enabled".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_without_a_human_are_handed_to_the_general_queue() {
        for state in [ConversationState::Bot, ConversationState::Resolved] {
            let decision = decide(&DecisionInput { state });
            assert!(
                matches!(&decision, Decision::Handoff { queue, .. } if queue == GENERAL_QUEUE),
                "{state}: {decision:?}"
            );
        }
    }

    #[test]
    fn conversations_with_humans_stay_with_them() {
        for state in [ConversationState::Queued, ConversationState::Assigned] {
            assert_eq!(decide(&DecisionInput { state }), Decision::LeaveWithHumans);
        }
    }
}
