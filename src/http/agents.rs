//! Agent and supervisor routes: the team roster, tokens, presence and the audit log.
//!
//! Only supervisors change the roster, skills or capacity, and every change is audited
//! in the same transaction as the change itself.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{AgentAuth, SupervisorAuth, hash_token, new_agent_token, supervisor_actor};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::validate::{check_field, is_language_tag, looks_like_email, page_limit};
use crate::pipeline::notify_agent;
use crate::storage::{AgentChanges, AgentRecord, NewAgent, Presence, Role};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/agents", post(create_agent).get(list_agents))
        .route("/agents/{agent_id}", get(get_agent).patch(update_agent))
        .route("/agents/{agent_id}/tokens", post(issue_token))
        .route("/me", get(get_me))
        .route("/me/presence", put(put_presence))
        .route("/audit", get(list_audit))
}

/// Body of `POST /agents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    pub name: String,
    pub email: Option<String>,
    #[serde(default = "default_role")]
    pub role: Role,
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default = "default_capacity")]
    pub capacity: i64,
}

/// Body of `PATCH /agents/{id}`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentBody {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub skills: Option<BTreeMap<String, u8>>,
    pub languages: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
    pub capacity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    #[serde(default)]
    pub label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    pub presence: Presence,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

fn default_role() -> Role {
    Role::Agent
}

fn default_capacity() -> i64 {
    3
}

/// The most conversations one person can be given at once.
pub const MAX_CAPACITY: i64 = 50;

#[tracing::instrument(skip_all, fields(agent.id))]
async fn create_agent(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiJson(body): ApiJson<NewAgentBody>,
) -> Result<Response, ApiError> {
    let new = validate_new_agent(body)?;
    let token = new_agent_token();
    let agent = state
        .store
        .create_agent(&new, &hash_token(&token), &supervisor_actor(&supervisor))
        .await
        .map_err(conflict_on_duplicate_email)?;
    tracing::Span::current().record("agent.id", &agent.id);
    let body = json!({ "agent": agent, "token": token });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_agents(
    State(state): State<AppState>,
    _: SupervisorAuth,
) -> Result<Json<Value>, ApiError> {
    let agents = state.store.agents().await?;
    Ok(Json(json!({ "agents": agents })))
}

async fn get_agent(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(agent_id): ApiPath<String>,
) -> Result<Json<AgentRecord>, ApiError> {
    let agent = state.store.agent(&agent_id).await?;
    agent.map(Json).ok_or_else(no_such_agent)
}

#[tracing::instrument(skip_all, fields(agent.id = %agent_id))]
async fn update_agent(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(agent_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateAgentBody>,
) -> Result<Json<AgentRecord>, ApiError> {
    let changes = validate_changes(body)?;
    let agent = state
        .store
        .update_agent(&agent_id, &changes, &supervisor_actor(&supervisor))
        .await?;
    state.assign.wake();
    agent.map(Json).ok_or_else(no_such_agent)
}

#[tracing::instrument(skip_all, fields(agent.id = %agent_id))]
async fn issue_token(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(agent_id): ApiPath<String>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<Response, ApiError> {
    check_field("label", Some(&body.label), 100)?;
    let token = new_agent_token();
    let issued = state
        .store
        .issue_token(
            &agent_id,
            &hash_token(&token),
            &body.label,
            &supervisor_actor(&supervisor),
        )
        .await?;
    if !issued {
        return Err(no_such_agent());
    }
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))).into_response())
}

async fn get_me(AgentAuth(agent): AgentAuth) -> Json<AgentRecord> {
    Json(agent)
}

#[tracing::instrument(skip_all, fields(agent.id = %agent.id))]
async fn put_presence(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiJson(body): ApiJson<PresenceBody>,
) -> Result<Json<AgentRecord>, ApiError> {
    state.store.set_presence(&agent.id, body.presence).await?;
    if body.presence != Presence::Online {
        for offer in state.store.withdraw_offers_of(&agent.id).await? {
            state.metrics.offer("withdrawn");
            let data = json!({ "offer": offer, "reason": "presence" });
            notify_agent(
                state.bus.as_ref(),
                &agent.id,
                &offer.conversation_id,
                "offer.withdrawn",
                data,
            );
        }
    }
    state.assign.wake();
    let agent = state.store.agent(&agent.id).await?;
    agent.map(Json).ok_or_else(no_such_agent)
}

async fn list_audit(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page_limit(query.limit, 50, state.settings.limits.max_page_size)?;
    let entries = state.store.audit_entries(query.after, limit).await?;
    Ok(Json(json!({ "entries": entries })))
}

fn no_such_agent() -> ApiError {
    ApiError::NotFound("no agent with this id".into())
}

fn conflict_on_duplicate_email(error: crate::storage::StorageError) -> ApiError {
    match &error {
        crate::storage::StorageError::Database(e) if crate::storage::is_unique_violation(e) => {
            ApiError::Conflict {
                code: "email_taken",
                message: "another agent already has this e-mail address".into(),
            }
        }
        _ => error.into(),
    }
}

/// Checks a new agent's profile; the CLI uses it too, so both accept the same input.
pub fn validate_new_agent(body: NewAgentBody) -> Result<NewAgent, ApiError> {
    validate_name(&body.name)?;
    if let Some(email) = &body.email
        && !looks_like_email(email)
    {
        return Err(ApiError::invalid(
            "invalid_email",
            "email is not an e-mail address",
        ));
    }
    validate_profile(Some(&body.skills), Some(&body.languages), Some(&body.teams))?;
    validate_capacity(body.capacity)?;
    Ok(NewAgent {
        name: body.name.trim().to_owned(),
        email: body.email,
        role: body.role,
        skills: body.skills,
        languages: lowercase(body.languages),
        teams: body.teams,
        capacity: body.capacity,
    })
}

fn validate_changes(body: UpdateAgentBody) -> Result<AgentChanges, ApiError> {
    if let Some(name) = &body.name {
        validate_name(name)?;
    }
    validate_profile(
        body.skills.as_ref(),
        body.languages.as_ref(),
        body.teams.as_ref(),
    )?;
    if let Some(capacity) = body.capacity {
        validate_capacity(capacity)?;
    }
    Ok(AgentChanges {
        name: body.name.map(|n| n.trim().to_owned()),
        role: body.role,
        skills: body.skills,
        languages: body.languages.map(lowercase),
        teams: body.teams,
        capacity: body.capacity,
    })
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid("invalid_field", "name must not be empty"));
    }
    check_field("name", Some(&name), 200)
}

fn validate_profile(
    skills: Option<&BTreeMap<String, u8>>,
    languages: Option<&Vec<String>>,
    teams: Option<&Vec<String>>,
) -> Result<(), ApiError> {
    for (skill, level) in skills.into_iter().flatten() {
        if !is_identifier(skill) || !(1..=10).contains(level) {
            return Err(ApiError::invalid(
                "invalid_skills",
                "skills map names (letters, digits, '-' or '_') to levels from 1 to 10",
            ));
        }
    }
    if languages.into_iter().flatten().any(|l| !is_language_tag(l)) {
        return Err(ApiError::invalid(
            "invalid_language",
            "languages must be language tags such as \"en\" or \"pt-BR\"",
        ));
    }
    if teams.into_iter().flatten().any(|t| !is_identifier(t)) {
        return Err(ApiError::invalid(
            "invalid_teams",
            "team names use letters, digits, '-' or '_'",
        ));
    }
    Ok(())
}

fn validate_capacity(capacity: i64) -> Result<(), ApiError> {
    if (0..=MAX_CAPACITY).contains(&capacity) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "invalid_capacity",
        format!("capacity must be between 0 and {MAX_CAPACITY}"),
    ))
}

/// A name for skills and teams: 1 to 50 ASCII letters, digits, '-' or '_'.
fn is_identifier(value: &str) -> bool {
    (1..=50).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn lowercase(languages: Vec<String>) -> Vec<String> {
    languages
        .into_iter()
        .map(|l| l.to_ascii_lowercase())
        .collect()
}
