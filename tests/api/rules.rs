//! Rule versions: validation, simulation over stored traffic, publishing and rolling
//! back without a restart.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Started, TestApp, audit_entries, call, error_code, spawn_app};

/// Sends a message and waits until the pipeline has decided on it.
async fn routed(app: &TestApp, external_id: &str, text: &str) -> (Started, Value) {
    let conversation = app.start_conversation(external_id).await;
    app.post_message(&conversation, text, None).await;
    app.wait_for_transcript(&conversation, |m| m.len() >= 2)
        .await;
    let state = app.conversation_state(&conversation).await;
    (conversation, state)
}

#[tokio::test]
async fn an_invalid_draft_names_each_problem_and_its_rule() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let document = r#"
[default]
action = "bot"

[[rules]]
name = "typo"
when = 'triage.intnet == "complaint"'
action = "handoff"
reason = "complaint"
[[rules.targets]]
queue = "care"

[[rules]]
name = "no-reason"
when = 'triage.urgency == "critical"'
action = "handoff"
[[rules.targets]]
queue = "general"
"#;
    let response = app
        .send_as(
            Method::POST,
            "/api/v1/rules/versions",
            &supervisor,
            Some(&json!({ "document": document })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_rules");
    let problems: Vec<&str> = body["error"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("typo") && problems[0].contains("triage.intnet"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("line"),
        "the position is named: {problems:?}"
    );
    assert!(problems[1].contains("no-reason"), "{problems:?}");

    let (status, listed) = call(&app, Method::GET, "/api/v1/rules", &supervisor, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["versions"].as_array().map(Vec::len),
        Some(0),
        "nothing was saved"
    );
}

#[tokio::test]
async fn a_draft_is_simulated_published_and_rolled_back_without_a_restart() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (_, before) = routed(&app, "sim-1", "My card was stolen, block it now!").await;
    assert_eq!(before["queue"], "cards");
    routed(&app, "sim-2", "I want to talk to a human").await;

    // Save what is in force as version 1 and a draft as version 2.
    let (_, overview) = call(&app, Method::GET, "/api/v1/rules", &supervisor, None).await;
    assert_eq!(overview["in_force"]["source"], "shipped");
    let shipped = overview["in_force"]["document"]
        .as_str()
        .expect("document")
        .to_owned();
    let draft = shipped.replacen("queue = \"cards\"", "queue = \"fraud\"", 1);
    assert_ne!(draft, shipped);
    let (status, v1) = call(
        &app,
        Method::POST,
        "/api/v1/rules/versions",
        &supervisor,
        Some(json!({ "document": shipped, "note": "as shipped" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["diff_from_in_force"].as_array().map(Vec::len), Some(0));
    let (status, v2) = call(
        &app,
        Method::POST,
        "/api/v1/rules/versions",
        &supervisor,
        Some(json!({ "document": draft, "note": "fraud desk" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    let diff = v2["diff_from_in_force"].as_array().expect("diff");
    assert_eq!(diff.len(), 2, "{diff:?}");
    assert!(
        diff.iter()
            .any(|d| d["op"] == "+" && d["text"].as_str().is_some_and(|t| t.contains("fraud")))
    );

    // The simulation reports the move and the load, and live routing is untouched.
    let (status, simulated) = call(
        &app,
        Method::POST,
        "/api/v1/rules/versions/2/simulate",
        &supervisor,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{simulated}");
    let report = &simulated["simulation"]["report"];
    assert_eq!(report["cases"], 2, "{report}");
    assert_eq!(report["hits_per_rule"]["card-security"], 1);
    assert_eq!(report["hits_per_rule"]["asked-for-human"], 1);
    let moves = report["moves"].as_array().expect("moves");
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(
        (moves[0]["from"].as_str(), moves[0]["to"].as_str()),
        (Some("cards"), Some("fraud"))
    );
    assert_eq!(report["queues"]["fraud"]["conversations"], 1);
    let (_, still) = routed(&app, "sim-3", "My card was stolen, block it now!").await;
    assert_eq!(still["queue"], "cards", "simulation changes nothing live");

    // Publishing applies to the next message; rolling back restores the earlier version.
    for version in [1, 2] {
        let (status, body) = call(
            &app,
            Method::POST,
            &format!("/api/v1/rules/versions/{version}/publish"),
            &supervisor,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, after) = routed(&app, "sim-4", "My card was stolen, block it now!").await;
    assert_eq!(after["queue"], "fraud");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/rules/rollback",
        &supervisor,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["in_force"], 1);
    let (_, back) = routed(&app, "sim-5", "My card was stolen, block it now!").await;
    assert_eq!(back["queue"], "cards");

    // Each version keeps its author and time; each publication is audited.
    let (_, overview) = call(&app, Method::GET, "/api/v1/rules", &supervisor, None).await;
    assert_eq!(overview["in_force"]["version"], 1);
    let kinds: Vec<&str> = overview["publications"]
        .as_array()
        .expect("publications")
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["rollback", "publish", "publish"]);
    assert!(overview["versions"][0]["author_id"].is_string());
    let entries = audit_entries(&app, &supervisor).await;
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["rules.drafted", "rules.published", "rules.rolled_back"] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }

    // The published version survives a restart.
    let app = app.restart().await;
    let (_, after_restart) = routed(&app, "sim-6", "My card was stolen, block it now!").await;
    assert_eq!(after_restart["queue"], "cards");
    let (_, overview) = call(&app, Method::GET, "/api/v1/rules", &supervisor, None).await;
    assert_eq!(overview["in_force"]["source"], "published");
}

#[tokio::test]
async fn rule_routes_refuse_bad_requests_clearly() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let conversation = app.start_conversation("rules-bad").await;
    let cases = [
        (
            Method::POST,
            "/api/v1/rules/rollback",
            supervisor.as_str(),
            None,
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/rules/versions/9/publish",
            supervisor.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/v1/rules/versions/abc",
            supervisor.as_str(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/rules/versions",
            supervisor.as_str(),
            Some(json!({ "document": "not [toml" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/v1/rules",
            conversation.token.as_str(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (method, path, token, body, expected) in cases {
        let response = app.send_as(method, path, token, body.as_ref()).await;
        let (status, code) = error_code(response).await;
        assert_eq!(status, expected, "{path}: {code}");
    }
}

#[tokio::test]
async fn the_command_line_checks_and_simulates_a_rules_file() {
    let app = spawn_app().await;
    routed(&app, "cli-1", "My card was stolen, block it now!").await;
    let dir = app.settings.data_dir.clone();
    std::fs::create_dir_all(&dir).expect("data directory");
    let good = dir.join("good.toml");
    std::fs::write(&good, frontdesk::domain::routing::DEFAULT_RULES).expect("write");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[default]\naction = \"handoff\"\n").expect("write");

    use frontdesk::cli::routing::{RoutingArgs, RoutingCommand, SimulateArgs, run};
    let check = |rules| RoutingArgs {
        command: RoutingCommand::Check { rules },
    };
    assert!(run(&app.settings, check(good.clone())).await.is_ok());
    assert!(run(&app.settings, check(bad)).await.is_err());
    let simulate = RoutingArgs {
        command: RoutingCommand::Simulate(SimulateArgs {
            rules: good,
            from: None,
            to: None,
            handle_seconds: 300.0,
        }),
    };
    assert!(run(&app.settings, simulate).await.is_ok());
}
