//! Routing: deciding whether the bot keeps a conversation or which person gets it.
//!
//! Supervisors write rules as TOML with CEL conditions ([`rules`]); a [`RuleSet`] is
//! compiled once and then [`RuleSet::decide`]s each conversation from a
//! [`RoutingContext`] ([`decide`]). For a handoff, [`choose_agent`] picks from a
//! snapshot of agents ([`matching`]) and the conversation waits in a [`WaitQueue`]
//! until then ([`queue`]). [`Explanation`] records the why for supervisors, and
//! [`simulate()`] replays past cases through a draft before it goes live.
//!
//! This module is pure: no I/O, no clocks, no async, no logging, and no dependency on
//! the rest of the crate. Callers pass in every fact and every time, which is what
//! makes it cheap to test and safe to run in a simulation.

pub mod context;
pub mod decide;
pub mod diff;
pub mod dispatch;
pub mod explain;
pub mod expr;
pub mod matching;
pub mod queue;
pub mod rules;
pub mod simulate;

pub use context::{
    ConversationFacts, CustomerFacts, FieldValue, RoutingContext, TriageFacts, Urgency,
};
pub use decide::{MissOutcome, RoutingDecision};
pub use diff::{DiffLine, line_diff};
pub use dispatch::{Plan, PlanSettings, PlannedOffer, TargetMove, WaitingCase, plan};
pub use explain::Explanation;
pub use matching::{AgentSnapshot, Assignment, Presence, RejectReason, Verdict, choose_agent};
pub use queue::{Aging, QueueError, WaitQueue, WaitingConversation};
pub use rules::{
    Action, ActiveTarget, Handoff, LanguagePolicy, LoadRulesError, RuleSet, SkillRequirement,
    Target,
};
pub use simulate::{
    PastCase, SimulationReport, Staffing, capacity_by_skills, capacity_by_team, simulate,
};

/// The bank desk's default rules, shipped with the service.
pub const DEFAULT_RULES: &str = include_str!("../../../config/routing.toml");

#[cfg(test)]
mod tests;
