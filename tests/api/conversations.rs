//! Starting conversations, posting messages and reading transcripts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app};

#[tokio::test]
async fn starting_a_conversation_returns_an_id_and_a_token() {
    let app = spawn_app().await;
    let body = json!({ "customer": {
        "external_id": "cust-1", "name": "Ada", "email": "ada@example.com",
        "language": "en", "tier": "gold", "attributes": { "plan": "metal" },
    }});

    let response = app.post_json("/api/v1/conversations", &body).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["conversation_id"]
            .as_str()
            .is_some_and(|s| s.len() == 36)
    );
    assert!(
        body["customer_token"]
            .as_str()
            .is_some_and(|s| s.starts_with("fdc_"))
    );
    assert_eq!(body["state"], "bot");
}

#[tokio::test]
async fn a_message_is_stored_and_appears_in_the_transcript() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-2").await;

    let response = app
        .post_message(&conversation, "Where is my card?", None)
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.expect("json");
    assert_eq!(message["text"], "Where is my card?");
    assert_eq!(message["author"]["kind"], "customer");
    assert_eq!(message["seq"], 1);
    let transcript = app.transcript(&conversation).await;
    assert_eq!(transcript[0]["id"], message["id"]);
}

#[tokio::test]
async fn a_message_left_to_the_bot_gets_a_bot_reply_and_stays_with_the_bot() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-3").await;

    app.post_message(&conversation, "I need help", None).await;

    let transcript = app
        .wait_for_transcript(&conversation, |m| m.len() >= 2)
        .await;
    assert_eq!(transcript.len(), 2, "customer message and the bot's reply");
    assert_eq!(transcript[1]["author"]["kind"], "bot");
    assert!(transcript[1]["citations"].is_array());
    let state = app.conversation_state(&conversation).await;
    assert_eq!(state["state"], "bot");
}

#[tokio::test]
async fn asking_for_a_person_queues_the_conversation_with_a_notice() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-3b").await;

    app.post_message(&conversation, "I want to talk to a human", None)
        .await;

    let transcript = app
        .wait_for_transcript(&conversation, |m| m.len() >= 2)
        .await;
    assert_eq!(transcript[1]["author"]["kind"], "system");
    let state = app.conversation_state(&conversation).await;
    assert_eq!(state["state"], "queued");
    assert_eq!(state["queue"], "general");
}

#[tokio::test]
async fn a_message_posted_twice_with_one_idempotency_key_is_stored_once() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-4").await;

    let first = app
        .post_message(&conversation, "hello", Some("key-1"))
        .await;
    let second = app
        .post_message(&conversation, "hello", Some("key-1"))
        .await;

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let first: Value = first.json().await.expect("json");
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);
    let customer_messages = app
        .transcript(&conversation)
        .await
        .into_iter()
        .filter(|m| m["author"]["kind"] == "customer")
        .count();
    assert_eq!(customer_messages, 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_store_one_message() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-5").await;

    let attempts = (0..8).map(|_| app.post_message(&conversation, "same", Some("race")));
    let responses = futures_util::future::join_all(attempts).await;

    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        ids.push(body["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry returns the one stored message");
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_other_text_is_a_conflict() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-6").await;
    app.post_message(&conversation, "first", Some("k")).await;

    let response = app.post_message(&conversation, "second", Some("k")).await;

    assert_eq!(
        error_code(response).await,
        (StatusCode::CONFLICT, "idempotency_key_reused".into())
    );
    let texts: Vec<Value> = app
        .transcript(&conversation)
        .await
        .into_iter()
        .map(|m| m["text"].clone())
        .collect();
    assert!(!texts.contains(&json!("second")));
}

#[tokio::test]
async fn transcript_pages_follow_next_after() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-7").await;
    for i in 0..5 {
        let key = format!("k{i}");
        app.post_message(&conversation, &format!("m{i}"), Some(&key))
            .await;
    }

    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page: Value = app
            .client
            .get(app.url(&format!(
                "/api/v1/conversations/{}/messages?after={after}&limit=2",
                conversation.id
            )))
            .bearer_auth(&conversation.token)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        for m in page["messages"].as_array().expect("array") {
            seen.push(m["seq"].as_i64().expect("seq"));
        }
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and do not overlap");
    assert!(seen.len() >= 5);
}

#[tokio::test]
async fn a_token_opens_only_its_own_conversation() {
    let app = spawn_app().await;
    let mine = app.start_conversation("cust-8").await;
    let theirs = app.start_conversation("cust-9").await;

    let response = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{}/messages", theirs.id)))
        .bearer_auth(&mine.token)
        .send()
        .await
        .expect("sent");

    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
}

#[tokio::test]
async fn a_conversation_survives_a_restart() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("cust-10").await;
    app.post_message(&conversation, "still there?", None).await;

    let app = app.restart().await;

    let transcript = app.transcript(&conversation).await;
    assert_eq!(transcript[0]["text"], "still there?");
    let response = app.post_message(&conversation, "after restart", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
