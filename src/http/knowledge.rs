//! The help centre for supervisors: articles (list, read, save, delete, each change
//! re-indexed by content hash), a retrieval probe, the evidence behind any bot reply,
//! and reloading the prompt templates.

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
use crate::clients::vector_store::Filter;
use crate::domain::answer::{Evidence, assess};
use crate::domain::knowledge::Article;
use crate::domain::knowledge::article::is_kebab_case;
use crate::knowledge::Passage;
use crate::knowledge::catalogue::CatalogueError;
use crate::startup::load_prompts;
use crate::storage::rfc3339;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/articles", get(list_articles))
        .route(
            "/articles/{id}",
            get(read_article).put(save_article).delete(delete_article),
        )
        .route("/knowledge/search", post(search))
        .route("/messages/{id}/evidence", get(evidence))
        .route("/prompts", get(prompts))
        .route("/prompts/reload", post(reload_prompts))
}

/// Largest article document accepted, in bytes.
const MAX_DOCUMENT_BYTES: usize = 60_000;

/// Body of `PUT /articles/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// The whole Markdown file: front matter (id, title, tags, language, updated), then
    /// the body.
    pub document: String,
}

/// Body of `POST /knowledge/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub question: String,
    /// Passages to return, 1 to 20; default 5.
    pub limit: Option<usize>,
}

fn summary(article: &Article) -> Value {
    json!({
        "id": article.id,
        "title": article.title,
        "tags": article.tags,
        "language": article.language,
        "updated": article.updated,
        "content_hash": article.content_hash,
        "url": crate::domain::knowledge::article_url(&article.id, None),
    })
}

async fn list_articles(State(state): State<AppState>, _: SupervisorAuth) -> Json<Value> {
    let knowledge = &state.answers.knowledge;
    let articles: Vec<Value> = knowledge.catalogue.list().iter().map(summary).collect();
    Json(json!({ "retrieval": knowledge.mode, "articles": articles }))
}

async fn read_article(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let catalogue = &state.answers.knowledge.catalogue;
    let (Some(article), Some(document)) = (catalogue.get(&id), catalogue.document(&id)) else {
        return Err(ApiError::NotFound(format!("no article {id}")));
    };
    let mut body = summary(&article);
    body["document"] = json!(document);
    Ok(Json(body))
}

/// Creates or replaces an article; re-indexes it only when its content changed.
#[tracing::instrument(skip_all)]
async fn save_article(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ArticleBody>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    if body.document.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::invalid(
            "document_too_long",
            format!("an article may have at most {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    let catalogue = &state.answers.knowledge.catalogue;
    let outcome = catalogue
        .save(&id, &body.document, &supervisor_actor(&supervisor))
        .await
        .map_err(catalogue_error)?;
    let status = if outcome.status == "created" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!(outcome))).into_response())
}

/// Deletes an article and all its passages.
#[tracing::instrument(skip_all)]
async fn delete_article(
    State(state): State<AppState>,
    SupervisorAuth(supervisor): SupervisorAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let catalogue = &state.answers.knowledge.catalogue;
    let deleted = catalogue
        .delete(&id, &supervisor_actor(&supervisor))
        .await
        .map_err(catalogue_error)?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no article {id}")))
    }
}

/// What retrieval finds for a question, and whether the bot would answer from it.
async fn search(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Value>, ApiError> {
    check_field("question", Some(&body.question), 2000)?;
    if body.question.trim().is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            "question must not be empty",
        ));
    }
    let limit = body.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::invalid("invalid_field", "limit must be 1 to 20"));
    }
    let answers = &state.answers;
    let passages = answers
        .knowledge
        .articles
        .retrieve(&body.question, Filter::default(), limit)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let evidence: Vec<Evidence> = passages
        .iter()
        .cloned()
        .map(Passage::into_evidence)
        .collect();
    let grounding = assess(&body.question, &evidence, &answers.settings.thresholds);
    Ok(Json(json!({
        "retrieval": answers.knowledge.mode,
        "passages": passages,
        "grounding": grounding,
    })))
}

/// The evidence a bot reply rests on.
async fn evidence(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(reply) = state.store.bot_reply(&id).await? else {
        return Err(ApiError::NotFound(format!("no bot reply {id}")));
    };
    Ok(Json(json!({
        "message_id": reply.message_id,
        "conversation_id": reply.conversation_id,
        "answers_message_id": reply.answers_message_id,
        "outcome": reply.outcome,
        "mode": reply.mode,
        "citations": reply.citations,
        "evidence": reply.evidence,
        "created_at": rfc3339(reply.created_at),
    })))
}

/// The templates in force.
async fn prompts(State(state): State<AppState>, _: SupervisorAuth) -> Json<Value> {
    let templates = state.answers.prompts.get();
    Json(json!({
        "version": templates.version,
        "system": templates.system,
        "user": templates.user,
        "languages": templates.replies.keys().collect::<Vec<_>>(),
        "llm": state.answers.llm.as_ref().map(|l| l.model().to_owned()),
    }))
}

/// Reads the templates folder again; a set that does not parse leaves the one in force.
async fn reload_prompts(
    State(state): State<AppState>,
    _: SupervisorAuth,
) -> Result<Json<Value>, ApiError> {
    let dir = state.settings.llm.prompts_dir.clone();
    let templates = tokio::task::spawn_blocking(move || load_prompts(&dir))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::invalid("invalid_prompts", format!("{e:#}")))?;
    let version = templates.version.clone();
    state
        .answers
        .prompts
        .replace(std::sync::Arc::new(templates));
    Ok(Json(json!({ "version": version })))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() > 100 || !is_kebab_case(id) {
        return Err(ApiError::invalid(
            "invalid_article_id",
            "an article id is lowercase letters and digits joined by single dashes, at most 100 characters",
        ));
    }
    Ok(())
}

fn catalogue_error(error: CatalogueError) -> ApiError {
    match error {
        CatalogueError::Invalid(e) => ApiError::invalid("invalid_article", e.to_string()),
        e @ CatalogueError::IdMismatch { .. } => ApiError::invalid("id_mismatch", e.to_string()),
        other => ApiError::Internal(other.into()),
    }
}
