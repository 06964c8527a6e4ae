//! Supervisor routes: why each conversation went where it went, the live state of
//! queues and agents, and moving or assigning conversations by hand.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::SupervisorAuth;
use super::console::{JOINED_NOTICE, announce, conversation_view};
use super::error::{ApiError, ApiJson, ApiPath};
use super::validate::check_field;
use crate::domain::conversation::ConversationState;
use crate::storage::{Actor, Refusal, now_ms, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}/decisions", get(list_decisions))
        .route("/supervisor/live", get(live_state))
        .route("/supervisor/conversations/{id}/assign", post(assign))
        .route("/supervisor/conversations/{id}/move", post(move_queue))
}

/// Body of `POST /supervisor/conversations/{id}/assign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub agent_id: String,
}

/// Body of `POST /supervisor/conversations/{id}/move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    pub queue: String,
    pub priority: Option<i64>,
}

/// Every routing decision of a conversation with its explanation, and every offer made
/// for it with the agent search behind it, oldest first.
#[tracing::instrument(skip_all, fields(conversation.id = %id))]
async fn list_decisions(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    known_conversation(&state, &id).await?;
    let decisions = state.store.decisions(&id).await?;
    let offers = state.store.offers_of(&id).await?;
    Ok(Json(json!({ "decisions": decisions, "offers": offers })))
}

/// Queues with who waits in them, agents with their load, and open offers.
async fn live_state(
    State(state): State<AppState>,
    _: SupervisorAuth,
) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    let open = state.store.open_conversations().await?;
    let loads = state.store.agent_loads().await?;
    let mut queues: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut assigned = 0;
    for conversation in &open {
        if conversation.state == ConversationState::Assigned {
            assigned += 1;
            continue;
        }
        let queue = conversation.queue.clone().unwrap_or_default();
        let waited = conversation.queued_at.map_or(0, |at| (now - at) / 1000);
        let mut view = conversation_view(conversation);
        view["waiting_seconds"] = json!(waited);
        queues.entry(queue).or_default().push(view);
    }
    let queues: Vec<Value> = queues
        .into_iter()
        .map(|(name, waiting)| {
            let longest = waiting
                .iter()
                .filter_map(|w| w["waiting_seconds"].as_i64())
                .max()
                .unwrap_or(0);
            json!({ "queue": name, "waiting": waiting.len(),
                "longest_wait_seconds": longest, "conversations": waiting })
        })
        .collect();
    let agents: Vec<Value> = loads
        .iter()
        .map(|load| {
            let a = &load.agent;
            json!({
                "id": a.id, "name": a.name, "role": a.role, "presence": a.presence,
                "skills": a.skills, "languages": a.languages, "teams": a.teams,
                "capacity": a.capacity, "active": load.active,
                "last_seen_at": a.last_seen_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({
        "at": rfc3339(now),
        "assigned": assigned,
        "queues": queues,
        "agents": agents,
    })))
}

#[tracing::instrument(skip_all, fields(conversation.id = %id))]
async fn assign(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    known_conversation(&state, &id).await?;
    let actor = Actor {
        kind: "supervisor",
        id: Some(supervisor.id),
    };
    let outcome = state
        .store
        .assign_directly(&id, &body.agent_id, &actor, JOINED_NOTICE)
        .await?;
    let change = outcome.map_err(refusal)?;
    announce(&state, &change, Some(&body.agent_id));
    Ok(Json(
        json!({ "conversation": conversation_view(&change.conversation) }),
    ))
}

#[tracing::instrument(skip_all, fields(conversation.id = %id))]
async fn move_queue(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MoveBody>,
) -> Result<Json<Value>, ApiError> {
    check_field("queue", Some(&body.queue), 100)?;
    let queue = body.queue.trim();
    if queue.is_empty() {
        return Err(ApiError::invalid(
            "invalid_queue",
            "queue must not be blank",
        ));
    }
    known_conversation(&state, &id).await?;
    let actor = Actor {
        kind: "supervisor",
        id: Some(supervisor.id),
    };
    let outcome = state
        .store
        .move_queued(&id, queue, body.priority, &actor)
        .await?;
    let change = outcome.map_err(refusal)?;
    announce(&state, &change, None);
    Ok(Json(
        json!({ "conversation": conversation_view(&change.conversation) }),
    ))
}

async fn known_conversation(state: &AppState, id: &str) -> Result<(), ApiError> {
    let conversation = match uuid::Uuid::parse_str(id) {
        Ok(_) => state.store.conversation(id).await?,
        Err(_) => None,
    };
    conversation
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound("no conversation with this id".into()))
}

fn refusal(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotFound => ApiError::NotFound("no such conversation or agent".into()),
        Refusal::AtCapacity => ApiError::Conflict {
            code: "agent_at_capacity",
            message: "that agent holds as many conversations as their capacity allows".into(),
        },
        Refusal::WrongState | Refusal::NotYours | Refusal::OfferClosed => ApiError::Conflict {
            code: "invalid_state",
            message: "the conversation cannot make that change in its current state".into(),
        },
    }
}
