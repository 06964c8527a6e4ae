//! Choosing the agent for a handoff target from a snapshot of the agents.
//!
//! Every candidate gets a verdict, kept or rejected with a reason, so supervisors can
//! see why someone was not picked. This module must never pick an agent who is not
//! online or who is at capacity: those are hard limits, unlike skills (which relax
//! with time) and language (a preference unless the target requires it).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rules::{LanguagePolicy, SkillRequirement, Target};

/// An agent as the presence and workload services see them right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    /// Stable id; the last tie-break, so choice is deterministic.
    pub id: String,
    /// Display name for supervisors.
    pub name: String,
    /// Skill name to level (1 = basic).
    pub skills: BTreeMap<String, u8>,
    /// Languages the agent serves in, lowercase codes such as `en`.
    pub languages: Vec<String>,
    /// Teams the agent belongs to.
    pub teams: Vec<String>,
    /// Most conversations the agent may hold at once.
    pub capacity: u32,
    /// Conversations the agent holds now.
    pub active_conversations: u32,
    /// Whether the agent can take work.
    pub presence: Presence,
    /// Seconds since the agent last took a conversation; longer idle wins ties.
    #[serde(default)]
    pub idle_seconds: u64,
}

/// Availability of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Taking work.
    Online,
    /// Signed in but not taking work.
    Away,
    /// Signed out.
    Offline,
}

/// The result of [`choose_agent`], borrowing ids and skill names from its inputs so
/// that judging a thousand agents allocates little.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment<'a> {
    /// The chosen agent's id, or `None` when nobody is eligible (keep waiting).
    pub chosen: Option<&'a str>,
    /// True when skill requirements were relaxed because of the wait.
    pub skills_relaxed: bool,
    /// One verdict per agent in the snapshot: the chosen agent first, then the other
    /// kept ones, then the rejected ones, each group in snapshot order.
    pub candidates: Vec<CandidateVerdict<'a>>,
}

/// What happened to one agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateVerdict<'a> {
    /// The agent's id.
    pub agent_id: &'a str,
    /// Kept or rejected, and why; flattened so each candidate is one flat JSON object.
    #[serde(flatten)]
    pub verdict: Verdict<'a>,
}

/// Kept (with what ranked it) or rejected (with why).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict<'a> {
    /// Eligible; these facts ordered the kept candidates.
    Kept(Standing),
    /// Not eligible, and why.
    Rejected(RejectReason<'a>),
}

/// What ranked an eligible agent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standing {
    /// Speaks the conversation's language.
    pub language_match: bool,
    /// Active conversations divided by capacity, 0.0 to just under 1.0.
    pub load_ratio: f64,
    /// Seconds since the agent last took a conversation.
    pub idle_seconds: u64,
}

/// Why an agent was not eligible.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RejectReason<'a> {
    /// Signed out.
    Offline,
    /// Signed in but not taking work.
    Away,
    /// Holding as many conversations as allowed.
    AtCapacity {
        /// Conversations held.
        active: u32,
        /// Most allowed.
        capacity: u32,
    },
    /// Lacks a required skill, or has it below the level needed.
    MissingSkill {
        /// Skill name.
        skill: &'a str,
        /// Level needed (after any relaxation).
        needs: u8,
        /// Level held; 0 when the agent lacks the skill.
        has: u8,
    },
    /// Declined an offer of this conversation (or let it lapse) a short while ago.
    RecentlyDeclined,
    /// Does not speak the language and the target requires it.
    LanguageMismatch {
        /// The conversation's language.
        wanted: &'a str,
    },
}

/// Picks the best eligible agent for `target` and explains every verdict.
///
/// `seconds_on_target` is how long the conversation has waited on this target (see
/// [`super::rules::Handoff::target_at`]); once it reaches
/// `relax_skills_after_seconds`, optional skills are dropped and minimum levels fall
/// to their relaxed level. Ranking among eligible agents: language match first (under
/// [`LanguagePolicy::Prefer`]), then lowest load ratio, then longest idle, then id.
pub fn choose_agent<'a>(
    target: &'a Target,
    language: &'a str,
    agents: &'a [AgentSnapshot],
    seconds_on_target: u64,
) -> Assignment<'a> {
    let relaxed = target
        .relax_skills_after_seconds
        .is_some_and(|after| seconds_on_target >= after);
    let mut kept = Vec::new();
    let mut rejected = Vec::new();
    for agent in agents {
        match judge(target, language, agent, relaxed) {
            Ok(standing) => kept.push((agent, standing)),
            Err(reason) => rejected.push(verdict_of(agent, Verdict::Rejected(reason))),
        }
    }

    // Only the best is needed, so one pass beats sorting every kept candidate.
    let best = (0..kept.len()).min_by(|&a, &b| rank(&kept[a], &kept[b], target.language));
    if let Some(best) = best {
        kept[..=best].rotate_right(1);
    }
    let chosen = kept.first().map(|(agent, _)| agent.id.as_str());
    let candidates = (kept.into_iter())
        .map(|(agent, standing)| verdict_of(agent, Verdict::Kept(standing)))
        .chain(rejected)
        .collect();
    Assignment {
        chosen,
        skills_relaxed: relaxed,
        candidates,
    }
}

fn verdict_of<'a>(agent: &'a AgentSnapshot, verdict: Verdict<'a>) -> CandidateVerdict<'a> {
    CandidateVerdict {
        agent_id: &agent.id,
        verdict,
    }
}

/// The hard checks in the order supervisors think of them: presence, load, skills,
/// then language.
fn judge<'a>(
    target: &'a Target,
    language: &'a str,
    agent: &AgentSnapshot,
    relaxed: bool,
) -> Result<Standing, RejectReason<'a>> {
    match agent.presence {
        Presence::Offline => return Err(RejectReason::Offline),
        Presence::Away => return Err(RejectReason::Away),
        Presence::Online => {}
    }
    if agent.active_conversations >= agent.capacity {
        return Err(RejectReason::AtCapacity {
            active: agent.active_conversations,
            capacity: agent.capacity,
        });
    }
    for requirement in &target.required_skills {
        check_skill(requirement, agent, relaxed)?;
    }

    let language_match = agent
        .languages
        .iter()
        .any(|l| l.eq_ignore_ascii_case(language));
    if target.language == LanguagePolicy::Require && !language_match {
        return Err(RejectReason::LanguageMismatch { wanted: language });
    }
    Ok(Standing {
        language_match,
        load_ratio: f64::from(agent.active_conversations) / f64::from(agent.capacity),
        idle_seconds: agent.idle_seconds,
    })
}

fn check_skill<'a>(
    requirement: &'a SkillRequirement,
    agent: &AgentSnapshot,
    relaxed: bool,
) -> Result<(), RejectReason<'a>> {
    if relaxed && requirement.optional {
        return Ok(());
    }
    let needs = if relaxed {
        requirement.relaxed_min_level.unwrap_or(1)
    } else {
        requirement.min_level
    };
    let has = agent.skills.get(&requirement.name).copied().unwrap_or(0);
    if has >= needs && has > 0 {
        return Ok(());
    }
    Err(RejectReason::MissingSkill {
        skill: &requirement.name,
        needs: needs.max(1),
        has,
    })
}

fn rank(
    (a, sa): &(&AgentSnapshot, Standing),
    (b, sb): &(&AgentSnapshot, Standing),
    policy: LanguagePolicy,
) -> Ordering {
    let language = match policy {
        LanguagePolicy::Prefer => sb.language_match.cmp(&sa.language_match),
        LanguagePolicy::Require | LanguagePolicy::Ignore => Ordering::Equal,
    };
    language
        .then(sa.load_ratio.total_cmp(&sb.load_ratio))
        .then(sb.idle_seconds.cmp(&sa.idle_seconds))
        .then(a.id.cmp(&b.id))
}
