//! The agent console's API: offers, the conversations an agent holds, and what they do
//! with them (reply, notes, typing, transfer, resolve, hand back), plus a WebSocket
//! that pushes offers and the events of the agent's conversations as they happen.
//!
//! An agent acts only on conversations offered or assigned to them; supervisors may
//! read any. Every change that may free capacity wakes the assignment service.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::auth::AgentAuth;
use super::error::{ApiError, ApiJson, ApiPath};
use super::validate::{check_field, validate_text};
use crate::clients::event_bus::{BusEvent, StaffNotice};
use crate::domain::handoff::{
    CustomerProfile, HandoffContext, HandoffPacket, TranscriptEntry, build_packet,
};
use crate::domain::triage::Triage;
use crate::pipeline::{notify_agent, publish};
use crate::storage::{
    Actor, AgentRecord, Change, ConversationRecord, Refusal, Release, Role, rfc3339,
};

/// What the customer reads when an agent joins; `{agent}` is the agent's name.
pub const JOINED_NOTICE: &str = "{agent} from our support team has joined the conversation.";
const RESOLVED_NOTICE: &str =
    "This conversation is marked as resolved. Write again any time if you need more help.";
const HANDED_BACK_NOTICE: &str = "You are back with our virtual assistant.";
const TRANSFERRED_NOTICE: &str =
    "We are passing your conversation to a colleague who can help further.";

/// Messages read for the transcript and the packet.
const TRANSCRIPT_LIMIT: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/offers", get(my_offers))
        .route("/me/conversations", get(my_conversations))
        .route("/offers/{offer_id}/accept", post(accept_offer))
        .route("/offers/{offer_id}/reject", post(reject_offer))
        .route("/agent/conversations/{id}", get(read_conversation))
        .route("/agent/conversations/{id}/messages", post(reply))
        .route("/agent/conversations/{id}/notes", post(add_note))
        .route("/agent/conversations/{id}/typing", post(typing))
        .route("/agent/conversations/{id}/transfer", post(transfer))
        .route("/agent/conversations/{id}/resolve", post(resolve))
        .route("/agent/conversations/{id}/handback", post(hand_back))
        .route("/agent/ws", get(console_socket))
}

/// Body of a reply or a note.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub text: String,
}

/// Body of `POST /agent/conversations/{id}/transfer`: exactly one of `agent_id` and
/// `queue`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub agent_id: Option<String>,
    pub queue: Option<String>,
    pub priority: Option<i64>,
    /// An internal note for whoever picks it up.
    pub note: Option<String>,
}

async fn my_offers(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
) -> Result<Json<Value>, ApiError> {
    let offers = state.store.pending_offers(&agent.id).await?;
    Ok(Json(json!({ "offers": offers })))
}

async fn my_conversations(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
) -> Result<Json<Value>, ApiError> {
    let conversations = state.store.assigned_to(&agent.id).await?;
    let views: Vec<Value> = conversations.iter().map(conversation_view).collect();
    Ok(Json(json!({ "conversations": views })))
}

#[tracing::instrument(skip_all, fields(agent.id = %agent.id, offer.id = %offer_id))]
async fn accept_offer(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(offer_id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let outcome = state
        .store
        .accept_offer(&offer_id, &agent.id, JOINED_NOTICE)
        .await?;
    let change = outcome.map_err(|r| offer_refusal(r, "accept"))?;
    state.metrics.offer("accepted");
    announce(&state, &change, Some(&agent.id));
    Ok(Json(
        json!({ "conversation": conversation_view(&change.conversation) }),
    ))
}

#[tracing::instrument(skip_all, fields(agent.id = %agent.id, offer.id = %offer_id))]
async fn reject_offer(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(offer_id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let outcome = state.store.reject_offer(&offer_id, &agent.id).await?;
    let offer = outcome.map_err(|r| offer_refusal(r, "reject"))?;
    state.metrics.offer("rejected");
    state.assign.wake();
    Ok(Json(json!({ "offer": offer })))
}

/// The conversation with its transcript, internal notes and handoff packet.
#[tracing::instrument(skip_all, fields(agent.id = %agent.id, conversation.id = %id))]
async fn read_conversation(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let conversation = readable(&state, &agent, &id).await?;
    let messages = state.store.messages(&id, 0, TRANSCRIPT_LIMIT).await?;
    let notes = state.store.notes(&id).await?;
    let packet = packet_for(&state, &conversation, &messages).await?;
    let views: Vec<Value> = messages.iter().map(|m| m.view()).collect();
    Ok(Json(json!({
        "conversation": conversation_view(&conversation),
        "messages": views,
        "notes": notes,
        "packet": packet,
    })))
}

#[tracing::instrument(skip_all, fields(agent.id = %agent.id, conversation.id = %id))]
async fn reply(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TextBody>,
) -> Result<Response, ApiError> {
    validate_text(&body.text, state.settings.limits.max_message_chars)?;
    let posted = state
        .store
        .post_agent_message(&id, &agent.id, &body.text)
        .await?;
    let (message, event) = posted.map_err(|_| not_assigned())?;
    publish(state.bus.as_ref(), &[event]);
    Ok((StatusCode::CREATED, Json(message.view())).into_response())
}

#[tracing::instrument(skip_all, fields(agent.id = %agent.id, conversation.id = %id))]
async fn add_note(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TextBody>,
) -> Result<Response, ApiError> {
    validate_text(&body.text, state.settings.limits.max_message_chars)?;
    readable(&state, &agent, &id).await?;
    let note = state.store.add_note(&id, &agent.id, &body.text).await?;
    announce_note(&state, &note.conversation_id, json!({ "note": note }));
    Ok((StatusCode::CREATED, Json(json!(note))).into_response())
}

async fn typing(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let conversation = readable(&state, &agent, &id).await?;
    if conversation.assigned_agent_id.as_deref() != Some(agent.id.as_str()) {
        return Err(not_assigned());
    }
    state.bus.publish(BusEvent {
        conversation_id: id,
        seq: None,
        kind: "typing".into(),
        data: json!({ "author": { "kind": "agent", "id": agent.id } }),
    });
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip_all, fields(agent.id = %agent.id, conversation.id = %id))]
async fn transfer(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<Value>, ApiError> {
    check_field(
        "note",
        body.note.as_ref(),
        state.settings.limits.max_message_chars,
    )?;
    check_field("queue", body.queue.as_ref(), 100)?;
    let release = match (&body.agent_id, &body.queue) {
        (Some(to), None) => Release::ToAgent { agent_id: to },
        (None, Some(queue)) if !queue.trim().is_empty() => Release::ToQueue {
            queue: queue.trim(),
            priority: body.priority.unwrap_or(0),
        },
        _ => {
            return Err(ApiError::invalid(
                "invalid_transfer",
                "give exactly one of agent_id and queue",
            ));
        }
    };
    let change = release_as(&state, &agent, &id, &release, TRANSFERRED_NOTICE).await?;
    if let Some(note) = body.note.filter(|n| !n.trim().is_empty()) {
        let note = state.store.add_note(&id, &agent.id, &note).await?;
        announce_note(&state, &id, json!({ "note": note }));
    }
    Ok(Json(
        json!({ "conversation": conversation_view(&change.conversation) }),
    ))
}

async fn resolve(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let change = release_as(&state, &agent, &id, &Release::Resolve, RESOLVED_NOTICE).await?;
    Ok(Json(
        json!({ "conversation": conversation_view(&change.conversation) }),
    ))
}

async fn hand_back(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let change = release_as(&state, &agent, &id, &Release::HandBack, HANDED_BACK_NOTICE).await?;
    Ok(Json(
        json!({ "conversation": conversation_view(&change.conversation) }),
    ))
}

/// Lets go of a conversation as its agent (or, for a supervisor, whoever holds it).
async fn release_as(
    state: &AppState,
    agent: &AgentRecord,
    id: &str,
    release: &Release<'_>,
    notice: &str,
) -> Result<Change, ApiError> {
    let owner = (agent.role != Role::Supervisor).then_some(agent.id.as_str());
    let actor = Actor {
        kind: if owner.is_some() {
            "agent"
        } else {
            "supervisor"
        },
        id: Some(agent.id.clone()),
    };
    let outcome = state
        .store
        .release(id, owner, release, &actor, notice)
        .await?;
    let change = outcome.map_err(|refusal| match refusal {
        Refusal::NotFound => ApiError::NotFound("no such conversation or agent".into()),
        Refusal::AtCapacity => ApiError::Conflict {
            code: "agent_at_capacity",
            message: "that agent holds as many conversations as their capacity allows".into(),
        },
        Refusal::WrongState => ApiError::Conflict {
            code: "invalid_state",
            message: "the conversation cannot make that change in its current state".into(),
        },
        Refusal::NotYours | Refusal::OfferClosed => not_assigned(),
    })?;
    let to = match release {
        Release::ToAgent { agent_id } => Some(*agent_id),
        _ => None,
    };
    announce(state, &change, to);
    Ok(change)
}

/// Publishes a change's events, tells the agents concerned and wakes assignment.
pub(super) fn announce(state: &AppState, change: &Change, new_agent: Option<&str>) {
    publish(state.bus.as_ref(), &change.events);
    let id = &change.conversation.id;
    if let Some(previous) = &change.previous_agent
        && Some(previous.as_str()) != new_agent
    {
        let data = json!({ "state": change.conversation.state });
        notify_agent(
            state.bus.as_ref(),
            previous,
            id,
            "conversation.released",
            data,
        );
    }
    if let Some(agent) = new_agent {
        let data = json!({ "conversation": conversation_view(&change.conversation) });
        notify_agent(state.bus.as_ref(), agent, id, "conversation.assigned", data);
    }
    state.assign.wake();
}

fn announce_note(state: &AppState, conversation_id: &str, data: Value) {
    state.bus.publish_staff(StaffNotice {
        agent_id: None,
        event: BusEvent {
            conversation_id: conversation_id.to_owned(),
            seq: None,
            kind: "note.created".into(),
            data,
        },
    });
}

/// The conversation, if this agent may read it: it is offered or assigned to them, or
/// they are a supervisor.
async fn readable(
    state: &AppState,
    agent: &AgentRecord,
    id: &str,
) -> Result<ConversationRecord, ApiError> {
    let conversation = match uuid::Uuid::parse_str(id) {
        Ok(_) => state.store.conversation(id).await?,
        Err(_) => None,
    };
    let conversation =
        conversation.ok_or_else(|| ApiError::NotFound("no conversation with this id".into()))?;
    let mine = conversation.assigned_agent_id.as_deref() == Some(agent.id.as_str())
        || conversation.offered_agent_id.as_deref() == Some(agent.id.as_str());
    if mine || agent.role == Role::Supervisor {
        Ok(conversation)
    } else {
        Err(ApiError::Forbidden(
            "this conversation is not offered or assigned to you".into(),
        ))
    }
}

/// Builds the handoff packet from what is stored.
pub(super) async fn packet_for(
    state: &AppState,
    conversation: &ConversationRecord,
    messages: &[crate::storage::MessageRecord],
) -> Result<HandoffPacket, ApiError> {
    let customer = state.store.customer_of(&conversation.id).await?;
    let decisions = state.store.decisions(&conversation.id).await?;
    let transcript: Vec<TranscriptEntry> = messages
        .iter()
        .map(|m| TranscriptEntry {
            author: m.author_kind,
            text: m.text.clone(),
            triage: m
                .triage
                .clone()
                .and_then(|t| serde_json::from_value::<Triage>(t).ok()),
            citations: Vec::new(),
        })
        .collect();
    let profile = CustomerProfile {
        name: customer.name,
        tier: customer.tier,
        language: customer.language.or_else(|| conversation.language.clone()),
        attributes: customer.attributes,
        past_conversations: customer.past_conversations,
        recent_topics: customer.recent_handoff_reasons,
    };
    let handoff = HandoffContext {
        reason: conversation.handoff_reason.clone(),
        queue: conversation.queue.clone(),
        rule: decisions.last().and_then(|d| d.rule_name.clone()),
    };
    Ok(build_packet(&transcript, profile, handoff))
}

/// The shape of a conversation for staff.
pub(super) fn conversation_view(c: &ConversationRecord) -> Value {
    json!({
        "id": c.id,
        "state": c.state,
        "queue": c.queue,
        "priority": c.priority,
        "language": c.language,
        "assigned_agent_id": c.assigned_agent_id,
        "offered_agent_id": c.offered_agent_id,
        "handoff_reason": c.handoff_reason,
        "queued_at": c.queued_at.map(rfc3339),
        "assigned_at": c.assigned_at.map(rfc3339),
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

fn offer_refusal(refusal: Refusal, verb: &str) -> ApiError {
    match refusal {
        Refusal::NotFound => ApiError::NotFound("no offer with this id".into()),
        Refusal::NotYours => ApiError::Forbidden("this offer was made to someone else".into()),
        _ => ApiError::Conflict {
            code: "offer_closed",
            message: format!("the offer can no longer be {verb}ed: it expired or was withdrawn"),
        },
    }
}

fn not_assigned() -> ApiError {
    ApiError::Forbidden("this conversation is not assigned to you".into())
}

// The console's live connection.

async fn console_socket(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade.on_upgrade(move |socket| serve_console(state, socket, agent)),
        Err(_) => ApiError::BadRequest {
            code: "websocket_required",
            message: "this route needs a WebSocket upgrade request".into(),
        }
        .into_response(),
    }
}

/// What a console may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ConsoleFrame {
    Ping,
    Typing { conversation_id: String },
}

/// Pushes this agent's offers and the events of their conversations, and counts the
/// open connection as a heartbeat.
#[tracing::instrument(skip_all, fields(agent.id = %agent.id))]
async fn serve_console(state: AppState, socket: WebSocket, agent: AgentRecord) {
    let (mut sink, mut incoming) = socket.split();
    let mut notices = state.bus.subscribe_staff();
    let mut shutdown = state.shutdown.clone();
    let grace = state.settings.assignment.presence_grace_secs.max(1);
    let mut heartbeat = tokio::time::interval(Duration::from_millis(grace * 1000 / 3));

    let mut watched = match hello(&state, &agent).await {
        Ok((frame, watched)) => {
            if sink
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            watched
        }
        Err(error) => {
            tracing::error!(error = ?error, "could not load the console's state");
            return;
        }
    };

    loop {
        tokio::select! {
            notice = notices.recv() => {
                let frame = match notice {
                    Ok(notice) => match relevant(&agent.id, &notice, &mut watched) {
                        Some(frame) => frame,
                        None => continue,
                    },
                    Err(RecvError::Lagged(_)) => match hello(&state, &agent).await {
                        Ok((frame, now_watched)) => {
                            watched = now_watched;
                            frame
                        }
                        Err(_) => return,
                    },
                    Err(RecvError::Closed) => return,
                };
                if sink.send(Message::Text(frame.to_string().into())).await.is_err() {
                    return;
                }
            }
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ConsoleFrame::Typing { conversation_id }) =
                        serde_json::from_str::<ConsoleFrame>(&text)
                        && watched.contains(&conversation_id)
                    {
                        state.bus.publish(BusEvent {
                            conversation_id,
                            seq: None,
                            kind: "typing".into(),
                            data: json!({ "author": { "kind": "agent", "id": agent.id } }),
                        });
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if let Err(error) = state.store.touch_agent(&agent.id).await {
                    tracing::warn!(error = ?error, "could not record a heartbeat");
                }
            }
            _ = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => return,
        }
    }
}

/// The first frame (and the frame after a lag): the agent's offers and conversations.
async fn hello(
    state: &AppState,
    agent: &AgentRecord,
) -> Result<(Value, HashSet<String>), ApiError> {
    let offers = state.store.pending_offers(&agent.id).await?;
    let conversations = state.store.assigned_to(&agent.id).await?;
    let watched = (offers.iter().map(|o| o.conversation_id.clone()))
        .chain(conversations.iter().map(|c| c.id.clone()))
        .collect();
    let views: Vec<Value> = conversations.iter().map(conversation_view).collect();
    let frame = json!({
        "type": "hello",
        "data": { "agent_id": agent.id, "offers": offers, "conversations": views },
    });
    Ok((frame, watched))
}

/// The frame to send for a notice, if it concerns this agent; keeps the set of
/// conversations the console follows up to date.
fn relevant(
    agent_id: &str,
    notice: &Arc<StaffNotice>,
    watched: &mut HashSet<String>,
) -> Option<Value> {
    let event = &notice.event;
    let id = &event.conversation_id;
    match notice.agent_id.as_deref() {
        Some(to) if to != agent_id => return None,
        Some(_) => match event.kind.as_str() {
            "offer.created" | "conversation.assigned" => {
                watched.insert(id.clone());
            }
            "offer.expired" | "offer.withdrawn" | "conversation.released" => {
                watched.remove(id);
            }
            _ => {}
        },
        None if !watched.contains(id) => return None,
        None => {}
    }
    Some(json!({
        "id": event.seq,
        "type": event.kind,
        "conversation_id": id,
        "data": event.data,
    }))
}
