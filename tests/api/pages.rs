//! The staff pages: the agent console and the supervisor's page are served from the
//! binary, load only our own scripts and stylesheet, and each page's script calls the
//! routes it depends on.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};

use crate::helpers::{TestApp, spawn_app};

/// A page, its script, and routes the script must call.
struct StaffPage {
    page: &'static str,
    script: &'static str,
    routes: &'static [&'static str],
}

const PAGES: &[StaffPage] = &[
    StaffPage {
        page: "/console",
        script: "/console.js",
        routes: &[
            "/api/v1/agent/ws",
            "/api/v1/me/presence",
            "/api/v1/me/conversations",
            "/api/v1/me/offers",
            "/api/v1/offers/",
            "/accept",
            "/reject",
            "/api/v1/agent/conversations/",
            "/messages",
            "/notes",
            "/typing",
            "/transfer",
            "/resolve",
            "/handback",
        ],
    },
    StaffPage {
        page: "/supervisor",
        script: "/supervisor.js",
        routes: &[
            "/api/v1/supervisor/live",
            "/api/v1/rules",
            "/api/v1/rules/versions",
            "/simulate",
            "/publish",
            "/api/v1/rules/rollback",
            "/api/v1/agents",
            "/decisions",
            "/api/v1/supervisor/conversations/",
            "/assign",
            "/move",
            "/api/v1/audit",
        ],
    },
];

/// The script both staff pages load before their own.
const SHARED_SCRIPT: &str = "/staff.js";

/// The stylesheet both staff pages link before their inline styles.
const SHARED_STYLESHEET: &str = "/staff.css";

/// Fetches a path and returns its content type and body.
async fn fetch(app: &TestApp, path: &str) -> (String, String) {
    let response = app.client.get(app.url(path)).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("ascii content type")
        .to_owned();
    (content_type, response.text().await.expect("text"))
}

#[tokio::test]
async fn each_staff_page_is_html_that_loads_its_own_script() {
    let app = spawn_app().await;
    for page in PAGES {
        let (content_type, body) = fetch(&app, page.page).await;
        assert_eq!(content_type, "text/html; charset=utf-8", "{}", page.page);
        let tag = format!("<script src=\"{}\"></script>", page.script);
        assert!(body.contains(&tag), "{} loads {}", page.page, page.script);
    }
}

#[tokio::test]
async fn each_staff_page_loads_the_shared_script_first_and_the_shared_stylesheet() {
    let app = spawn_app().await;
    for page in PAGES {
        let (_, body) = fetch(&app, page.page).await;
        let shared = format!("<script src=\"{SHARED_SCRIPT}\"></script>");
        let own = format!("<script src=\"{}\"></script>", page.script);
        let shared_at = body.find(&shared);
        assert!(shared_at.is_some(), "{} loads {SHARED_SCRIPT}", page.page);
        assert!(
            shared_at < body.find(&own),
            "{} loads {SHARED_SCRIPT} before {}",
            page.page,
            page.script
        );

        let link = format!("<link rel=\"stylesheet\" href=\"{SHARED_STYLESHEET}\">");
        let linked = body.contains(&link);
        assert!(linked, "{} links {SHARED_STYLESHEET}", page.page);
    }
}

#[tokio::test]
async fn shared_staff_files_are_served_with_their_content_type_and_nosniff() {
    let app = spawn_app().await;
    let cases = [
        (SHARED_SCRIPT, "text/javascript; charset=utf-8"),
        (SHARED_STYLESHEET, "text/css; charset=utf-8"),
    ];
    for (path, expected) in cases {
        let response = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], expected, "{path}");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn each_staff_script_is_javascript_that_calls_the_routes_it_needs() {
    let app = spawn_app().await;
    for page in PAGES {
        let (content_type, body) = fetch(&app, page.script).await;
        assert_eq!(
            content_type, "text/javascript; charset=utf-8",
            "{}",
            page.script
        );
        for route in page.routes {
            assert!(body.contains(route), "{} calls {route}", page.script);
        }
    }
}

#[tokio::test]
async fn staff_pages_load_nothing_from_elsewhere_and_cannot_be_framed() {
    let app = spawn_app().await;
    for page in PAGES {
        let response = app
            .client
            .get(app.url(page.page))
            .send()
            .await
            .expect("sent");
        let policy = response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii policy")
            .to_owned();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(policy.contains("style-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

        let html = response.text().await.expect("text");
        let (_, script) = fetch(&app, page.script).await;
        for origin in ["http://", "https://"] {
            let named = html.contains(origin) || script.contains(origin);
            assert!(!named, "{} names another origin", page.page);
        }
        // Message text is written by customers: it must never be parsed as markup.
        let markup = script.contains("innerHTML");
        assert!(!markup, "{} writes server data as text only", page.script);
    }
}

#[tokio::test]
async fn shared_staff_files_name_no_other_origin_and_write_text_only() {
    let app = spawn_app().await;
    let (_, script) = fetch(&app, SHARED_SCRIPT).await;
    let (_, stylesheet) = fetch(&app, SHARED_STYLESHEET).await;
    for origin in ["http://", "https://"] {
        let named = script.contains(origin) || stylesheet.contains(origin);
        assert!(!named, "the shared staff files name another origin");
    }
    // The shared helpers build every element the pages show from server data.
    let markup = script.contains("innerHTML");
    assert!(!markup, "{SHARED_SCRIPT} writes server data as text only");
}
