//! Planning offers: which waiting conversation goes to which agent, now.
//!
//! The assignment service calls [`plan`] whenever something changes (a conversation is
//! queued, an agent comes online, capacity frees up, a timer fires) with a snapshot of
//! the waiting conversations and the agents. The plan says which conversations move on
//! to their next target, which offers to make, and when to look again. It must never
//! offer more than an agent's free capacity within one plan; the database re-checks
//! every offer, so a stale snapshot can only cost an offer, never break a limit.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::matching::{AgentSnapshot, CandidateVerdict, RejectReason, Verdict, choose_agent};
use super::queue::{Aging, WaitQueue, WaitingConversation};
use super::rules::Target;

/// A conversation waiting for a person, as the planner sees it. Times are seconds on
/// the caller's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingCase {
    /// The conversation's id.
    pub conversation_id: String,
    /// Priority at enqueue time, boosts included.
    pub priority: i64,
    /// The conversation's language, e.g. `en`.
    pub language: String,
    /// The handoff plan: targets in order, each but the last with a timeout.
    pub targets: Vec<Target>,
    /// Position on the plan now.
    pub target_index: usize,
    /// When it started waiting for a person.
    pub queued_at: u64,
    /// When the current target began.
    pub target_since: u64,
    /// True while an agent holds an offer for it; such a case is not offered again.
    pub offered: bool,
    /// Agents who declined it or let an offer lapse recently; not offered it again.
    pub declined_by: Vec<String>,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Conversations whose current target timed out, with where they go.
    pub moves: Vec<TargetMove>,
    /// Offers to make, most urgent conversation first.
    pub offers: Vec<PlannedOffer>,
    /// The earliest time a timeout or a skill relaxation will change the picture;
    /// `None` when only an outside event can.
    pub wake_at: Option<u64>,
}

/// A conversation moving on to a later target of its plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetMove {
    /// The conversation's id.
    pub conversation_id: String,
    /// The target index it was on.
    pub from_index: usize,
    /// The target index it moves to.
    pub to_index: usize,
    /// The new target's queue.
    pub queue: String,
    /// When the new target began: the end of the last timeout.
    pub target_since: u64,
}

/// One offer to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedOffer {
    /// The conversation's id.
    pub conversation_id: String,
    /// The agent to offer it to.
    pub agent_id: String,
    /// The queue it was waiting in.
    pub queue: String,
    /// True when skills were relaxed because of the wait.
    pub skills_relaxed: bool,
    /// Every agent's verdict, the chosen one first, for the explanation.
    pub candidates: Vec<OwnedVerdict>,
}

/// A candidate's verdict that outlives the snapshot it was judged from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnedVerdict {
    /// The agent's id.
    pub agent_id: String,
    /// Kept or rejected, and why, as supervisors read it.
    pub verdict: serde_json::Value,
}

/// Settings the planner needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanSettings {
    /// How fast waiting raises priority.
    pub aging: Aging,
}

/// Plans moves and offers at time `now` for the waiting cases, given the agents.
///
/// Cases are served highest effective priority first, then longest waiting; each gets
/// the best eligible agent (see [`choose_agent`]) who still has a free slot after the
/// offers planned before it.
pub fn plan(
    cases: &[WaitingCase],
    agents: &[AgentSnapshot],
    now: u64,
    settings: PlanSettings,
) -> Plan {
    let mut plan = Plan::default();
    let mut positions = Vec::with_capacity(cases.len());
    for case in cases {
        let (index, since) = advance(case, now);
        if index != case.target_index {
            plan.moves.push(TargetMove {
                conversation_id: case.conversation_id.clone(),
                from_index: case.target_index,
                to_index: index,
                queue: case.targets[index].queue.clone(),
                target_since: since,
            });
        }
        plan.wake_at = earliest(plan.wake_at, next_change(case, index, since, now));
        positions.push((index, since));
    }

    let mut order = WaitQueue::new(settings.aging);
    let mut by_id = HashMap::with_capacity(cases.len());
    for (position, case) in cases.iter().enumerate() {
        if case.offered || case.targets.is_empty() {
            continue;
        }
        let waiting = WaitingConversation {
            id: case.conversation_id.clone(),
            priority: case.priority,
            enqueued_at: case.queued_at,
        };
        if order.push(waiting).is_ok() {
            by_id.insert(case.conversation_id.as_str(), position);
        }
    }

    let mut pool = agents.to_vec();
    let mut free = free_slots(&pool);
    // Searches that found nobody; capacity only shrinks within a plan, so they would
    // find nobody again.
    let mut hopeless: HashSet<(String, String, bool)> = HashSet::new();
    for waiting in order.iter() {
        if free == 0 {
            break;
        }
        let position = by_id[waiting.id.as_str()];
        let case = &cases[position];
        let (index, since) = positions[position];
        let target = &case.targets[index];
        let on_target = now.saturating_sub(since);
        let relaxed = target
            .relax_skills_after_seconds
            .is_some_and(|after| on_target >= after);
        let key = (search_key(target), case.language.clone(), relaxed);
        if case.declined_by.is_empty() && hopeless.contains(&key) {
            continue;
        }
        match offer_for(case, target, &pool, on_target) {
            Some(offer) => {
                if let Some(agent) = pool.iter_mut().find(|a| a.id == offer.agent_id) {
                    agent.active_conversations += 1;
                }
                free -= 1;
                plan.offers.push(offer);
            }
            None if case.declined_by.is_empty() => {
                hopeless.insert(key);
            }
            None => {}
        }
    }
    plan
}

/// The target a case is on at `now`, and when that target began.
fn advance(case: &WaitingCase, now: u64) -> (usize, u64) {
    let last = case.targets.len().saturating_sub(1);
    let mut index = case.target_index.min(last);
    let mut since = case.target_since;
    while index < last {
        match case.targets[index].timeout_seconds {
            Some(timeout) if now >= since.saturating_add(timeout) => {
                since = since.saturating_add(timeout);
                index += 1;
            }
            _ => break,
        }
    }
    (index, since)
}

/// When this case's situation next changes by itself: its target times out or its
/// skills relax.
fn next_change(case: &WaitingCase, index: usize, since: u64, now: u64) -> Option<u64> {
    let target = case.targets.get(index)?;
    let is_last = index + 1 >= case.targets.len();
    let timeout = target
        .timeout_seconds
        .filter(|_| !is_last)
        .map(|t| since.saturating_add(t));
    let relax = target
        .relax_skills_after_seconds
        .map(|r| since.saturating_add(r))
        .filter(|at| *at > now);
    earliest(timeout, relax)
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn free_slots(agents: &[AgentSnapshot]) -> u64 {
    agents
        .iter()
        .filter(|a| a.presence == super::matching::Presence::Online)
        .map(|a| u64::from(a.capacity.saturating_sub(a.active_conversations)))
        .sum()
}

/// Identifies what an agent search depends on besides the agents themselves.
fn search_key(target: &Target) -> String {
    serde_json::to_string(target).unwrap_or_default()
}

fn offer_for(
    case: &WaitingCase,
    target: &Target,
    pool: &[AgentSnapshot],
    on_target: u64,
) -> Option<PlannedOffer> {
    let (eligible, declined): (Vec<_>, Vec<_>) = if case.declined_by.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        pool.iter()
            .cloned()
            .partition(|a| !case.declined_by.contains(&a.id))
    };
    let agents = if case.declined_by.is_empty() {
        pool
    } else {
        &eligible
    };
    let search = choose_agent(target, &case.language, agents, on_target);
    let chosen = search.chosen?.to_owned();
    let mut candidates: Vec<OwnedVerdict> = search.candidates.iter().map(owned).collect();
    candidates.extend(declined.iter().map(|agent| {
        owned(&CandidateVerdict {
            agent_id: &agent.id,
            verdict: Verdict::Rejected(RejectReason::RecentlyDeclined),
        })
    }));
    Some(PlannedOffer {
        conversation_id: case.conversation_id.clone(),
        agent_id: chosen,
        queue: target.queue.clone(),
        skills_relaxed: search.skills_relaxed,
        candidates,
    })
}

fn owned(verdict: &CandidateVerdict<'_>) -> OwnedVerdict {
    OwnedVerdict {
        agent_id: verdict.agent_id.to_owned(),
        verdict: serde_json::to_value(&verdict.verdict).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::num::NonZeroU64;

    use super::*;
    use crate::domain::routing::matching::Presence;
    use crate::domain::routing::rules::{LanguagePolicy, SkillRequirement};

    fn agent(id: &str, skills: &[(&str, u8)], languages: &[&str], capacity: u32) -> AgentSnapshot {
        AgentSnapshot {
            id: id.into(),
            name: id.into(),
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            languages: languages.iter().map(|l| (*l).to_owned()).collect(),
            teams: Vec::new(),
            capacity,
            active_conversations: 0,
            presence: Presence::Online,
            idle_seconds: 0,
        }
    }

    fn target(queue: &str, skill: Option<&str>, timeout: Option<u64>) -> Target {
        Target {
            queue: queue.into(),
            required_skills: skill
                .map(|name| SkillRequirement {
                    name: name.into(),
                    min_level: 1,
                    relaxed_min_level: None,
                    optional: false,
                })
                .into_iter()
                .collect(),
            language: LanguagePolicy::Prefer,
            priority: 0,
            timeout_seconds: timeout,
            relax_skills_after_seconds: None,
        }
    }

    fn case(id: &str, priority: i64, queued_at: u64, targets: Vec<Target>) -> WaitingCase {
        WaitingCase {
            conversation_id: id.into(),
            priority,
            language: "en".into(),
            targets,
            target_index: 0,
            queued_at,
            target_since: queued_at,
            offered: false,
            declined_by: Vec::new(),
        }
    }

    fn offered(plan: &Plan) -> Vec<(&str, &str)> {
        plan.offers
            .iter()
            .map(|o| (o.conversation_id.as_str(), o.agent_id.as_str()))
            .collect()
    }

    #[test]
    fn the_most_urgent_case_gets_the_only_free_slot() {
        let cases = [
            case("low", 10, 0, vec![target("general", None, None)]),
            case("urgent", 90, 50, vec![target("general", None, None)]),
        ];
        let agents = [agent("a", &[], &["en"], 1)];
        let plan = plan(&cases, &agents, 60, PlanSettings::default());
        assert_eq!(offered(&plan), [("urgent", "a")]);
    }

    #[test]
    fn equal_priority_is_served_longest_waiting_first() {
        let cases = [
            case("newer", 10, 20, vec![target("general", None, None)]),
            case("older", 10, 5, vec![target("general", None, None)]),
        ];
        let agents = [agent("a", &[], &["en"], 1)];
        let plan = plan(&cases, &agents, 60, PlanSettings::default());
        assert_eq!(offered(&plan), [("older", "a")]);
    }

    #[test]
    fn aging_lets_a_long_wait_overtake_a_higher_priority() {
        let cases = [
            case("patient", 0, 0, vec![target("general", None, None)]),
            case("recent", 5, 595, vec![target("general", None, None)]),
        ];
        let agents = [agent("a", &[], &["en"], 1)];
        let settings = PlanSettings {
            aging: Aging {
                seconds_per_point: NonZeroU64::new(60),
            },
        };
        let plan = plan(&cases, &agents, 600, settings);
        assert_eq!(offered(&plan), [("patient", "a")]);
    }

    #[test]
    fn offers_never_exceed_free_capacity() {
        let cases: Vec<_> = (0..10)
            .map(|i| case(&format!("c{i}"), 0, i, vec![target("general", None, None)]))
            .collect();
        let mut busy = agent("busy", &[], &["en"], 3);
        busy.active_conversations = 2;
        let agents = [agent("a", &[], &["en"], 2), busy];
        let plan = plan(&cases, &agents, 100, PlanSettings::default());
        let mut per_agent: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, agent) in offered(&plan) {
            *per_agent.entry(agent).or_default() += 1;
        }
        assert_eq!(per_agent, BTreeMap::from([("a", 2), ("busy", 1)]));
    }

    #[test]
    fn a_timed_out_target_moves_on_and_is_served_there() {
        let targets = vec![
            target("cards", Some("cards"), Some(300)),
            target("general", None, None),
        ];
        let cases = [case("c", 0, 0, targets)];
        let agents = [agent("generalist", &[], &["en"], 1)];

        let early = plan(&cases, &agents, 299, PlanSettings::default());
        assert!(early.moves.is_empty() && early.offers.is_empty());
        assert_eq!(early.wake_at, Some(300));

        let late = plan(&cases, &agents, 300, PlanSettings::default());
        assert_eq!(late.moves.len(), 1);
        assert_eq!(late.moves[0].queue, "general");
        assert_eq!(late.moves[0].target_since, 300);
        assert_eq!(offered(&late), [("c", "generalist")]);
    }

    #[test]
    fn agents_who_declined_are_passed_over_and_say_why() {
        let mut declined = case("c", 0, 0, vec![target("general", None, None)]);
        declined.declined_by = vec!["a".into()];
        let agents = [agent("a", &[], &["en"], 1), agent("b", &[], &["en"], 1)];
        let plan = plan(&[declined.clone()], &agents, 10, PlanSettings::default());
        assert_eq!(offered(&plan), [("c", "b")]);
        let verdict = &plan.offers[0].candidates.last().expect("verdicts").verdict;
        assert_eq!(verdict["reason"], "recently_declined");

        let only_a = [agent("a", &[], &["en"], 1)];
        assert!(
            super::plan(&[declined], &only_a, 10, PlanSettings::default())
                .offers
                .is_empty()
        );
    }

    #[test]
    fn cases_already_on_offer_are_left_alone() {
        let mut held = case("c", 0, 0, vec![target("general", None, None)]);
        held.offered = true;
        let agents = [agent("a", &[], &["en"], 1)];
        assert!(
            plan(&[held], &agents, 10, PlanSettings::default())
                .offers
                .is_empty()
        );
    }

    #[test]
    fn a_hopeless_search_is_not_repeated_but_others_still_match() {
        let mut cases: Vec<_> = (0..5)
            .map(|i| {
                case(
                    &format!("c{i}"),
                    50,
                    i,
                    vec![target("cards", Some("cards"), None)],
                )
            })
            .collect();
        cases.push(case("g", 0, 0, vec![target("general", None, None)]));
        let agents = [agent("a", &[], &["en"], 1)];
        let plan = plan(&cases, &agents, 10, PlanSettings::default());
        assert_eq!(offered(&plan), [("g", "a")]);
    }
}
