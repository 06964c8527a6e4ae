//! The conversation life cycle and the kinds of message authors.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Who owns the conversation right now.
///
/// ```text
///   bot ──► queued ──► assigned ──► resolved
///    ▲        │  ▲         │           │
///    └────────┴──┴─────────┘           │
///    ▲                                 │
///    └──── customer writes again ──────┘
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// The bot answers.
    Bot,
    /// Waiting in a queue for a human.
    Queued,
    /// A human agent owns it; the bot stays silent.
    Assigned,
    /// Closed; a new customer message reopens it with the bot.
    Resolved,
}

/// A transition that the life cycle does not allow.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a conversation cannot move from {from} to {to}")]
pub struct InvalidTransition {
    pub from: ConversationState,
    pub to: ConversationState,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Queued => "queued",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "bot" => Some(Self::Bot),
            "queued" => Some(Self::Queued),
            "assigned" => Some(Self::Assigned),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }

    /// Checks a move against the life cycle drawn above.
    pub fn transition(self, to: Self) -> Result<Self, InvalidTransition> {
        use ConversationState::*;
        let allowed = matches!(
            (self, to),
            (Bot, Queued | Assigned | Resolved)
                | (Queued, Bot | Assigned | Resolved | Queued)
                | (Assigned, Bot | Queued | Resolved | Assigned)
                | (Resolved, Bot)
        );
        if allowed {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }

    /// Whether a human owns or is about to own the conversation, so the bot must not reply.
    pub fn is_with_humans(self) -> bool {
        matches!(self, Self::Queued | Self::Assigned)
    }
}

impl std::fmt::Display for ConversationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Customer,
    Bot,
    Agent,
    System,
}

impl AuthorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Bot => "bot",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "customer" => Some(Self::Customer),
            "bot" => Some(Self::Bot),
            "agent" => Some(Self::Agent),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConversationState::{self, *};

    #[test]
    fn the_life_cycle_allows_exactly_the_drawn_moves() {
        let cases = [
            (Bot, Queued, true),
            (Bot, Assigned, true),
            (Queued, Assigned, true),
            (Assigned, Queued, true),
            (Assigned, Bot, true),
            (Assigned, Resolved, true),
            (Resolved, Bot, true),
            (Resolved, Queued, false),
            (Resolved, Assigned, false),
            (Bot, Bot, false),
        ];
        for (from, to, allowed) in cases {
            assert_eq!(from.transition(to).is_ok(), allowed, "{from} -> {to}");
        }
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in [Bot, Queued, Assigned, Resolved] {
            assert_eq!(ConversationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ConversationState::parse("closed"), None);
    }
}
