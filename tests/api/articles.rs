//! Supervisors edit the help centre through the API; every change is re-indexed by
//! content hash, and a deleted article leaves nothing behind in retrieval.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, spawn_app};

const ARTICLE: &str = "---
id: lounge-access
title: Airport lounge access
tags: [travel, cards]
language: en
updated: 2026-12-01
---

# Airport lounge access

Metal plan customers get four free visits a year to partner airport lounges. Show the
zorblat pass in the app at the lounge desk.
";

async fn search(app: &TestApp, supervisor: &str, question: &str) -> Value {
    let response = app
        .send_as(
            Method::POST,
            "/api/v1/knowledge/search",
            supervisor,
            Some(&json!({ "question": question })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

fn article_ids(found: &Value) -> Vec<String> {
    found["passages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["article_id"].as_str().map(str::to_owned))
        .collect()
}

async fn put(app: &TestApp, supervisor: &str, id: &str, document: &str) -> reqwest::Response {
    app.send_as(
        Method::PUT,
        &format!("/api/v1/articles/{id}"),
        supervisor,
        Some(&json!({ "document": document })),
    )
    .await
}

#[tokio::test]
async fn articles_are_added_changed_and_deleted_with_only_what_changed_reindexed() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;

    let list: Value = app
        .send_as(Method::GET, "/api/v1/articles", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    let shipped = list["articles"].as_array().map_or(0, Vec::len);
    assert!(shipped >= 40, "the shipped help centre is in force");
    assert!(
        !article_ids(&search(&app, &supervisor, "zorblat pass").await)
            .contains(&"lounge-access".to_owned())
    );

    let created = put(&app, &supervisor, "lounge-access", ARTICLE).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["status"], "created");
    assert!(created["chunks"].as_u64().unwrap_or_default() >= 1);
    let found = search(&app, &supervisor, "zorblat pass").await;
    assert_eq!(article_ids(&found)[0], "lounge-access");

    // The same document again changes nothing and indexes nothing.
    let again: Value = put(&app, &supervisor, "lounge-access", ARTICLE)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["chunks"], 0);

    // A changed document replaces its passages: the old wording is gone.
    let changed = ARTICLE.replace("zorblat", "quindle");
    let updated: Value = put(&app, &supervisor, "lounge-access", &changed)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(updated["status"], "updated");
    assert_ne!(updated["content_hash"], created["content_hash"]);
    assert_eq!(
        article_ids(&search(&app, &supervisor, "quindle pass").await)[0],
        "lounge-access"
    );
    let old = search(&app, &supervisor, "zorblat").await;
    assert!(
        !old["passages"].to_string().contains("zorblat"),
        "old passages are replaced: {old}"
    );

    // A customer's question is answered from it, with a citation.
    let conversation = app.start_conversation("lounge-1").await;
    app.post_message(
        &conversation,
        "How do I use the quindle pass at the lounge?",
        None,
    )
    .await;
    let transcript = app
        .wait_for_transcript(&conversation, |m| m.len() >= 2)
        .await;
    assert_eq!(transcript[1]["citations"][0]["article_id"], "lounge-access");

    // Deleting leaves no passage behind, and survives a restart.
    let deleted = app
        .send_as(
            Method::DELETE,
            "/api/v1/articles/lounge-access",
            &supervisor,
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(
        !article_ids(&search(&app, &supervisor, "quindle pass").await)
            .contains(&"lounge-access".to_owned())
    );
    let app = app.restart().await;
    let gone = app
        .send_as(
            Method::GET,
            "/api/v1/articles/lounge-access",
            &supervisor,
            None,
        )
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(
        !article_ids(&search(&app, &supervisor, "quindle pass").await)
            .contains(&"lounge-access".to_owned())
    );
    let list: Value = app
        .send_as(Method::GET, "/api/v1/articles", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["articles"].as_array().map_or(0, Vec::len), shipped);
}

#[tokio::test]
async fn a_shipped_article_can_be_read_edited_and_kept_across_restarts() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let read: Value = app
        .send_as(Method::GET, "/api/v1/articles/refunds", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    let document = read["document"].as_str().expect("the document").to_owned();
    assert!(document.starts_with("---\nid: refunds"));

    let edited = format!("{document}\nAsk about the glimmerfee refund window.\n");
    let saved: Value = put(&app, &supervisor, "refunds", &edited)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(saved["status"], "updated");

    let app = app.restart().await;
    let found = search(&app, &supervisor, "glimmerfee refund window").await;
    assert_eq!(article_ids(&found)[0], "refunds");
}

#[tokio::test]
async fn bad_articles_are_refused_with_a_code_and_change_nothing() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let cases = [
        ("lounge-access", "no front matter at all", "invalid_article"),
        ("other-id", ARTICLE, "id_mismatch"),
        ("Bad_Id", ARTICLE, "invalid_article_id"),
    ];
    for (id, document, code) in cases {
        let response = put(&app, &supervisor, id, document).await;
        assert_eq!(
            error_code(response).await,
            (StatusCode::UNPROCESSABLE_ENTITY, code.to_owned()),
            "{id}"
        );
    }
    let too_long = format!("{ARTICLE}{}", "x".repeat(61_000));
    let response = put(&app, &supervisor, "lounge-access", &too_long).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app
        .send_as(
            Method::DELETE,
            "/api/v1/articles/no-such-article",
            &supervisor,
            None,
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Only supervisors edit the help centre.
    let anonymous = app
        .client
        .put(app.url("/api/v1/articles/lounge-access"))
        .json(&json!({ "document": ARTICLE }))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let list: Value = app
        .send_as(
            Method::GET,
            "/api/v1/articles/lounge-access",
            &supervisor,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["error"]["code"], "not_found");
}
