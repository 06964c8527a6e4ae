//! Triage and routing of customer messages, end to end.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Started, TestApp, spawn_app};

async fn decisions(app: &TestApp, supervisor: &str, conversation: &Started) -> Vec<Value> {
    let body: Value = app
        .send_as(
            Method::GET,
            &format!("/api/v1/conversations/{}/decisions", conversation.id),
            supervisor,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    body["decisions"].as_array().expect("decisions").clone()
}

#[tokio::test]
async fn every_customer_message_carries_its_triage_in_the_transcript() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("r-1").await;

    app.post_message(&conversation, "My card was stolen, block it now!", None)
        .await;

    let transcript = app
        .wait_for_transcript(&conversation, |m| !m[0]["triage"].is_null())
        .await;
    let triage = &transcript[0]["triage"];
    assert_eq!(triage["intent"]["label"], "lost_or_stolen_card", "{triage}");
    assert!(["high", "critical"].contains(&triage["urgency"]["level"].as_str().unwrap_or("")));
    assert_eq!(triage["language"]["code"], "en");
}

#[tokio::test]
async fn a_stolen_card_is_queued_urgently_with_an_explained_decision() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let conversation = app.start_conversation("r-2").await;

    app.post_message(&conversation, "My card was stolen, block it now!", None)
        .await;
    app.wait_for_transcript(&conversation, |m| m.len() >= 2)
        .await;

    let state = app.conversation_state(&conversation).await;
    assert_eq!(state["state"], "queued");
    assert_eq!(state["queue"], "cards");
    let decisions = decisions(&app, &supervisor, &conversation).await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["rule_name"], "card-security");
    let explanation = &decisions[0]["explanation"];
    assert_eq!(explanation["matched_rule"], "card-security");
    assert_eq!(
        explanation["context"]["triage.intent"],
        "lost_or_stolen_card"
    );
}

#[tokio::test]
async fn decisions_are_for_supervisors_only() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("r-3").await;

    let response = app
        .send_as(
            Method::GET,
            &format!("/api/v1/conversations/{}/decisions", conversation.id),
            &conversation.token,
            None,
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
