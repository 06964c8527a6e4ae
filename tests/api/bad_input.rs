//! Bad input gets a JSON error with a status and a machine code, and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_code, spawn_app};

#[tokio::test]
async fn malformed_conversation_requests_are_rejected_with_codes() {
    let app = spawn_app().await;
    let long_name = "x".repeat(201);
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            "malformed json",
            b"{\"customer\":".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "invalid utf-8",
            b"{\"customer\":{\"external_id\":\"\xff\xfe\"}}".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "wrong type",
            br#"{"customer":{"external_id":42}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "missing field",
            br#"{"customer":{}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "unknown field",
            br#"{"customer":{"external_id":"a"},"x":1}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "empty external id",
            br#"{"customer":{"external_id":"  "}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_external_id",
        ),
        (
            "bad email",
            br#"{"customer":{"external_id":"a","email":"nope"}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
        (
            "bad language",
            br#"{"customer":{"external_id":"a","language":"english"}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_language",
        ),
        (
            "long name",
            format!(r#"{{"customer":{{"external_id":"a","name":"{long_name}"}}}}"#).into_bytes(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "not json content type",
            br#"{"customer":{"external_id":"a"}}"#.to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "oversized body",
            vec![b' '; 70 * 1024],
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];

    for (case, body, content_type, status, code) in cases {
        let response = app
            .client
            .post(app.url("/api/v1/conversations"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "case: {case}"
        );
    }
}

#[tokio::test]
async fn bad_messages_are_rejected_and_nothing_is_stored() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("bad-1").await;
    let too_long = "a".repeat(4001);
    let cases = [
        (
            "empty",
            json!({ "text": "" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_message",
        ),
        (
            "blank",
            json!({ "text": " \n\t" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_message",
        ),
        (
            "nul byte",
            json!({ "text": "a\u{0}b" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            "too long",
            json!({ "text": too_long }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "message_too_long",
        ),
        (
            "wrong type",
            json!({ "text": 5 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "missing text",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];

    for (case, body, status, code) in cases {
        let response = app
            .client
            .post(app.url(&format!(
                "/api/v1/conversations/{}/messages",
                conversation.id
            )))
            .bearer_auth(&conversation.token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "case: {case}"
        );
    }
    assert!(app.transcript(&conversation).await.is_empty());
}

#[tokio::test]
async fn unknown_conversations_and_wrong_tokens_are_told_apart() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("bad-2").await;
    let unknown = uuid::Uuid::new_v4();
    let base = "/api/v1/conversations";
    let cases = [
        (
            "unknown id",
            format!("{base}/{unknown}/messages"),
            Some(conversation.token.as_str()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "not a uuid",
            format!("{base}/nope/messages"),
            Some(conversation.token.as_str()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong token",
            format!("{base}/{}/messages", conversation.id),
            Some("fdc_wrong"),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "no token",
            format!("{base}/{}/messages", conversation.id),
            None,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
    ];

    for (case, path, token, status, code) in cases {
        let mut request = app
            .client
            .post(app.url(&path))
            .json(&json!({ "text": "hi" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "case: {case}"
        );
    }
    assert!(app.transcript(&conversation).await.is_empty());
}

#[tokio::test]
async fn bad_idempotency_keys_and_page_sizes_are_rejected() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("bad-3").await;

    let long_key = "k".repeat(256);
    let response = app.post_message(&conversation, "hi", Some(&long_key)).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::BAD_REQUEST, "invalid_idempotency_key".into())
    );

    for query in ["limit=0", "limit=201", "limit=x", "after=abc"] {
        let response = app
            .client
            .get(app.url(&format!(
                "/api/v1/conversations/{}/messages?{query}",
                conversation.id
            )))
            .bearer_auth(&conversation.token)
            .send()
            .await
            .expect("sent");
        let (status, _) = error_code(response).await;
        assert!(status.is_client_error(), "query {query}: {status}");
    }
    assert!(app.transcript(&conversation).await.is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );

    let response = app
        .client
        .delete(app.url("/api/v1/conversations"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_code(response).await,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );
}
