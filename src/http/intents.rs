//! Intent examples for supervisors: the labels and the model in force, adding and
//! removing examples (each change retrains the model in the background, without a
//! restart), and triage of one message with the model in force, stored nowhere.
//!
//! Example texts and tried messages may be customers' words: they are never logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{SupervisorAuth, supervisor_actor};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::validate::validate_text;
use crate::domain::triage::{Triage, TriageContext};
use crate::pipeline::intents::{ExampleProblem, is_label, new_example};
use crate::storage::NewIntentExample;

/// Most examples one call may add.
pub const MAX_EXAMPLES_PER_CALL: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/intents", get(overview))
        .route("/intents/examples", get(list_examples).post(add_examples))
        .route("/intents/examples/{id}", delete(delete_example))
        .route("/intents/model", get(model_status))
        .route("/triage", post(try_triage))
}

/// Body of `POST /intents/examples`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExamplesBody {
    pub examples: Vec<NewExampleBody>,
}

/// One example: the intent label and a message that means it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExampleBody {
    pub label: String,
    pub text: String,
}

/// Query of `GET /intents/examples`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExamplesQuery {
    pub label: Option<String>,
}

/// Body of `POST /triage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryTriageBody {
    pub text: String,
}

/// Every label with its shipped and added example counts, and the model status.
async fn overview(
    State(state): State<AppState>,
    _: SupervisorAuth,
) -> Result<Json<Value>, ApiError> {
    let labels = state.intents.labels().await?;
    let model = state.intents.status();
    Ok(Json(json!({ "labels": labels, "model": model })))
}

async fn list_examples(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiQuery(query): ApiQuery<ExamplesQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(label) = &query.label
        && !is_label(label)
    {
        let problem = ExampleProblem::BadLabel;
        return Err(ApiError::invalid(
            problem.code(),
            format!("label: {problem}"),
        ));
    }
    let examples = state.store.intent_examples(query.label.as_deref()).await?;
    Ok(Json(json!({ "examples": examples })))
}

/// Checks every example, stores them all, and asks for a retrain when any is new.
#[tracing::instrument(skip_all, fields(examples.given, examples.added))]
async fn add_examples(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiJson(body): ApiJson<NewExamplesBody>,
) -> Result<Response, ApiError> {
    let span = tracing::Span::current();
    span.record("examples.given", body.examples.len());
    let examples = checked(&body.examples)?;
    let added = state
        .store
        .add_intent_examples(&examples, &supervisor_actor(&supervisor))
        .await?;

    let duplicates = added.iter().filter(|a| a.duplicate).count();
    let new = added.len() - duplicates;
    span.record("examples.added", new);
    if new > 0 {
        state.intents.request_retrain();
    }
    let body = json!({
        "ids": added.iter().map(|a| &a.id).collect::<Vec<_>>(),
        "added": new,
        "duplicates": duplicates,
        "duplicate_rows": added
            .iter()
            .enumerate()
            .filter(|(_, a)| a.duplicate)
            .map(|(row, _)| row)
            .collect::<Vec<_>>(),
        "retrain_requested": new > 0,
        "model": state.intents.status(),
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The examples ready to store, or the first bad row with its problem.
fn checked(examples: &[NewExampleBody]) -> Result<Vec<NewIntentExample>, ApiError> {
    if examples.is_empty() || examples.len() > MAX_EXAMPLES_PER_CALL {
        return Err(ApiError::invalid(
            "invalid_example_count",
            format!("give 1 to {MAX_EXAMPLES_PER_CALL} examples per call"),
        ));
    }
    examples
        .iter()
        .enumerate()
        .map(|(row, e)| {
            new_example(&e.label, &e.text).map_err(|problem| {
                ApiError::invalid(problem.code(), format!("examples[{row}]: {problem}"))
            })
        })
        .collect()
}

/// Removes one added example and asks for a retrain.
#[tracing::instrument(skip_all, fields(intent_example.id = %id))]
async fn delete_example(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let removed = state
        .store
        .delete_intent_example(&id, &supervisor_actor(&supervisor))
        .await?;
    if removed.is_none() {
        return Err(ApiError::NotFound(
            "no added intent example with this id".into(),
        ));
    }
    state.intents.request_retrain();
    Ok(StatusCode::NO_CONTENT)
}

async fn model_status(State(state): State<AppState>, _: SupervisorAuth) -> Json<Value> {
    Json(json!(state.intents.status()))
}

/// Triage of one message with the model in force, as the pipeline would do for the
/// first message of a conversation. Nothing is stored.
#[tracing::instrument(skip_all)]
async fn try_triage(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiJson(body): ApiJson<TryTriageBody>,
) -> Result<Json<Triage>, ApiError> {
    validate_text(&body.text, state.settings.limits.max_message_chars)?;
    let triager = state.intents.triager().get();
    // Milliseconds of CPU when the encoder stage decides: off the async workers.
    let triage =
        tokio::task::spawn_blocking(move || triager.triage(&body.text, &TriageContext::default()))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(triage))
}
