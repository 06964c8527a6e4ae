//! Pages for people: the customer chat widget and a page that embeds it.
//!
//! The files are compiled into the binary, so the server needs nothing on disk to show
//! them.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use super::AppState;

const WIDGET_HTML: &str = include_str!("../../static/widget.html");
const WIDGET_JS: &str = include_str!("../../static/widget.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/widget") }))
        .route("/widget", get(widget_page))
        .route("/widget.js", get(widget_script))
}

async fn widget_page() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        WIDGET_HTML,
    )
}

async fn widget_script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        WIDGET_JS,
    )
}
