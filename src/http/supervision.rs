//! Supervisor reading routes: why each conversation went where it went.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::auth::SupervisorAuth;
use super::error::{ApiError, ApiPath};

pub fn router() -> Router<AppState> {
    Router::new().route("/conversations/{id}/decisions", get(list_decisions))
}

/// Every routing decision of a conversation with its explanation, oldest first.
#[tracing::instrument(skip_all, fields(conversation.id = %id))]
async fn list_decisions(
    State(state): State<AppState>,
    _: SupervisorAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let conversation = match uuid::Uuid::parse_str(&id) {
        Ok(_) => state.store.conversation(&id).await?,
        Err(_) => None,
    };
    if conversation.is_none() {
        return Err(ApiError::NotFound("no conversation with this id".into()));
    }
    let decisions = state.store.decisions(&id).await?;
    Ok(Json(json!({ "decisions": decisions })))
}
