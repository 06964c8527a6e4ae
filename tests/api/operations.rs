//! What operators and integrators rely on: health, readiness, metrics, the OpenAPI
//! document and the widget page.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_answer_ok() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_accepted_messages() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("ops-1").await;
    app.post_message(&conversation, "count me", None).await;

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");

    assert!(
        text.contains("frontdesk_messages_accepted_total 1"),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/conversations/{id}/messages""#),
        "{text}"
    );
    assert!(!text.contains(&conversation.id), "no identifiers in labels");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let served: BTreeSet<String> = [
        "/api/v1/conversations",
        "/api/v1/conversations/{id}",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/conversations/{id}/typing",
        "/api/v1/conversations/{id}/events",
        "/api/v1/conversations/{id}/ws",
        "/api/v1/conversations/{id}/decisions",
        "/api/v1/agents",
        "/api/v1/agents/{agent_id}",
        "/api/v1/agents/{agent_id}/tokens",
        "/api/v1/me",
        "/api/v1/me/presence",
        "/api/v1/audit",
        "/api/v1/me/offers",
        "/api/v1/me/conversations",
        "/api/v1/offers/{offer_id}/accept",
        "/api/v1/offers/{offer_id}/reject",
        "/api/v1/agent/conversations/{id}",
        "/api/v1/agent/conversations/{id}/messages",
        "/api/v1/agent/conversations/{id}/notes",
        "/api/v1/agent/conversations/{id}/typing",
        "/api/v1/agent/conversations/{id}/transfer",
        "/api/v1/agent/conversations/{id}/resolve",
        "/api/v1/agent/conversations/{id}/handback",
        "/api/v1/agent/ws",
        "/api/v1/supervisor/live",
        "/api/v1/rules",
        "/api/v1/rules/versions",
        "/api/v1/rules/versions/{version}",
        "/api/v1/rules/versions/{version}/simulate",
        "/api/v1/rules/versions/{version}/publish",
        "/api/v1/rules/rollback",
        "/api/v1/supervisor/conversations/{id}/assign",
        "/api/v1/supervisor/conversations/{id}/move",
        "/api/v1/articles",
        "/api/v1/articles/{id}",
        "/api/v1/knowledge/search",
        "/api/v1/messages/{id}/evidence",
        "/api/v1/prompts",
        "/api/v1/prompts/reload",
        "/api/v1/intents",
        "/api/v1/intents/examples",
        "/api/v1/intents/examples/{id}",
        "/api/v1/intents/model",
        "/api/v1/triage",
        "/help",
        "/help/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn the_widget_page_and_script_are_served() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(app.url("/widget"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("text").contains("widget.js"));
    let script = app
        .client
        .get(app.url("/widget.js"))
        .send()
        .await
        .expect("sent");
    assert!(
        script
            .text()
            .await
            .expect("text")
            .contains("/api/v1/conversations")
    );
}
