//! The HTTP layer: customer, agent and supervisor routes, live streams, health, metrics,
//! the OpenAPI document and the pages people use.
//!
//! Handlers validate input, call storage or the pipeline and shape responses. They hold
//! no business rules: those live in `domain`.

pub mod agents;
pub mod auth;
pub mod console;
pub mod conversations;
pub mod error;
pub mod events;
pub mod health;
pub mod help;
pub mod intents;
pub mod knowledge;
pub mod openapi;
pub mod pages;
pub mod rules;
pub mod supervision;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::clients::event_bus::EventBus;
use crate::config::Settings;
use crate::domain::routing::RuleSet;
use crate::metrics::Metrics;
use crate::pipeline::Current;
use crate::pipeline::PipelineHandle;
use crate::pipeline::assign::AssignHandle;
use crate::pipeline::intents::IntentModel;
use crate::storage::Store;
use error::InternalCause;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub pipeline: PipelineHandle,
    /// Wakes the assignment service after a change that may free an agent.
    pub assign: AssignHandle,
    /// The routing rules in force; publishing replaces them for the next message.
    pub rules: Current<RuleSet>,
    /// The triage model in force and its retraining on supervisors' intent examples.
    pub intents: IntentModel,
    /// The help centre, prompts and LLM behind the bot's replies.
    pub answers: Arc<crate::pipeline::answer::Answerer>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    /// Turns true when the server begins to shut down; live streams end on it, so that
    /// graceful shutdown is not held open by clients that never disconnect.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Builds the whole router, apart from serving, so tests can call it directly.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    let body_limit = state.settings.limits.max_body_bytes;

    Router::new()
        .nest(
            "/api/v1",
            conversations::router()
                .merge(events::router())
                .merge(agents::router())
                .merge(console::router())
                .merge(rules::router())
                .merge(intents::router())
                .merge(knowledge::router())
                .merge(supervision::router()),
        )
        .merge(health::router())
        .merge(openapi::router())
        .merge(pages::router())
        .merge(help::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// The request span names the matched route, never the raw URI with its query string.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", http.method = %request.method(), http.route = route)
}

/// Counts and times requests by route, and logs the cause of every 500 once.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();

    let response = next.run(request).await;

    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(method.as_str(), &route, status, started.elapsed());
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(error = ?cause, http.status = status, "request failed");
    }
    response
}
