//! Replaying past conversations through a draft rule set before it is published.
//!
//! Reports how often each rule would fire, which conversations would land somewhere
//! else, the load per queue, and an expected wait per queue from an M/M/c (Erlang C)
//! model. It must never change anything: it only reads its inputs and returns a report.
//!
//! The wait estimate assumes Poisson arrivals spread evenly over the replayed window,
//! exponential handle times with the given mean, and one server per unit of agent
//! capacity (an agent with capacity 3 counts as 3 servers). Real handle times are not
//! exponential and concurrent chats slow agents down, so read it as a comparison
//! between drafts rather than a promise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::context::RoutingContext;
use super::matching::{AgentSnapshot, Presence};
use super::rules::{Action, RuleSet};

/// A stored conversation and where it was routed at the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastCase {
    /// The conversation's id.
    pub conversation_id: String,
    /// The context as it was when the decision was made.
    pub context: RoutingContext,
    /// The rule that matched then, or `default`.
    pub old_rule: String,
    /// The first target's queue then, or `None` when the bot kept it.
    pub old_queue: Option<String>,
}

/// Staffing assumptions for the wait estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Staffing {
    /// Length of time the replayed cases arrived over, in seconds.
    pub window_seconds: u64,
    /// Mean time an agent spends on one conversation, in seconds.
    pub average_handle_seconds: f64,
    /// Concurrent conversation slots serving each queue.
    pub capacity_per_queue: BTreeMap<String, u32>,
}

/// What the draft would have done to the replayed cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationReport {
    /// Cases replayed.
    pub cases: usize,
    /// Matches per rule name (every rule listed, `default` included).
    pub hits_per_rule: BTreeMap<String, usize>,
    /// Every case whose queue would change (`None` is the bot).
    pub moves: Vec<Move>,
    /// The moves counted per (from, to) pair.
    pub move_counts: Vec<MoveCount>,
    /// Load and expected wait per queue the draft sends work to.
    pub queues: BTreeMap<String, QueueForecast>,
}

/// One case that would land in a different queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// The conversation's id.
    pub conversation_id: String,
    /// Queue then (`None` = bot).
    pub from: Option<String>,
    /// Queue under the draft (`None` = bot).
    pub to: Option<String>,
    /// The draft rule that decides it now.
    pub rule: String,
}

/// How many cases move from one queue to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveCount {
    /// Queue then (`None` = bot).
    pub from: Option<String>,
    /// Queue under the draft (`None` = bot).
    pub to: Option<String>,
    /// Cases.
    pub count: usize,
}

/// Load and expected wait for one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueForecast {
    /// Cases the draft sends here.
    pub conversations: usize,
    /// Arrivals per hour over the window.
    pub arrivals_per_hour: f64,
    /// Concurrent slots serving the queue.
    pub servers: u32,
    /// Offered load in erlangs: arrival rate times mean handle time.
    pub offered_load_erlangs: f64,
    /// Chance an arrival waits at all; `None` when the queue is overloaded.
    pub probability_of_waiting: Option<f64>,
    /// Mean wait before an agent picks up; `None` when the queue is overloaded (load at
    /// or above the servers), i.e. the line grows without bound.
    pub expected_wait_seconds: Option<f64>,
}

/// Replays `cases` through `draft` and forecasts the queues under `staffing`.
pub fn simulate(draft: &RuleSet, cases: &[PastCase], staffing: &Staffing) -> SimulationReport {
    let mut hits: BTreeMap<String, usize> = (draft.rules().iter())
        .map(|r| (r.name.clone(), 0))
        .chain([("default".to_owned(), 0)])
        .collect();
    let mut moves = Vec::new();
    let mut load: BTreeMap<String, usize> = BTreeMap::new();

    for case in cases {
        let decision = draft.decide(&case.context);
        *hits.entry(decision.rule_name().to_owned()).or_default() += 1;
        let to = first_queue(&decision.action);
        if let Some(queue) = &to {
            *load.entry(queue.clone()).or_default() += 1;
        }
        if to != case.old_queue {
            moves.push(Move {
                conversation_id: case.conversation_id.clone(),
                from: case.old_queue.clone(),
                to,
                rule: decision.rule_name().to_owned(),
            });
        }
    }

    SimulationReport {
        cases: cases.len(),
        hits_per_rule: hits,
        move_counts: count_moves(&moves),
        moves,
        queues: forecast_queues(&load, staffing),
    }
}

/// Sums the capacity of online agents per team, for [`Staffing::capacity_per_queue`]
/// when teams are named after the queues they serve.
pub fn capacity_by_team(agents: &[AgentSnapshot]) -> BTreeMap<String, u32> {
    let mut capacity = BTreeMap::new();
    for agent in agents.iter().filter(|a| a.presence == Presence::Online) {
        for team in &agent.teams {
            *capacity.entry(team.clone()).or_default() += agent.capacity;
        }
    }
    capacity
}

/// Sums, per queue the draft hands off to, the capacity of every agent who meets that
/// queue's skill requirements (as first targets of the draft's rules and default name
/// them), whatever their presence: the staffing a supervisor plans with. An agent who
/// qualifies for several queues counts in each, so the figures are optimistic when
/// queues share people.
pub fn capacity_by_skills(draft: &RuleSet, agents: &[AgentSnapshot]) -> BTreeMap<String, u32> {
    let actions = (draft.rules().iter().map(|r| &r.action)).chain([draft.default_action()]);
    let mut requirements: BTreeMap<String, Vec<&super::rules::SkillRequirement>> = BTreeMap::new();
    for action in actions {
        if let Action::Handoff(handoff) = action {
            for target in handoff.targets() {
                let entry = requirements.entry(target.queue.clone()).or_default();
                entry.extend(target.required_skills.iter().filter(|s| !s.optional));
            }
        }
    }
    requirements
        .into_iter()
        .map(|(queue, skills)| {
            let qualified = agents.iter().filter(|agent| {
                skills.iter().all(|skill| {
                    let level = agent.skills.get(&skill.name).copied().unwrap_or(0);
                    level >= skill.min_level.max(1)
                })
            });
            (queue, qualified.map(|a| a.capacity).sum())
        })
        .collect()
}

/// Erlang C for an M/M/c queue: the chance an arrival waits, and the mean wait in
/// seconds. `None` when there are no servers or the offered load reaches them.
pub fn erlang_c(arrivals_per_second: f64, handle_seconds: f64, servers: u32) -> Option<(f64, f64)> {
    let load = arrivals_per_second * handle_seconds;
    let c = f64::from(servers);
    if servers == 0 || load >= c {
        return None;
    }
    // Erlang B by its recurrence, which stays stable where factorials would overflow.
    let mut blocking = 1.0;
    for k in 1..=servers {
        blocking = load * blocking / (f64::from(k) + load * blocking);
    }
    let waiting = c * blocking / (c - load * (1.0 - blocking));
    Some((waiting, waiting * handle_seconds / (c - load)))
}

fn first_queue(action: &Action) -> Option<String> {
    match action {
        Action::Bot => None,
        Action::Handoff(handoff) => Some(handoff.first_target().queue.clone()),
    }
}

fn count_moves(moves: &[Move]) -> Vec<MoveCount> {
    let mut counts: BTreeMap<(Option<String>, Option<String>), usize> = BTreeMap::new();
    for m in moves {
        *counts.entry((m.from.clone(), m.to.clone())).or_default() += 1;
    }
    (counts.into_iter())
        .map(|((from, to), count)| MoveCount { from, to, count })
        .collect()
}

fn forecast_queues(
    load: &BTreeMap<String, usize>,
    staffing: &Staffing,
) -> BTreeMap<String, QueueForecast> {
    let window = staffing.window_seconds.max(1) as f64;
    let forecast = |(queue, conversations): (&String, &usize)| {
        let rate = *conversations as f64 / window;
        let servers = staffing.capacity_per_queue.get(queue).copied().unwrap_or(0);
        let estimate = erlang_c(rate, staffing.average_handle_seconds, servers);
        let entry = QueueForecast {
            conversations: *conversations,
            arrivals_per_hour: rate * 3600.0,
            servers,
            offered_load_erlangs: rate * staffing.average_handle_seconds,
            probability_of_waiting: estimate.map(|(p, _)| p),
            expected_wait_seconds: estimate.map(|(_, w)| w),
        };
        (queue.clone(), entry)
    };
    load.iter().map(forecast).collect()
}
