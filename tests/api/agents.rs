//! The team roster: supervisors manage agents; every change is audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, spawn_app};

async fn create_agent(app: &TestApp, supervisor: &str, body: Value) -> (String, String) {
    let response = app
        .send_as(Method::POST, "/api/v1/agents", supervisor, Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    (
        body["agent"]["id"].as_str().expect("id").to_owned(),
        body["token"].as_str().expect("token").to_owned(),
    )
}

#[tokio::test]
async fn a_supervisor_creates_an_agent_who_can_then_authenticate() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let body = json!({ "name": "Carla Cards", "skills": { "cards": 3 },
        "languages": ["en"], "capacity": 1 });

    let (id, token) = create_agent(&app, &supervisor, body).await;

    let me: Value = app
        .send_as(Method::GET, "/api/v1/me", &token, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["skills"]["cards"], 3);
    assert_eq!(me["role"], "agent");
    assert_eq!(me["presence"], "offline");
}

#[tokio::test]
async fn only_supervisors_manage_the_team() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (_, agent) = create_agent(&app, &supervisor, json!({ "name": "Al" })).await;
    let customer = app.start_conversation("c-1").await;
    let body = json!({ "name": "Mallory" });

    let cases = [
        (
            "agent token",
            Some(agent.as_str()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "customer token",
            Some(customer.token.as_str()),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "revoked or unknown",
            Some("fda_nope"),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
    ];
    for (case, token, status, code) in cases {
        let response = app
            .send_as(
                Method::POST,
                "/api/v1/agents",
                token.unwrap_or_default(),
                Some(&body),
            )
            .await;
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "case: {case}"
        );
    }
    let agents: Value = app
        .send_as(Method::GET, "/api/v1/agents", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        agents["agents"].as_array().expect("list").len(),
        2,
        "nobody was added"
    );
}

#[tokio::test]
async fn changing_skills_and_capacity_is_audited() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (id, _) = create_agent(&app, &supervisor, json!({ "name": "Dieter" })).await;

    let changes = json!({ "skills": { "general": 2 }, "languages": ["de"], "capacity": 2 });
    let response = app
        .send_as(
            Method::PATCH,
            &format!("/api/v1/agents/{id}"),
            &supervisor,
            Some(&changes),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let agent: Value = response.json().await.expect("json");
    assert_eq!(agent["capacity"], 2);
    assert_eq!(agent["languages"], json!(["de"]));
    let audit: Value = app
        .send_as(Method::GET, "/api/v1/audit", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    let entries = audit["entries"].as_array().expect("entries");
    let update = entries
        .iter()
        .find(|e| e["action"] == "agent.updated")
        .expect("the update is audited");
    assert_eq!(update["subject_id"], id.as_str());
    assert_eq!(update["actor_kind"], "supervisor");
    assert_eq!(update["detail"]["capacity"], 2);
}

#[tokio::test]
async fn invalid_agent_profiles_are_rejected_and_nothing_is_created() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let cases = [
        ("empty name", json!({ "name": " " }), "invalid_field"),
        (
            "skill level 0",
            json!({ "name": "a", "skills": { "cards": 0 } }),
            "invalid_skills",
        ),
        (
            "skill level 11",
            json!({ "name": "a", "skills": { "cards": 11 } }),
            "invalid_skills",
        ),
        (
            "skill name",
            json!({ "name": "a", "skills": { "card s": 1 } }),
            "invalid_skills",
        ),
        (
            "language",
            json!({ "name": "a", "languages": ["english"] }),
            "invalid_language",
        ),
        (
            "capacity",
            json!({ "name": "a", "capacity": 99 }),
            "invalid_capacity",
        ),
        (
            "negative capacity",
            json!({ "name": "a", "capacity": -1 }),
            "invalid_capacity",
        ),
        (
            "role",
            json!({ "name": "a", "role": "admin" }),
            "invalid_field",
        ),
        (
            "email",
            json!({ "name": "a", "email": "x" }),
            "invalid_email",
        ),
    ];
    for (case, body, code) in cases {
        let response = app
            .send_as(Method::POST, "/api/v1/agents", &supervisor, Some(&body))
            .await;
        assert_eq!(
            error_code(response).await,
            (StatusCode::UNPROCESSABLE_ENTITY, code.to_owned()),
            "case: {case}"
        );
    }
    let agents: Value = app
        .send_as(Method::GET, "/api/v1/agents", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(agents["agents"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn a_second_email_of_the_same_address_is_a_conflict() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let body = json!({ "name": "Eve", "email": "eve@example.com" });
    create_agent(&app, &supervisor, body.clone()).await;

    let response = app
        .send_as(Method::POST, "/api/v1/agents", &supervisor, Some(&body))
        .await;

    assert_eq!(
        error_code(response).await,
        (StatusCode::CONFLICT, "email_taken".into())
    );
}

#[tokio::test]
async fn agents_set_their_presence_and_extra_tokens_work() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (id, token) = create_agent(&app, &supervisor, json!({ "name": "Olga" })).await;

    let response = app
        .send_as(
            Method::PUT,
            "/api/v1/me/presence",
            &token,
            Some(&json!({ "presence": "online" })),
        )
        .await;
    let agent: Value = response.json().await.expect("json");
    assert_eq!(agent["presence"], "online");
    assert!(agent["last_seen_at"].is_i64());

    let issued: Value = app
        .send_as(
            Method::POST,
            &format!("/api/v1/agents/{id}/tokens"),
            &supervisor,
            Some(&json!({ "label": "laptop" })),
        )
        .await
        .json()
        .await
        .expect("json");
    let second = issued["token"].as_str().expect("token");
    let me = app.send_as(Method::GET, "/api/v1/me", second, None).await;
    assert_eq!(me.status(), StatusCode::OK);
}
