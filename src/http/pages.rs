//! Pages for people: the customer chat widget, the agent console and the supervisor's
//! page, each one HTML file and one script calling the public API. The two staff pages
//! also share a script and a stylesheet, `/staff.js` and `/staff.css`. The help
//! centre's pages are rendered per request, in `help.rs`.
//!
//! The files are compiled into the binary, so the server needs nothing on disk to show
//! them. The staff pages keep an API token in the browser tab, so they are served with a
//! policy that runs only our own scripts, connects only to this server and forbids
//! framing; they must never load anything from another origin.

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use super::AppState;

const WIDGET_HTML: &str = include_str!("../../static/widget.html");
const WIDGET_JS: &str = include_str!("../../static/widget.js");
const CONSOLE_HTML: &str = include_str!("../../static/console.html");
const CONSOLE_JS: &str = include_str!("../../static/console.js");
const SUPERVISOR_HTML: &str = include_str!("../../static/supervisor.html");
const SUPERVISOR_JS: &str = include_str!("../../static/supervisor.js");
const STAFF_JS: &str = include_str!("../../static/staff.js");
const STAFF_CSS: &str = include_str!("../../static/staff.css");

/// The staff pages' shared styles come from `/staff.css` and their own are inline, hence
/// `style-src 'self' 'unsafe-inline'`; scripts are never inline, so injected markup could
/// not run one. `form-action 'none'` keeps a form from
/// ever sending a pasted token in a URL if the script failed to load.
const STAFF_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/widget") }))
        .route("/widget", get(|| async { html(WIDGET_HTML) }))
        .route("/widget.js", get(|| async { script(WIDGET_JS) }))
        .route("/console", get(|| async { staff_page(CONSOLE_HTML) }))
        .route("/console.js", get(|| async { script(CONSOLE_JS) }))
        .route("/supervisor", get(|| async { staff_page(SUPERVISOR_HTML) }))
        .route("/supervisor.js", get(|| async { script(SUPERVISOR_JS) }))
        .route("/staff.js", get(|| async { script(STAFF_JS) }))
        .route("/staff.css", get(|| async { stylesheet(STAFF_CSS) }))
}

fn html(body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

fn staff_page(body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_SECURITY_POLICY, STAFF_POLICY),
            (REFERRER_POLICY, "no-referrer"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html(body),
    )
}

fn script(body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

fn stylesheet(body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
