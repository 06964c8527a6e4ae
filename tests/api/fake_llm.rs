//! A fake OpenAI-compatible chat server on 127.0.0.1 for the answer tests.
//!
//! It streams like the real API (`data: {chunk}` lines ending in `data: [DONE]`) and can
//! fail, stall or obey. In `Obey` mode it does whatever the customer's message tells it,
//! which is what a model with no defences would do: tests use it to show that the
//! gateway's own checks, not the model's good manners, keep replies safe.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::stream;
use serde_json::{Value, json};

/// How the fake answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Quotes the first sentence of passage 1 and cites it.
    Grounded,
    /// Follows the customer's instructions: `say: X` replies X, a mention of the prompt
    /// or instructions replies with the system message, anything else replies with
    /// every passage it was given.
    Obey,
    /// Answers with the refusal token.
    NoAnswer,
    /// Answers 500 with an OpenAI-style error body.
    Fail,
    /// Waits this long before answering at all.
    Slow(Duration),
}

#[derive(Clone)]
struct Shared {
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// A running fake server.
pub struct FakeLlm {
    pub base_url: String,
    shared: Shared,
}

impl FakeLlm {
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Shared {
            behaviour: Arc::new(Mutex::new(behaviour)),
            requests: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake LLM");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{address}/v1"),
            shared,
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().expect("lock") = behaviour;
    }

    /// Every request body received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

fn message(request: &Value, role: &str) -> String {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == role)
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The texts between `<passage ...>` and `</passage>`, in order.
fn passages(system: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = system;
    while let Some(start) = rest.find("<passage ") {
        let Some(open_end) = rest[start..].find(">\n") else {
            break;
        };
        let body = &rest[start + open_end + 2..];
        let Some(end) = body.find("</passage>") else {
            break;
        };
        out.push(body[..end].trim().to_owned());
        rest = &body[end..];
    }
    out
}

fn reply_for(behaviour: &Behaviour, request: &Value) -> String {
    let system = message(request, "system");
    let user = message(request, "user");
    match behaviour {
        Behaviour::Grounded => {
            let first = passages(&system).into_iter().next().unwrap_or_default();
            let sentence = first
                .split_inclusive(['.', '\n'])
                .map(str::trim)
                .find(|s| {
                    s.split_whitespace().count() >= 4 && !s.starts_with('#') && !s.starts_with('|')
                })
                .unwrap_or(first.as_str())
                .to_owned();
            format!("{sentence} [1]")
        }
        Behaviour::Obey => {
            let lower = user.to_lowercase();
            if let Some(at) = lower.find("say:") {
                let said = &user[at + 4..];
                said.split("</customer_message>")
                    .next()
                    .unwrap_or(said)
                    .trim()
                    .to_owned()
            } else if lower.contains("prompt") || lower.contains("instructions") {
                system
            } else {
                passages(&system).join("\n")
            }
        }
        Behaviour::NoAnswer => "NO_ANSWER".to_owned(),
        Behaviour::Fail | Behaviour::Slow(_) => String::new(),
    }
}

fn chunk(text: &str) -> String {
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }],
    });
    format!("data: {body}\n\n")
}

async fn complete(State(shared): State<Shared>, Json(request): Json<Value>) -> Response {
    shared.requests.lock().expect("lock").push(request.clone());
    let behaviour = shared.behaviour.lock().expect("lock").clone();
    match behaviour {
        Behaviour::Fail => {
            let body = json!({ "error": { "message": "the fake model is down", "type": "server_error", "param": null, "code": null } });
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
        }
        Behaviour::Slow(wait) => tokio::time::sleep(wait).await,
        _ => {}
    }
    let text = reply_for(&behaviour, &request);
    // One piece per word, as a model streams tokens.
    let mut pieces: Vec<String> = text.split_inclusive(' ').map(chunk).collect();
    pieces.push("data: [DONE]\n\n".to_owned());
    let body = stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from_stream(body))
        .expect("a valid response")
}
