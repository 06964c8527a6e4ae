//! Deciding one conversation: try the rules in order, stop at the first match.
//!
//! The decision records why every earlier rule did not match, so an explanation can be
//! built without evaluating anything twice. It must never pick an agent or touch a
//! queue; that is [`super::matching`] and [`super::queue`].

use serde::Serialize;

use super::context::RoutingContext;
use super::expr::{EvalError, Scope};
use super::rules::{Action, RuleSet};

/// The outcome of [`RuleSet::decide`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingDecision {
    /// What to do.
    pub action: Action,
    /// The rule that matched, or `None` when the default applied.
    pub matched: Option<MatchedRule>,
    /// Every rule tried before the match (all rules when the default applied), in order.
    pub misses: Vec<RuleMiss>,
    /// Boosts whose condition held; only evaluated for a handoff.
    pub boosts: Vec<AppliedBoost>,
}

/// The rule that decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedRule {
    /// Position in the rule set, counting from 0.
    pub index: usize,
    /// The rule's name.
    pub name: String,
}

/// A rule that was tried and did not match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMiss {
    /// Position in the rule set, counting from 0.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// Why it did not match.
    pub outcome: MissOutcome,
}

/// Why a rule did not match; in JSON `"false"` or `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissOutcome {
    /// The condition evaluated to false.
    False,
    /// The condition could not be evaluated for this context; treated as no match.
    Error(#[serde(serialize_with = "as_text")] EvalError),
}

fn as_text<S: serde::Serializer>(error: &EvalError, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(error)
}

/// A boost that applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedBoost {
    /// The boost's name.
    pub name: String,
    /// What it added.
    pub add: i64,
}

impl RoutingDecision {
    /// The sum of the applied boosts, to add to the active target's priority.
    pub fn priority_boost(&self) -> i64 {
        self.boosts.iter().map(|b| b.add).sum()
    }

    /// The name of the matched rule, or `default`.
    pub fn rule_name(&self) -> &str {
        self.matched.as_ref().map_or("default", |m| m.name.as_str())
    }
}

impl RuleSet {
    /// Decides what to do with one conversation; first matching rule wins.
    pub fn decide(&self, context: &RoutingContext) -> RoutingDecision {
        let scope = Scope::new(&self.env, context);
        let mut misses = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let outcome = match rule.condition.evaluate(&scope) {
                Ok(true) => {
                    let matched = MatchedRule {
                        index,
                        name: rule.name.clone(),
                    };
                    return self.finish(&scope, rule.action.clone(), Some(matched), misses);
                }
                Ok(false) => MissOutcome::False,
                Err(error) => MissOutcome::Error(error),
            };
            misses.push(RuleMiss {
                index,
                name: rule.name.clone(),
                outcome,
            });
        }
        self.finish(&scope, self.default.clone(), None, misses)
    }

    fn finish(
        &self,
        scope: &Scope,
        action: Action,
        matched: Option<MatchedRule>,
        misses: Vec<RuleMiss>,
    ) -> RoutingDecision {
        let boosts = match action {
            Action::Handoff(_) => self.applied_boosts(scope),
            Action::Bot => Vec::new(),
        };
        RoutingDecision {
            action,
            matched,
            misses,
            boosts,
        }
    }

    fn applied_boosts(&self, scope: &Scope) -> Vec<AppliedBoost> {
        // A boost that cannot be evaluated simply does not apply; boosts never block.
        (self.boosts.iter())
            .filter(|b| b.condition.evaluate(scope) == Ok(true))
            .map(|b| AppliedBoost {
                name: b.name.clone(),
                add: b.add,
            })
            .collect()
    }
}
