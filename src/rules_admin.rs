//! What supervisors do with routing rules, shared by the HTTP API and the command line:
//! validate a document, compare it with the rules in force, replay stored traffic
//! through it, and find the rules to start with.
//!
//! Live routing is never touched here: a simulation reads stored decisions and agents
//! and returns a report; only publishing (in the HTTP layer) swaps the rules in force.

use anyhow::Context;
use serde::Serialize;

use crate::config::Settings;
use crate::domain::routing::{
    AgentSnapshot, DEFAULT_RULES, LoadRulesError, PastCase, Presence, RoutingContext, RuleSet,
    SimulationReport, Staffing, capacity_by_skills, simulate,
};
use crate::storage::{StorageError, Store, now_ms, rfc3339};

/// Mean handle time assumed by simulations unless the caller gives one: ten minutes.
pub const DEFAULT_HANDLE_SECONDS: f64 = 600.0;

/// Compiles a document, or lists every problem in it (each naming its rule and, for
/// expressions, the position).
pub fn validate(document: &str) -> Result<RuleSet, Vec<String>> {
    RuleSet::from_toml(document).map_err(|error| match error {
        LoadRulesError::Invalid(errors) => errors.0.iter().map(ToString::to_string).collect(),
        LoadRulesError::Toml(error) => vec![format!("the document is not valid TOML: {error}")],
    })
}

/// The rules document in force and its version (`None` for the shipped or configured
/// file that applies until a first publication).
pub async fn document_in_force(
    store: &Store,
    settings: &Settings,
) -> anyhow::Result<(Option<i64>, String)> {
    if let Some(published) = store.published_rules().await? {
        let document = published.document.unwrap_or_default();
        return Ok((Some(published.version), document));
    }
    match &settings.routing.rules_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("could not read routing rules {}", path.display()))?;
            Ok((None, text))
        }
        None => Ok((None, DEFAULT_RULES.to_owned())),
    }
}

/// The compiled rules in force at start-up.
pub async fn rules_in_force(store: &Store, settings: &Settings) -> anyhow::Result<RuleSet> {
    let (version, document) = document_in_force(store, settings).await?;
    let rules = RuleSet::from_toml(&document).with_context(|| match version {
        Some(version) => format!("published routing rules version {version} are invalid"),
        None => "the configured routing rules are invalid".to_owned(),
    })?;
    if let Some(version) = version {
        tracing::info!(version, "routing rules loaded from the database");
    }
    Ok(rules)
}

/// A simulation and what it was run over.
#[derive(Debug, Serialize)]
pub struct Replay {
    /// First and last decision time replayed (RFC 3339), when any were.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Stored decisions that could not be read back and were left out.
    pub skipped: usize,
    pub average_handle_seconds: f64,
    pub report: SimulationReport,
}

/// Replays stored decisions made between `from` and `to` (milliseconds; `None` for
/// open ends) through `draft`, with queue capacity from the current team.
pub async fn replay(
    store: &Store,
    draft: &RuleSet,
    from: Option<i64>,
    to: Option<i64>,
    handle_seconds: f64,
) -> Result<Replay, StorageError> {
    let stored = store
        .stored_cases(from.unwrap_or(0), to.unwrap_or_else(now_ms))
        .await?;
    let mut skipped = 0;
    let mut cases = Vec::with_capacity(stored.len());
    for case in &stored {
        let Ok(context) = serde_json::from_value::<RoutingContext>(case.context.clone()) else {
            skipped += 1;
            continue;
        };
        cases.push(PastCase {
            conversation_id: case.conversation_id.clone(),
            context,
            old_rule: case.rule_name.clone().unwrap_or_else(|| "default".into()),
            old_queue: (case.action == "handoff")
                .then(|| case.queue.clone())
                .flatten(),
        });
    }
    let first = stored.first().map(|c| c.created_at);
    let last = stored.last().map(|c| c.created_at);
    let window_ms = match (from, to, first, last) {
        (Some(from), Some(to), _, _) => to - from,
        (_, _, Some(first), Some(last)) => last - first,
        _ => 0,
    };
    let agents: Vec<AgentSnapshot> = (store.agent_loads().await?)
        .into_iter()
        .filter(|load| load.agent.role == crate::storage::Role::Agent)
        .map(|load| AgentSnapshot {
            id: load.agent.id,
            name: load.agent.name,
            skills: load.agent.skills,
            languages: load.agent.languages,
            teams: load.agent.teams,
            capacity: u32::try_from(load.agent.capacity).unwrap_or(0),
            active_conversations: 0,
            presence: Presence::Online,
            idle_seconds: 0,
        })
        .collect();
    let staffing = Staffing {
        window_seconds: u64::try_from(window_ms / 1000).unwrap_or(0).max(1),
        average_handle_seconds: handle_seconds,
        capacity_per_queue: capacity_by_skills(draft, &agents),
    };
    Ok(Replay {
        from: first.map(rfc3339),
        to: last.map(rfc3339),
        skipped,
        average_handle_seconds: handle_seconds,
        report: simulate(draft, &cases, &staffing),
    })
}
