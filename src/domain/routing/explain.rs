//! A supervisor-readable record of one routing decision.
//!
//! It gathers what was read, what matched, why earlier rules did not, and every
//! agent's verdict, so its JSON can be stored and read later without the rule set that
//! made it. It must never hold message text or customer names: only routing facts and ids.

use std::collections::BTreeMap;

use serde::Serialize;

use super::context::{FieldValue, RoutingContext};
use super::decide::{AppliedBoost, RoutingDecision, RuleMiss};
use super::matching::{Assignment, CandidateVerdict};
use super::rules::{Action, RuleSet};

/// Why a conversation went where it went.
///
/// It borrows from the decision, the rule set and the agent search, so building one
/// costs little; serialise it (for example to JSON) to keep it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation<'a> {
    /// Every variable the evaluated conditions refer to, with its value. Conditions
    /// stop early (`a || b`), so some listed values may not have been needed.
    pub context: BTreeMap<String, FieldValue>,
    /// The rule that matched, or `default`.
    pub matched_rule: &'a str,
    /// The matched rule's condition, as written.
    pub matched_condition: Option<&'a str>,
    /// Earlier rules and why each did not match.
    pub earlier_rules: &'a [RuleMiss],
    /// Boosts that applied.
    pub boosts: &'a [AppliedBoost],
    /// What was decided.
    pub action: &'a Action,
    /// The agent search, present for a handoff once an agent search ran.
    pub agent_search: Option<AgentSearch<'a>>,
}

/// The agent side of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSearch<'a> {
    /// The queue searched for.
    pub queue: &'a str,
    /// The chosen agent, or `None` when the conversation keeps waiting.
    pub chosen: Option<&'a str>,
    /// True when skills were relaxed because of the wait; see the target's settings.
    pub skills_relaxed: bool,
    /// Every agent's verdict, the chosen one first.
    pub candidates: &'a [CandidateVerdict<'a>],
}

impl<'a> Explanation<'a> {
    /// Builds the explanation for `decision`, made by `rules` for `context`, with the
    /// agent search for `queue` when one ran.
    pub fn new(
        rules: &'a RuleSet,
        context: &RoutingContext,
        decision: &'a RoutingDecision,
        search: Option<(&'a str, &'a Assignment<'a>)>,
    ) -> Explanation<'a> {
        let matched = decision.matched.as_ref().map(|m| &rules.rules()[m.index]);
        Explanation {
            context: values_read(rules, context, decision),
            matched_rule: decision.rule_name(),
            matched_condition: matched.map(|rule| rule.condition.source()),
            earlier_rules: &decision.misses,
            boosts: &decision.boosts,
            action: &decision.action,
            agent_search: search.map(|(queue, assignment)| AgentSearch {
                queue,
                chosen: assignment.chosen,
                skills_relaxed: assignment.skills_relaxed,
                candidates: &assignment.candidates,
            }),
        }
    }
}

/// The values of every variable read by the conditions that were evaluated: the
/// missed rules, the matched one, and (for a handoff) every boost.
fn values_read(
    rules: &RuleSet,
    context: &RoutingContext,
    decision: &RoutingDecision,
) -> BTreeMap<String, FieldValue> {
    let tried = (decision.misses.iter().map(|m| m.index))
        .chain(decision.matched.iter().map(|m| m.index))
        .map(|index| &rules.rules()[index].condition);
    let boosts = (rules.boosts().iter())
        .filter(|_| matches!(decision.action, Action::Handoff(_)))
        .map(|b| &b.condition);

    let mut values = BTreeMap::new();
    for path in tried.chain(boosts).flat_map(|c| c.reads()) {
        for full in expand(path) {
            if let Some(value) = context.lookup(&full) {
                values.insert(full, value);
            }
        }
    }
    values
}

/// A bare group such as `triage` stands for all of its variables.
fn expand(path: &str) -> Vec<String> {
    if path.contains('.') {
        return vec![path.to_owned()];
    }
    let prefix = format!("{path}.");
    (super::context::VARIABLES.iter())
        .filter(|v| v.starts_with(&prefix))
        .map(|v| (*v).to_owned())
        .collect()
}
