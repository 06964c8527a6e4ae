//! Live conversation events over Server-Sent Events and WebSocket.
//!
//! Both transports share one follower: it replays stored events after the client's last
//! seen `seq`, then forwards live notices from the bus, reloading from storage whenever
//! it notices a gap. A client that reconnects with its last event id therefore misses
//! nothing. Ephemeral events (typing) carry no id and are never replayed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use super::auth::CustomerAccess;
use super::error::{ApiError, ApiQuery};
use crate::clients::event_bus::BusEvent;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}/events", get(stream_sse))
        .route("/conversations/{id}/ws", get(stream_ws))
}

#[derive(Debug, Deserialize)]
pub struct ResumeQuery {
    /// The customer token, for clients that cannot send an Authorization header.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Resume after this event; 0 (the default) replays the whole conversation.
    pub last_event_id: Option<i64>,
}

/// Events read from storage per round while catching up.
const REPLAY_BATCH: i64 = 500;
/// Events waiting for a slow client before the follower waits for it.
const OUTBOX: usize = 64;

#[tracing::instrument(skip_all, fields(conversation.id = %access.0.id))]
async fn stream_sse(
    State(state): State<AppState>,
    access: CustomerAccess,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ResumeQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let last = match header {
        Some(value) => value
            .trim()
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest {
                code: "invalid_last_event_id",
                message: "Last-Event-ID must be an integer".into(),
            })?,
        None => query.last_event_id.unwrap_or(0),
    };

    let rx = spawn_follower(&state, access.0.id, last);
    let stream = ReceiverStream::new(rx).map(|event| Ok(sse_event(&event)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse_event(event: &BusEvent) -> Event {
    let mut out = Event::default()
        .event(event.kind.as_str())
        .data(wire(event).to_string());
    if let Some(seq) = event.seq {
        out = out.id(seq.to_string());
    }
    out
}

/// The JSON shape of an event on both transports.
fn wire(event: &BusEvent) -> Value {
    json!({
        "id": event.seq,
        "type": event.kind,
        "conversation_id": event.conversation_id,
        "data": event.data,
    })
}

#[tracing::instrument(skip_all, fields(conversation.id = %access.0.id))]
async fn stream_ws(
    State(state): State<AppState>,
    access: CustomerAccess,
    ApiQuery(query): ApiQuery<ResumeQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => {
            return ApiError::BadRequest {
                code: "websocket_required",
                message: "this route needs a WebSocket upgrade request".into(),
            }
            .into_response();
        }
    };
    let last = query.last_event_id.unwrap_or(0);
    let conversation_id = access.0.id;
    upgrade.on_upgrade(move |socket| serve_socket(state, socket, conversation_id, last))
}

/// A frame a customer client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Typing,
    Ping,
}

async fn serve_socket(state: AppState, socket: WebSocket, conversation_id: String, last: i64) {
    let (mut sink, mut incoming) = socket.split();
    let mut events = spawn_follower(&state, conversation_id.clone(), last);

    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let text = wire(&event).to_string();
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            frame = incoming.next() => {
                let Some(Ok(frame)) = frame else { break };
                if let Some(reply) = answer_frame(&state, &conversation_id, frame)
                    && sink.send(reply).await.is_err()
                {
                    break;
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// Handles one client frame; returns what to send back, if anything.
fn answer_frame(state: &AppState, conversation_id: &str, frame: Message) -> Option<Message> {
    let text = match frame {
        Message::Text(text) => text,
        Message::Close(_) | Message::Ping(_) | Message::Pong(_) => return None,
        Message::Binary(_) => return Some(error_frame("binary frames are not accepted")),
    };
    match serde_json::from_str::<ClientFrame>(&text) {
        Ok(ClientFrame::Typing) => {
            state.bus.publish(BusEvent {
                conversation_id: conversation_id.to_owned(),
                seq: None,
                kind: "typing".into(),
                data: json!({ "author": { "kind": "customer" } }),
            });
            None
        }
        Ok(ClientFrame::Ping) => Some(Message::Text(json!({ "type": "pong" }).to_string().into())),
        Err(_) => Some(error_frame(
            "expected {\"type\": \"typing\"} or {\"type\": \"ping\"}",
        )),
    }
}

fn error_frame(message: &str) -> Message {
    let body = json!({ "type": "error", "code": "invalid_frame", "message": message });
    Message::Text(body.to_string().into())
}

/// Starts a follower task and returns the channel it writes to. The task ends when the
/// receiver is dropped, on shutdown, or when storage fails.
fn spawn_follower(
    state: &AppState,
    conversation_id: String,
    last: i64,
) -> mpsc::Receiver<Arc<BusEvent>> {
    let (tx, rx) = mpsc::channel(OUTBOX);
    let follower = Follower {
        state: state.clone(),
        conversation_id,
        last,
        out: tx,
    };
    tokio::spawn(follower.run(state.shutdown.clone()));
    rx
}

struct Follower {
    state: AppState,
    conversation_id: String,
    /// The highest `seq` delivered so far.
    last: i64,
    out: mpsc::Sender<Arc<BusEvent>>,
}

/// Why the live phase stopped.
enum Interrupt {
    /// Events may have been missed: reload from storage.
    Resync,
    Stop,
}

impl Follower {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            // Subscribe before replaying, so nothing committed in between is missed.
            let mut live = self.state.bus.subscribe(&self.conversation_id);
            if !self.replay().await {
                return;
            }
            let out = self.out.clone();
            let interrupt = tokio::select! {
                interrupt = self.forward_live(&mut live) => interrupt,
                () = out.closed() => Interrupt::Stop,
                _ = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => Interrupt::Stop,
            };
            if let Interrupt::Stop = interrupt {
                return;
            }
        }
    }

    /// Sends stored events after `last`; false when the follower should end.
    async fn replay(&mut self) -> bool {
        loop {
            let batch = self
                .state
                .store
                .events_after(&self.conversation_id, self.last, REPLAY_BATCH)
                .await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(error = ?error, "event replay failed");
                    return false;
                }
            };
            let done = (batch.len() as i64) < REPLAY_BATCH;
            for event in batch {
                self.last = event.seq;
                let event = BusEvent {
                    conversation_id: event.conversation_id,
                    seq: Some(event.seq),
                    kind: event.kind,
                    data: event.data,
                };
                if self.out.send(Arc::new(event)).await.is_err() {
                    return false;
                }
            }
            if done {
                return true;
            }
        }
    }

    async fn forward_live(&mut self, live: &mut broadcast::Receiver<Arc<BusEvent>>) -> Interrupt {
        loop {
            let event = match live.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => return Interrupt::Resync,
                Err(broadcast::error::RecvError::Closed) => return Interrupt::Stop,
            };
            match event.seq {
                Some(seq) if seq <= self.last => continue,
                Some(seq) if seq > self.last + 1 => return Interrupt::Resync,
                Some(seq) => self.last = seq,
                None => {}
            }
            if self.out.send(event).await.is_err() {
                return Interrupt::Stop;
            }
        }
    }
}
