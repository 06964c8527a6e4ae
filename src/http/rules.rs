//! Routing rules for supervisors: versions, validation with every problem named,
//! differences, simulation over stored traffic, publishing and rolling back. Publishing
//! takes effect for the next message, without a restart.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{SupervisorAuth, supervisor_actor};
use super::error::{ApiError, ApiJson, ApiPath};
use super::validate::check_field;
use crate::domain::routing::line_diff;
use crate::rules_admin::{DEFAULT_HANDLE_SECONDS, document_in_force, replay, validate};
use crate::storage::{AgentRecord, RuleVersion};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rules", get(overview))
        .route("/rules/versions", post(save_version))
        .route("/rules/versions/{version}", get(read_version))
        .route("/rules/versions/{version}/simulate", post(simulate_version))
        .route("/rules/versions/{version}/publish", post(publish_version))
        .route("/rules/rollback", post(roll_back))
}

/// Body of `POST /rules/versions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVersionBody {
    /// The rules document, TOML as in `config/routing.toml`.
    pub document: String,
    #[serde(default)]
    pub note: String,
}

/// Body of `POST /rules/versions/{version}/simulate`; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    /// Replay decisions made at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Replay decisions made at or before this time (RFC 3339).
    pub to: Option<String>,
    /// Mean seconds an agent spends on a conversation; default 600.
    pub average_handle_seconds: Option<f64>,
}

/// The rules in force, every saved version and the publication history.
async fn overview(
    State(state): State<AppState>,
    _: SupervisorAuth,
) -> Result<Json<Value>, ApiError> {
    let (version, document) = document_in_force(&state.store, &state.settings).await?;
    let versions = state.store.rule_versions().await?;
    let publications = state.store.publications().await?;
    let source = match (version, &state.settings.routing.rules_file) {
        (Some(_), _) => "published",
        (None, Some(_)) => "file",
        (None, None) => "shipped",
    };
    Ok(Json(json!({
        "in_force": { "version": version, "source": source, "document": document },
        "versions": versions,
        "publications": publications,
    })))
}

/// Validates and saves a document as the next version; nothing goes live.
#[tracing::instrument(skip_all)]
async fn save_version(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiJson(body): ApiJson<NewVersionBody>,
) -> Result<Response, ApiError> {
    check_field("note", Some(&body.note), 500)?;
    validate(&body.document).map_err(ApiError::InvalidRules)?;
    let (based_on, in_force) = document_in_force(&state.store, &state.settings).await?;
    let saved = state
        .store
        .save_rule_version(
            &body.document,
            &body.note,
            based_on,
            &supervisor_actor(&supervisor),
        )
        .await?;
    let diff = line_diff(&in_force, &body.document);
    let body = json!({ "version": saved, "diff_from_in_force": diff });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn read_version(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(version): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let saved = find(&state, version).await?;
    let (_, in_force) = document_in_force(&state.store, &state.settings).await?;
    let diff = line_diff(&in_force, saved.document.as_deref().unwrap_or_default());
    Ok(Json(
        json!({ "version": saved, "diff_from_in_force": diff }),
    ))
}

/// Replays stored traffic through a saved version. Live routing is untouched.
#[tracing::instrument(skip_all, fields(version))]
async fn simulate_version(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(version): ApiPath<i64>,
    ApiJson(body): ApiJson<SimulateBody>,
) -> Result<Json<Value>, ApiError> {
    let saved = find(&state, version).await?;
    let draft =
        validate(saved.document.as_deref().unwrap_or_default()).map_err(ApiError::InvalidRules)?;
    let from = body
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?;
    let to = body
        .to
        .as_deref()
        .map(|t| parse_time("to", t))
        .transpose()?;
    let handle = body
        .average_handle_seconds
        .unwrap_or(DEFAULT_HANDLE_SECONDS);
    if !(handle.is_finite() && handle > 0.0) {
        return Err(ApiError::invalid(
            "invalid_field",
            "average_handle_seconds must be a positive number",
        ));
    }
    let replay = replay(&state.store, &draft, from, to, handle).await?;
    Ok(Json(json!({ "version": version, "simulation": replay })))
}

/// Puts a saved version in force for the next message.
#[tracing::instrument(skip_all, fields(version))]
async fn publish_version(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(version): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    put_in_force(&state, &supervisor, version, "publish").await
}

/// Puts back the version that was in force before the current one.
async fn roll_back(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
) -> Result<Json<Value>, ApiError> {
    let history = state.store.publications().await?;
    let current = history.first().map(|p| p.version);
    let previous = history
        .iter()
        .map(|p| p.version)
        .find(|v| Some(*v) != current);
    let Some(previous) = previous else {
        return Err(ApiError::Conflict {
            code: "nothing_to_roll_back",
            message: "no earlier published version to return to".into(),
        });
    };
    put_in_force(&state, &supervisor, previous, "rollback").await
}

async fn put_in_force(
    state: &AppState,
    supervisor: &AgentRecord,
    version: i64,
    kind: &str,
) -> Result<Json<Value>, ApiError> {
    let saved = find(state, version).await?;
    let rules =
        validate(saved.document.as_deref().unwrap_or_default()).map_err(ApiError::InvalidRules)?;
    state
        .store
        .publish_rules(version, kind, &supervisor_actor(supervisor))
        .await?;
    state.rules.replace(Arc::new(rules));
    tracing::info!(version, kind, "routing rules put in force");
    Ok(Json(json!({ "in_force": version, "kind": kind })))
}

async fn find(state: &AppState, version: i64) -> Result<RuleVersion, ApiError> {
    state
        .store
        .rule_version(version)
        .await?
        .ok_or_else(|| ApiError::NotFound("no rules version with this number".into()))
}

fn parse_time(field: &'static str, text: &str) -> Result<i64, ApiError> {
    let time = humantime::parse_rfc3339_weak(text).map_err(|_| {
        ApiError::invalid(
            "invalid_field",
            format!("{field} must be a time such as 2026-12-01T09:00:00Z"),
        )
    })?;
    let millis = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Ok(i64::try_from(millis).unwrap_or(i64::MAX))
}
