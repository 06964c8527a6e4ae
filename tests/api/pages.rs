//! The pages people use: the agent console and the supervisor's page are served from
//! the binary, load only our own scripts and stylesheet, and each page's script calls
//! the routes it depends on; the widget shows streamed, cited replies; the public help
//! centre renders every article with the anchors citations point at, as text only.

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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
            "/api/v1/agent/conversations/",
            "/evidence",
            "/api/v1/articles",
            "/api/v1/knowledge/search",
            "/api/v1/prompts",
            "/api/v1/prompts/reload",
            "/api/v1/intents",
            "/api/v1/intents/examples",
            "/api/v1/intents/model",
            "/api/v1/triage",
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

#[tokio::test]
async fn the_supervisor_page_has_the_help_centre_tab_and_the_reply_evidence() {
    let app = spawn_app().await;
    let (_, page) = fetch(&app, "/supervisor").await;
    let elements = [
        "data-tab=\"help\"",
        "id=\"tab-help\"",
        "id=\"article-filter\"",
        "id=\"articles\"",
        "id=\"article-editor\"",
        "id=\"article-save\"",
        "id=\"article-delete\"",
        "id=\"article-new\"",
        "id=\"try-question\"",
        "id=\"prompts-reload\"",
        "id=\"messages\"",
    ];
    for element in elements {
        assert!(page.contains(element), "the supervisor page has {element}");
    }
    let (_, script) = fetch(&app, "/supervisor.js").await;
    for text in [
        "Why this reply",
        "Reload prompts",
        "contributions",
        "confirm(",
    ] {
        let named = script.contains(text) || page.contains(text);
        assert!(named, "the supervisor page shows {text:?}");
    }
}

#[tokio::test]
async fn the_supervisor_page_has_the_intents_tab_and_the_triage_probe() {
    let app = spawn_app().await;
    let (_, page) = fetch(&app, "/supervisor").await;
    let elements = [
        "data-tab=\"intents\"",
        "id=\"tab-intents\"",
        "id=\"intent-model\"",
        "id=\"intent-labels\"",
        "id=\"example-label\"",
        "id=\"example-texts\"",
        "id=\"intent-examples\"",
        "id=\"triage-text\"",
        "id=\"triage-result\"",
    ];
    for element in elements {
        assert!(page.contains(element), "the supervisor page has {element}");
    }
    let (_, script) = fetch(&app, "/supervisor.js").await;
    for text in [
        "out of scope",
        "alternatives",
        "reasons",
        "top_features",
        "retrain_queued",
    ] {
        assert!(script.contains(text), "the intents tab shows {text:?}");
    }
}

#[tokio::test]
async fn the_widget_streams_replies_and_links_only_help_centre_sources_as_text() {
    let app = spawn_app().await;
    let (content_type, page) = fetch(&app, "/widget").await;
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains("<script src=\"/widget.js\"></script>"));
    assert!(
        page.contains(".fd-sources"),
        "the widget styles its sources"
    );

    let (_, script) = fetch(&app, "/widget.js").await;
    let handled = [
        "reply.started",
        "reply.delta",
        "reply.retracted",
        "citations",
        "Sources: ",
        "startsWith(\"/help/\")",
        "blockquote",
    ];
    for text in handled {
        assert!(script.contains(text), "widget.js handles {text:?}");
    }
    assert!(!script.contains("innerHTML"), "widget.js writes text only");
}

const HELP_ARTICLE: &str = "/help/card-delivery-and-tracking";

/// Fetches a help-centre path, checks its content type and policy, and returns the
/// status and body.
async fn fetch_help(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(app.url(path)).send().await.expect("sent");
    let status = response.status();
    let headers = response.headers();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    let policy = headers[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii policy")
        .to_owned();
    let cases = [
        ("default-src 'none'", true),
        ("style-src 'self'", true),
        ("frame-ancestors 'none'", true),
        ("script-src", false),
        ("unsafe-inline", false),
    ];
    for (directive, present) in cases {
        assert_eq!(policy.contains(directive), present, "{path}: {policy}");
    }
    (status, response.text().await.expect("text"))
}

#[tokio::test]
async fn a_shipped_article_is_a_page_with_its_title_and_heading_anchors() {
    let app = spawn_app().await;
    let (status, html) = fetch_help(&app, HELP_ARTICLE).await;
    assert_eq!(status, StatusCode::OK);
    let expected = [
        "<html lang=\"en\">",
        "<title>Card delivery times and tracking your card · Help centre</title>",
        "<h1 id=\"card-delivery-times-and-tracking-your-card\">",
        "<h2 id=\"how-long-will-my-card-take\">How long will my card take?</h2>",
        "<h3 id=\"when-to-report-it\">",
        "<th>Delivery option</th>",
        "<strong>Cards</strong>",
        "<link rel=\"stylesheet\" href=\"/help.css\">",
    ];
    for text in expected {
        assert!(html.contains(text), "the article page has {text}");
    }
    assert!(!html.contains("<script"), "the article page runs no script");
}

#[tokio::test]
async fn every_anchor_the_search_cites_is_a_heading_on_the_article_page() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let body = json!({ "question": "how long does card delivery take", "limit": 20 });
    let response = app
        .send_as(
            Method::POST,
            "/api/v1/knowledge/search",
            &supervisor,
            Some(&body),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let found: Value = response.json().await.expect("json");

    let mut checked = 0;
    for passage in found["passages"].as_array().expect("passages") {
        let url = passage["url"].as_str().expect("url");
        let Some((path, anchor)) = url.split_once('#') else {
            continue;
        };
        let (status, html) = fetch_help(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains(&format!(" id=\"{anchor}\"")), "{url} lands");
        checked += 1;
    }
    assert!(checked > 0, "the search cited at least one heading");
}

#[tokio::test]
async fn hostile_markdown_is_shown_as_text_and_unsafe_links_lose_their_target() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let document = "---
id: hostile-page
title: Fees <img src=x onerror=alert(2)>
tags: [test]
language: en
---

# Fees

<script>alert(1)</script>

Click [x](javascript:alert(1)) or [y](//evil.example) or [fees](/help/account-fees-overview).

| a | b |
|---|---|
| <b>bold</b> | `<i>` |
";
    let response = app
        .send_as(
            Method::PUT,
            "/api/v1/articles/hostile-page",
            &supervisor,
            Some(&json!({ "document": document })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let (status, html) = fetch_help(&app, "/help/hostile-page").await;
    assert_eq!(status, StatusCode::OK);
    let absent = [
        "<script",
        "<img",
        "<b>bold",
        "<i>",
        "javascript:",
        "href=\"//evil",
    ];
    for text in absent {
        assert!(!html.contains(text), "{text} is not on the page: {html}");
    }
    let present = [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "Fees &lt;img src=x onerror=alert(2)&gt;",
        "&lt;b&gt;bold&lt;/b&gt;",
        "<code>&lt;i&gt;</code>",
        "<a href=\"/help/account-fees-overview\">fees</a>",
    ];
    for text in present {
        assert!(html.contains(text), "{text} is on the page: {html}");
    }
}

#[tokio::test]
async fn an_unknown_article_is_a_404_page() {
    let app = spawn_app().await;
    let (status, html) = fetch_help(&app, "/help/no-such-article").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such article"), "{html}");
    assert!(
        html.contains("href=\"/help\""),
        "the 404 page links the index"
    );
}

#[tokio::test]
async fn the_help_index_links_every_article_in_force() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let list: Value = app
        .send_as(Method::GET, "/api/v1/articles", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    let articles = list["articles"].as_array().expect("articles");
    assert!(articles.len() >= 40, "{} articles", articles.len());

    let (status, html) = fetch_help(&app, "/help").await;
    assert_eq!(status, StatusCode::OK);
    for article in articles {
        let id = article["id"].as_str().expect("id");
        let link = format!("<a href=\"/help/{id}\">");
        assert!(html.contains(&link), "the index links {id}");
    }
    assert_eq!(html.matches("<li lang=").count(), articles.len());
}

#[tokio::test]
async fn the_help_stylesheet_is_css_with_nosniff() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/help.css"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers[CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
}
