//! The supervisors' rules document: parsing, validation and the compiled [`RuleSet`].
//!
//! A document is an ordered list of rules (first match wins), optional priority boosts
//! and a default action. Loading compiles every condition once and reports every
//! problem at once, each naming its rule. This module must never accept a document
//! with a problem in it: a half-loaded rule set would route silently wrong.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use cel::Env;
use serde::{Deserialize, Serialize};

use super::expr::{Condition, ConditionError};

/// The rules document as written in TOML, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDocument {
    /// What to do when no rule matches.
    pub default: ActionSpec,
    /// Rules in the order they are tried.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Priority additions applied to every handoff whose context they match.
    #[serde(default)]
    pub boosts: Vec<BoostSpec>,
}

/// One rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name, shown in explanations and simulation reports.
    pub name: String,
    /// What the rule is for, in the supervisor's words.
    #[serde(default)]
    pub description: String,
    /// CEL condition over the routing variables.
    pub when: String,
    /// Which kind of action the rule takes when the condition holds.
    pub action: ActionKind,
    /// Why a person is needed; required for a handoff.
    #[serde(default)]
    pub reason: Option<String>,
    /// Where to hand off, tried in order; required for a handoff.
    #[serde(default)]
    pub targets: Vec<Target>,
}

impl RuleSpec {
    /// The action part of the rule, in the shape shared with `default`.
    fn then(&self) -> ActionSpec {
        ActionSpec {
            action: self.action,
            reason: self.reason.clone(),
            targets: self.targets.clone(),
        }
    }
}

/// An action as written: `action = "bot"` or `action = "handoff"` with a reason and
/// targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// Which kind of action.
    pub action: ActionKind,
    /// Why a person is needed; required for a handoff.
    #[serde(default)]
    pub reason: Option<String>,
    /// Where to hand off, tried in order; required for a handoff.
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// The two kinds of action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// The bot keeps answering.
    Bot,
    /// A person takes over.
    Handoff,
}

/// A priority boost as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoostSpec {
    /// Unique name, shown in explanations.
    pub name: String,
    /// CEL condition over the routing variables.
    pub when: String,
    /// Added to the target's priority when the condition holds.
    pub add: i64,
}

/// One place a conversation may be handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Queue name, e.g. `cards`.
    pub queue: String,
    /// Skills an agent needs to be chosen.
    #[serde(default)]
    pub required_skills: Vec<SkillRequirement>,
    /// How the customer's language weighs in choosing an agent; `preferred_language`
    /// is accepted as another spelling of the key.
    #[serde(default, alias = "preferred_language")]
    pub language: LanguagePolicy,
    /// Higher is served first.
    #[serde(default)]
    pub priority: i64,
    /// After this long on this target the next target applies; `None` means wait here
    /// for good, so only the last target may leave it out.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// After this long on this target skill requirements are relaxed (see
    /// [`SkillRequirement`]); `None` never relaxes.
    #[serde(default)]
    pub relax_skills_after_seconds: Option<u64>,
}

/// A skill an agent must have, and how far it may be relaxed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillRequirement {
    /// Skill name, e.g. `cards`.
    pub name: String,
    /// Lowest acceptable level before relaxation.
    #[serde(default = "one")]
    pub min_level: u8,
    /// Lowest acceptable level after relaxation; defaults to 1, i.e. any level.
    #[serde(default)]
    pub relaxed_min_level: Option<u8>,
    /// An optional skill is required until relaxation and dropped after it.
    #[serde(default)]
    pub optional: bool,
}

fn one() -> u8 {
    1
}

/// How the conversation's language affects agent choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguagePolicy {
    /// Agents speaking the language come first; others are still eligible.
    #[default]
    Prefer,
    /// Only agents speaking the language are eligible.
    Require,
    /// Language plays no part.
    Ignore,
}

/// A validated action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The bot keeps answering.
    Bot,
    /// A person takes over.
    Handoff(Handoff),
}

/// A validated handoff: a reason and at least one target.
///
/// Only validation builds one, which is what keeps its invariants: the reason is not
/// blank, there is at least one target, and every target but the last has a timeout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handoff {
    reason: String,
    targets: Vec<Target>,
}

/// The target in force after some time, as found by [`Handoff::target_at`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveTarget<'a> {
    /// Position in [`Handoff::targets`].
    pub index: usize,
    /// The target itself.
    pub target: &'a Target,
    /// Seconds spent on this target so far; what relaxation is measured against.
    pub seconds_on_target: u64,
}

impl Handoff {
    /// Why a person is needed.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Targets in the order they apply.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Rebuilds a handoff from a stored reason and targets, checking the same invariants
    /// as validation; `None` when they do not hold.
    pub fn restore(reason: String, targets: Vec<Target>) -> Option<Handoff> {
        let valid = !reason.trim().is_empty() && target_problems(&targets).is_empty();
        valid.then_some(Handoff { reason, targets })
    }

    /// The first target, where a new handoff starts.
    pub fn first_target(&self) -> &Target {
        self.targets
            .first()
            .expect("a validated handoff has at least one target")
    }

    /// The target in force once the conversation has waited `waited_seconds` in all.
    ///
    /// Each target lasts its `timeout_seconds`; the last one lasts for good, whatever
    /// timeout it names.
    pub fn target_at(&self, waited_seconds: u64) -> ActiveTarget<'_> {
        let mut started = 0;
        for (index, target) in self.targets.iter().enumerate() {
            let ends = target.timeout_seconds.map(|t| started + t);
            let is_last = index + 1 == self.targets.len();
            if is_last || ends.is_none_or(|end| waited_seconds < end) {
                return ActiveTarget {
                    index,
                    target,
                    seconds_on_target: waited_seconds.saturating_sub(started),
                };
            }
            started = ends.unwrap_or(started);
        }
        unreachable!("a validated handoff has at least one target")
    }
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// The supervisor's description.
    pub description: String,
    /// The compiled condition.
    pub condition: Condition,
    /// What happens on a match.
    pub action: Action,
}

/// A compiled priority boost.
#[derive(Debug)]
pub struct Boost {
    /// Unique name.
    pub name: String,
    /// The compiled condition.
    pub condition: Condition,
    /// Added to the priority of a handoff when the condition holds.
    pub add: i64,
}

/// A validated, compiled rules document, ready to decide.
///
/// Building one is slow (every condition is parsed and test-run); deciding with one is
/// fast. Share it behind an `Arc` and rebuild it when supervisors publish a change.
pub struct RuleSet {
    pub(crate) env: Arc<Env>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) boosts: Vec<Boost>,
    pub(crate) default: Action,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The CEL environment has no Debug of its own and says nothing useful anyway.
        f.debug_struct("RuleSet")
            .field("rules", &self.rules)
            .field("boosts", &self.boosts)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

/// Why a rules document could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadRulesError {
    /// The text is not TOML of the expected shape.
    #[error("rules document is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    /// The document parsed but has problems; all of them are listed.
    #[error("{0}")]
    Invalid(ValidationErrors),
}

/// Every problem found in a document.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<RuleError>);

impl std::error::Error for ValidationErrors {}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the rules", self.0.len())?;
        for error in &self.0 {
            write!(f, "; {error}")?;
        }
        Ok(())
    }
}

/// One problem, tied to the rule (or boost, or `default`) that has it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rule `{rule}`: {problem}")]
pub struct RuleError {
    /// Name of the rule or boost, or `default`.
    pub rule: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What can be wrong with one rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The condition is refused.
    #[error("{0}")]
    Condition(ConditionError),
    /// Another rule or boost already has this name.
    #[error("the name is used more than once")]
    DuplicateName,
    /// A handoff needs a reason.
    #[error("a handoff needs a reason")]
    MissingReason,
    /// A handoff needs at least one target.
    #[error("a handoff needs at least one target")]
    NoTargets,
    /// A bot action cannot have targets.
    #[error("a bot action takes no reason or targets")]
    BotWithTargets,
    /// A target before the last has no timeout, so later targets would never apply.
    #[error("target {index} has no timeout_seconds, so the targets after it never apply")]
    UnreachableTargets {
        /// Position of the target without a timeout, counting from 0.
        index: usize,
    },
    /// A target names no queue.
    #[error("target {index} has an empty queue name")]
    EmptyQueue {
        /// Position of the target, counting from 0.
        index: usize,
    },
}

impl RuleSet {
    /// Parses and validates a TOML rules document.
    pub fn from_toml(text: &str) -> Result<RuleSet, LoadRulesError> {
        let document: RulesDocument = toml::from_str(text)?;
        RuleSet::from_document(document).map_err(LoadRulesError::Invalid)
    }

    /// Validates and compiles a parsed document, reporting every problem.
    pub fn from_document(document: RulesDocument) -> Result<RuleSet, ValidationErrors> {
        let env = Arc::new(Env::stdlib());
        let mut errors = duplicate_names(&document);
        let default = collect(&mut errors, "default", action_from(&document.default));
        let rules: Vec<Rule> = (document.rules.iter())
            .filter_map(|spec| compile_rule(&env, spec, &mut errors))
            .collect();
        let boosts: Vec<Boost> = (document.boosts.iter())
            .filter_map(|spec| compile_boost(&env, spec, &mut errors))
            .collect();

        match (errors.is_empty(), default) {
            (true, Some(default)) => Ok(RuleSet {
                env,
                rules,
                boosts,
                default,
            }),
            _ => Err(ValidationErrors(errors)),
        }
    }

    /// The compiled rules in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The compiled boosts.
    pub fn boosts(&self) -> &[Boost] {
        &self.boosts
    }

    /// The action taken when no rule matches.
    pub fn default_action(&self) -> &Action {
        &self.default
    }
}

fn compile_rule(env: &Arc<Env>, spec: &RuleSpec, errors: &mut Vec<RuleError>) -> Option<Rule> {
    let condition = collect(errors, &spec.name, compile_condition(env, &spec.when));
    let action = collect(errors, &spec.name, action_from(&spec.then()));
    Some(Rule {
        name: spec.name.clone(),
        description: spec.description.clone(),
        condition: condition?,
        action: action?,
    })
}

fn compile_boost(env: &Arc<Env>, spec: &BoostSpec, errors: &mut Vec<RuleError>) -> Option<Boost> {
    let condition = collect(errors, &spec.name, compile_condition(env, &spec.when))?;
    Some(Boost {
        name: spec.name.clone(),
        condition,
        add: spec.add,
    })
}

/// Keeps the value, or records its problems against `rule` and gives `None`.
fn collect<T>(
    errors: &mut Vec<RuleError>,
    rule: &str,
    result: Result<T, Vec<Problem>>,
) -> Option<T> {
    result
        .map_err(|problems| {
            errors.extend(problems.into_iter().map(|problem| RuleError {
                rule: rule.to_owned(),
                problem,
            }));
        })
        .ok()
}

fn compile_condition(env: &Arc<Env>, source: &str) -> Result<Condition, Vec<Problem>> {
    Condition::compile(env, source)
        .map_err(|errors| errors.into_iter().map(Problem::Condition).collect())
}

fn action_from(spec: &ActionSpec) -> Result<Action, Vec<Problem>> {
    if spec.action == ActionKind::Bot {
        let bare = spec.reason.is_none() && spec.targets.is_empty();
        return if bare {
            Ok(Action::Bot)
        } else {
            Err(vec![Problem::BotWithTargets])
        };
    }

    let mut problems = target_problems(&spec.targets);
    let reason = spec.reason.clone().filter(|r| !r.trim().is_empty());
    if reason.is_none() {
        problems.push(Problem::MissingReason);
    }
    match reason {
        Some(reason) if problems.is_empty() => Ok(Action::Handoff(Handoff {
            reason,
            targets: spec.targets.clone(),
        })),
        _ => Err(problems),
    }
}

fn target_problems(targets: &[Target]) -> Vec<Problem> {
    if targets.is_empty() {
        return vec![Problem::NoTargets];
    }
    let last = targets.len() - 1;
    let mut problems = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        if target.queue.trim().is_empty() {
            problems.push(Problem::EmptyQueue { index });
        }
        if index < last && target.timeout_seconds.is_none() {
            problems.push(Problem::UnreachableTargets { index });
        }
    }
    problems
}

fn duplicate_names(document: &RulesDocument) -> Vec<RuleError> {
    let names =
        (document.rules.iter().map(|r| &r.name)).chain(document.boosts.iter().map(|b| &b.name));
    let mut seen = HashSet::new();
    names
        .filter(|name| !seen.insert(name.as_str()))
        .map(|name| RuleError {
            rule: name.clone(),
            problem: Problem::DuplicateName,
        })
        .collect()
}
