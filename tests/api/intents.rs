//! Intent examples supervisors add at run time: the model retrains in the background,
//! without a restart, and both the triage probe and the pipeline use the new model once
//! it is in force.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_entries, call, error_code, spawn_app};

/// Written for these tests: a label no shipped example has.
const CRYPTO_WALLET: [&str; 10] = [
    "how do I send bitcoin from my crypto wallet",
    "my crypto wallet balance is wrong",
    "can I connect my crypto wallet to the app",
    "I want to buy ethereum with my crypto wallet",
    "the bitcoin I sent never reached my crypto wallet",
    "how do I back up the seed phrase of my crypto wallet",
    "is my crypto wallet safe if I lose my phone",
    "which coins can I keep in the crypto wallet",
    "withdraw bitcoin from the crypto wallet to an exchange",
    "why was my crypto wallet transfer rejected",
];

const CRYPTO_QUESTION: &str = "I can't find the bitcoin in my crypto wallet";

/// Training takes seconds in a debug build, and tests train side by side.
const TRAINING_TIMEOUT: Duration = Duration::from_secs(300);

fn examples(label: &str, texts: &[&str]) -> Value {
    let rows: Vec<Value> = texts
        .iter()
        .map(|text| json!({ "label": label, "text": text }))
        .collect();
    json!({ "examples": rows })
}

async fn add(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let path = "/api/v1/intents/examples";
    call(app, Method::POST, path, token, Some(body)).await
}

async fn model(app: &TestApp, token: &str) -> Value {
    let (status, body) = call(app, Method::GET, "/api/v1/intents/model", token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls the model status until a model newer than `after` is in force and no run is
/// in progress or queued.
async fn wait_for_model(app: &TestApp, token: &str, after: u64) -> Value {
    let deadline = tokio::time::Instant::now() + TRAINING_TIMEOUT;
    loop {
        let status = model(app, token).await;
        let newer = status["generation"].as_u64().is_some_and(|g| g > after);
        let settled = status["state"] != "training" && status["retrain_queued"] == false;
        if newer && settled {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new model in time: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn triage(app: &TestApp, token: &str, text: &str) -> Value {
    let body = json!({ "text": text });
    let (status, record) = call(app, Method::POST, "/api/v1/triage", token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    record
}

async fn labels(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = call(app, Method::GET, "/api/v1/intents", token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["labels"].as_array().expect("labels").clone()
}

fn find<'a>(labels: &'a [Value], label: &str) -> Option<&'a Value> {
    labels.iter().find(|l| l["label"] == label)
}

/// The label the pipeline gave a customer's first message.
async fn pipeline_label(app: &TestApp, external_id: &str, text: &str) -> Value {
    let conversation = app.start_conversation(external_id).await;
    app.post_message(&conversation, text, None).await;
    let transcript = app
        .wait_for_transcript(&conversation, |m| !m[0]["triage"].is_null())
        .await;
    transcript[0]["triage"]["intent"]["label"].clone()
}

#[tokio::test]
async fn examples_of_a_new_label_retrain_the_model_without_a_restart() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let before = model(&app, &supervisor).await;
    assert_eq!(before["generation"], 1, "{before}");
    assert_eq!(before["state"], "idle");
    assert_eq!(before["added_examples"], 0);
    let record = triage(&app, &supervisor, CRYPTO_QUESTION).await;
    assert_ne!(record["intent"]["label"], "crypto_wallet");

    let (status, added) = add(&app, &supervisor, examples("crypto_wallet", &CRYPTO_WALLET)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added}");
    assert_eq!(added["added"], 10);
    assert_eq!(added["duplicates"], 0);
    assert_eq!(added["retrain_requested"], true);
    assert_eq!(added["ids"].as_array().map(Vec::len), Some(10));

    let after = wait_for_model(&app, &supervisor, 1).await;
    assert_eq!(after["generation"], 2, "{after}");
    assert_eq!(after["state"], "idle");
    assert_eq!(after["added_examples"], 10);
    assert_eq!(
        after["labels"],
        before["labels"].as_u64().expect("labels") + 1
    );
    assert!(after["last_training_ms"].is_u64(), "{after}");

    // The probe and a real customer message both get the new label.
    let record = triage(&app, &supervisor, CRYPTO_QUESTION).await;
    assert_eq!(record["intent"]["label"], "crypto_wallet", "{record}");
    for field in [
        "sentiment",
        "urgency",
        "language",
        "explanation",
        "model_version",
    ] {
        assert!(!record[field].is_null(), "the record has {field}: {record}");
    }
    let label = pipeline_label(&app, "crypto-1", CRYPTO_QUESTION).await;
    assert_eq!(label, "crypto_wallet");

    let all = labels(&app, &supervisor).await;
    let crypto = find(&all, "crypto_wallet").expect("the new label is listed");
    assert_eq!(crypto["shipped_examples"], 0);
    assert_eq!(crypto["added_examples"], 10);
    assert_eq!(crypto["in_model"], true);
    let shipped = find(&all, "lost_or_stolen_card").expect("a shipped label");
    assert!(shipped["shipped_examples"].as_u64().is_some_and(|n| n > 0));

    // The addition is audited, with counts and labels but no text.
    let entries = audit_entries(&app, &supervisor).await;
    let entry = entries
        .iter()
        .find(|e| e["action"] == "intents.examples_added")
        .expect("the addition is audited")
        .clone();
    assert_eq!(entry["detail"]["added"], 10, "{entry}");
    assert!(!entry.to_string().contains("bitcoin"), "{entry}");

    // A new start trains its first model on the added examples too.
    let app = app.restart().await;
    let restarted = model(&app, &supervisor).await;
    assert_eq!(restarted["generation"], 1);
    assert_eq!(restarted["added_examples"], 10, "{restarted}");
    let record = triage(&app, &supervisor, CRYPTO_QUESTION).await;
    assert_eq!(record["intent"]["label"], "crypto_wallet");
}

#[tokio::test]
async fn removing_a_labels_examples_retrains_the_label_away() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (_, added) = add(&app, &supervisor, examples("crypto_wallet", &CRYPTO_WALLET)).await;
    let trained = wait_for_model(&app, &supervisor, 1).await;
    let generation = trained["generation"].as_u64().expect("generation");
    let record = triage(&app, &supervisor, CRYPTO_QUESTION).await;
    assert_eq!(record["intent"]["label"], "crypto_wallet");

    for id in added["ids"].as_array().expect("ids") {
        let path = format!("/api/v1/intents/examples/{}", id.as_str().expect("id"));
        let (status, body) = call(&app, Method::DELETE, &path, &supervisor, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let path = "/api/v1/intents/examples/0190f0c4-0000-7000-8000-000000000000";
    let response = app.send_as(Method::DELETE, path, &supervisor, None).await;
    assert_eq!(error_code(response).await.0, StatusCode::NOT_FOUND);

    let after = wait_for_model(&app, &supervisor, generation).await;
    assert_eq!(after["added_examples"], 0, "{after}");
    assert!(find(&labels(&app, &supervisor).await, "crypto_wallet").is_none());
    let record = triage(&app, &supervisor, CRYPTO_QUESTION).await;
    assert_ne!(record["intent"]["label"], "crypto_wallet");
    let label = pipeline_label(&app, "crypto-2", CRYPTO_QUESTION).await;
    assert_ne!(label, "crypto_wallet");

    let entries = audit_entries(&app, &supervisor).await;
    let removals = entries
        .iter()
        .filter(|e| e["action"] == "intents.example_removed")
        .count();
    assert_eq!(removals, 10, "each removal is audited");
}

#[tokio::test]
async fn changes_during_a_training_cause_exactly_one_more_run() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (half, rest) = CRYPTO_WALLET.split_at(5);
    let (status, _) = add(&app, &supervisor, examples("crypto_wallet", half)).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Training takes seconds, so these arrive while the first run is going.
    for text in rest {
        let (status, body) = add(&app, &supervisor, examples("crypto_wallet", &[text])).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["model"]["state"], "training", "{body}");
        assert_eq!(body["model"]["retrain_queued"], true, "{body}");
    }

    let after = wait_for_model(&app, &supervisor, 2).await;
    assert_eq!(after["generation"], 3, "one run, then one more: {after}");
    assert_eq!(
        after["added_examples"], 10,
        "the second run saw every example"
    );
}

#[tokio::test]
async fn a_bad_row_refuses_the_whole_call_and_names_the_row() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let good = json!({ "label": "crypto_wallet", "text": "my crypto wallet is empty" });
    let with = |bad: Value| json!({ "examples": [good.clone(), bad] });
    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({ "label": "bulk", "text": format!("example {i}") }))
        .collect();
    let cases = [
        (
            with(json!({ "label": "Crypto Wallet", "text": "x" })),
            "invalid_label",
            "label with capitals and a space",
        ),
        (
            with(json!({ "label": "_wallet", "text": "x" })),
            "invalid_label",
            "label starting with an underscore",
        ),
        (
            with(json!({ "label": "a".repeat(65), "text": "x" })),
            "invalid_label",
            "label of 65 characters",
        ),
        (
            with(json!({ "label": "crypto_wallet", "text": " \n\t " })),
            "empty_example",
            "blank text",
        ),
        (
            with(json!({ "label": "crypto_wallet", "text": "y".repeat(2001) })),
            "example_too_long",
            "text of 2001 characters",
        ),
        (
            with(json!({ "label": "crypto_wallet", "text": "a\u{7}b" })),
            "invalid_text",
            "control character",
        ),
        (json!({ "examples": [] }), "invalid_example_count", "none"),
        (
            json!({ "examples": too_many }),
            "invalid_example_count",
            "501 examples",
        ),
        (
            with(json!({ "label": "crypto_wallet" })),
            "invalid_field",
            "missing text",
        ),
    ];
    for (body, expected, case) in cases {
        let response = app
            .send_as(
                Method::POST,
                "/api/v1/intents/examples",
                &supervisor,
                Some(&body),
            )
            .await;
        let status = response.status();
        let error: Value = response.json().await.expect("json");
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "case {case}: {error}"
        );
        assert_eq!(error["error"]["code"], expected, "case {case}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        if expected != "invalid_example_count" && expected != "invalid_field" {
            assert!(message.contains("examples[1]"), "case {case}: {message}");
        }
    }

    let path = "/api/v1/intents/examples";
    let (_, listed) = call(&app, Method::GET, path, &supervisor, None).await;
    assert_eq!(listed["examples"], json!([]), "nothing was stored");
    let status = model(&app, &supervisor).await;
    assert_eq!(status["generation"], 1);
    assert_eq!(status["state"], "idle", "no retrain was asked for");
    let path = "/api/v1/intents/examples?label=Not-A-Label";
    let response = app.send_as(Method::GET, path, &supervisor, None).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_label".into())
    );
}

#[tokio::test]
async fn duplicates_are_reported_and_stored_once() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let (a, b, c) = (CRYPTO_WALLET[0], CRYPTO_WALLET[1], CRYPTO_WALLET[2]);
    let (_, first) = add(&app, &supervisor, examples("crypto_wallet", &[a, b])).await;
    assert_eq!(first["added"], 2);

    let padded = format!("  {a}  ");
    let body = examples("crypto_wallet", &[padded.as_str(), c, c]);
    let (status, second) = add(&app, &supervisor, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    assert_eq!(second["added"], 1, "{second}");
    assert_eq!(second["duplicates"], 2);
    assert_eq!(second["duplicate_rows"], json!([0, 2]));
    assert_eq!(
        second["ids"][0], first["ids"][0],
        "a duplicate names the stored row"
    );
    assert_eq!(second["ids"][2], second["ids"][1]);

    // The same label and text under another label is another example.
    let (_, other) = add(&app, &supervisor, examples("card_wallet", &[a])).await;
    assert_eq!(other["added"], 1);
    let (_, again) = add(&app, &supervisor, examples("crypto_wallet", &[a])).await;
    assert_eq!(again["added"], 0);
    assert_eq!(again["retrain_requested"], false, "{again}");

    let path = "/api/v1/intents/examples?label=crypto_wallet";
    let (_, listed) = call(&app, Method::GET, path, &supervisor, None).await;
    let texts: Vec<&str> = listed["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(texts, [a, b, c], "stored once each, trimmed, oldest first");
}

#[tokio::test]
async fn customers_and_agents_cannot_reach_the_intent_routes() {
    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let body = json!({ "name": "Ana Agent", "capacity": 1 });
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/v1/agents",
        &supervisor,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let agent = created["token"].as_str().expect("token").to_owned();
    let customer = app.start_conversation("intents-auth").await.token;

    let add = examples("crypto_wallet", &CRYPTO_WALLET[..1]);
    let routes = [
        (Method::GET, "/api/v1/intents", None),
        (Method::GET, "/api/v1/intents/examples", None),
        (Method::POST, "/api/v1/intents/examples", Some(add)),
        (Method::DELETE, "/api/v1/intents/examples/some-id", None),
        (Method::GET, "/api/v1/intents/model", None),
        (
            Method::POST,
            "/api/v1/triage",
            Some(json!({ "text": "hello" })),
        ),
    ];
    for (method, path, body) in routes {
        for (token, expected) in [
            (customer.as_str(), StatusCode::UNAUTHORIZED),
            (agent.as_str(), StatusCode::FORBIDDEN),
        ] {
            let response = app
                .send_as(method.clone(), path, token, body.as_ref())
                .await;
            let (status, code) = error_code(response).await;
            assert_eq!(status, expected, "{method} {path}: {code}");
        }
    }
    let path = "/api/v1/intents/examples";
    let (_, listed) = call(&app, Method::GET, path, &supervisor, None).await;
    assert_eq!(listed["examples"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn the_store_adds_lists_and_deletes_examples() {
    use frontdesk::storage::{Actor, NewIntentExample, Store};

    let app = spawn_app().await;
    let store = Store::connect(&app.settings.database_url(), 2)
        .await
        .expect("store opens");
    let actor = Actor {
        kind: "cli",
        id: None,
    };
    let new = |label: &str, text: &str| NewIntentExample {
        label: label.into(),
        text: text.into(),
    };
    // Non-Latin text near the length limit is indexed too (PostgreSQL hashes it).
    let long = "ж".repeat(2_000);
    let batch = [
        new("b_label", "second"),
        new("a_label", "first"),
        new("b_label", "second"),
        new("a_label", &long),
    ];

    let added = store
        .add_intent_examples(&batch, &actor)
        .await
        .expect("added");
    let duplicates: Vec<bool> = added.iter().map(|a| a.duplicate).collect();
    assert_eq!(duplicates, [false, false, true, false]);
    assert_eq!(added[2].id, added[0].id);

    let all = store.intent_examples(None).await.expect("listed");
    let order: Vec<(&str, usize)> = all
        .iter()
        .map(|e| (e.label.as_str(), e.text.chars().count()))
        .collect();
    assert_eq!(order, [("a_label", 5), ("a_label", 2_000), ("b_label", 6)]);
    assert!(all.iter().all(|e| e.created_by.is_none()));
    let b = store
        .intent_examples(Some("b_label"))
        .await
        .expect("listed");
    assert_eq!(b.len(), 1);
    assert!(
        store
            .intent_examples(Some("c"))
            .await
            .expect("listed")
            .is_empty()
    );

    let removed = store
        .delete_intent_example(&b[0].id, &actor)
        .await
        .expect("deleted");
    assert_eq!(removed.map(|e| e.text), Some("second".to_owned()));
    let again = store.delete_intent_example(&b[0].id, &actor).await;
    assert!(
        again.expect("no error").is_none(),
        "a second delete finds nothing"
    );
    assert_eq!(store.intent_examples(None).await.expect("listed").len(), 2);
    store.close().await;
}

#[tokio::test]
async fn the_command_line_imports_lists_and_removes_examples() {
    use frontdesk::cli::intents::{IntentsArgs, IntentsCommand, run};

    let app = spawn_app().await;
    let supervisor = app.create_supervisor().await;
    let dir = app.settings.data_dir.clone();
    let file = dir.join("crypto.csv");
    let mut csv = String::from("text,category\n");
    for text in CRYPTO_WALLET {
        csv.push_str(&format!("\"{text}\",crypto_wallet\n"));
    }
    std::fs::write(&file, csv).expect("write");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "text,category\nhello,Not A Label\n").expect("write");

    let command = |command| IntentsArgs { command };
    let import = |file| command(IntentsCommand::Import { file });
    assert!(run(&app.settings, import(file.clone())).await.is_ok());
    assert!(
        run(&app.settings, import(file)).await.is_ok(),
        "a re-import only skips"
    );
    assert!(run(&app.settings, import(bad)).await.is_err());
    let list = command(IntentsCommand::List {
        label: Some("crypto_wallet".into()),
    });
    assert!(run(&app.settings, list).await.is_ok());

    let path = "/api/v1/intents/examples";
    let (_, listed) = call(&app, Method::GET, path, &supervisor, None).await;
    let listed = listed["examples"].as_array().expect("examples").clone();
    assert_eq!(listed.len(), 10, "imported once, the bad file not at all");
    assert!(listed.iter().all(|e| e["created_by"].is_null()));
    // The running server has not retrained: it picks them up at its next retrain.
    assert_eq!(model(&app, &supervisor).await["added_examples"], 0);

    let id = listed[0]["id"].as_str().expect("id").to_owned();
    let remove = |id: &str| command(IntentsCommand::Remove { id: id.into() });
    assert!(run(&app.settings, remove(&id)).await.is_ok());
    assert!(run(&app.settings, remove(&id)).await.is_err());
    let (_, listed) = call(&app, Method::GET, path, &supervisor, None).await;
    assert_eq!(listed["examples"].as_array().map(Vec::len), Some(9));
}
