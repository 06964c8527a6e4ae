//! Serves the OpenAPI document that describes every route.
//!
//! The document is written by hand in `openapi.json` beside this file; a test checks that
//! every route the router serves is described there, and nothing more.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

/// The OpenAPI 3.1 document.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(serve))
}

async fn serve() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
