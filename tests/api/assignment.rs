//! Offers, assignment, the agent console and the supervisor's hand, end to end.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Started, TestApp, error_code, spawn_with, test_settings};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An agent created through the API, with a console connected.
struct Agent {
    id: String,
    token: String,
    console: Socket,
}

async fn app_with_offer_timeout(seconds: u64) -> TestApp {
    let mut settings = test_settings().await;
    settings.assignment.offer_timeout_secs = seconds;
    spawn_with(settings).await
}

async fn create_agent(app: &TestApp, supervisor: &str, profile: Value) -> (String, String) {
    let response = app
        .send_as(Method::POST, "/api/v1/agents", supervisor, Some(&profile))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let id = body["agent"]["id"].as_str().expect("id").to_owned();
    let token = body["token"].as_str().expect("token").to_owned();
    (id, token)
}

/// Creates an agent, connects their console and sets them online.
async fn online_agent(app: &TestApp, supervisor: &str, profile: Value) -> Agent {
    let (id, token) = create_agent(app, supervisor, profile).await;
    let url = format!(
        "{}/api/v1/agent/ws?access_token={token}",
        app.address.replace("http://", "ws://")
    );
    let (mut console, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("console connects");
    let hello = next_frame(&mut console, |f| f["type"] == "hello", 5).await;
    assert!(hello.is_some(), "the console greets with its state");
    let presence = json!({ "presence": "online" });
    let response = app
        .send_as(Method::PUT, "/api/v1/me/presence", &token, Some(&presence))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    Agent { id, token, console }
}

/// The next frame matching `wanted` within `seconds`, skipping others.
async fn next_frame(
    socket: &mut Socket,
    wanted: impl Fn(&Value) -> bool,
    seconds: u64,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        if let Ok(Message::Text(text)) = frame {
            let value: Value = serde_json::from_str(&text).expect("frames are JSON");
            if wanted(&value) {
                return Some(value);
            }
        }
    }
}

fn offer_of<'a>(conversation: &'a Started) -> impl Fn(&Value) -> bool + 'a {
    move |f| f["type"] == "offer.created" && f["conversation_id"] == conversation.id.as_str()
}

async fn accept(app: &TestApp, agent: &Agent, offer: &Value) -> reqwest::Response {
    let id = offer["data"]["offer"]["id"].as_str().expect("offer id");
    app.send_as(
        Method::POST,
        &format!("/api/v1/offers/{id}/accept"),
        &agent.token,
        None,
    )
    .await
}

async fn agent_post(
    app: &TestApp,
    agent: &Agent,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    app.send_as(Method::POST, path, &agent.token, body).await
}

fn cards_agent() -> Value {
    json!({ "name": "Carla Cards", "skills": { "cards": 3 }, "languages": ["en"], "capacity": 1 })
}

fn german_agent() -> Value {
    json!({ "name": "Dieter Deutsch", "skills": { "general": 2 }, "languages": ["de"], "capacity": 1 })
}

#[tokio::test]
async fn urgent_cards_and_german_requests_reach_the_right_agents() {
    let app = app_with_offer_timeout(30).await;
    let supervisor = app.create_supervisor().await;
    let mut carla = online_agent(&app, &supervisor, cards_agent()).await;
    let mut dieter = online_agent(&app, &supervisor, german_agent()).await;

    // A German request goes to the German-speaking agent while both are free.
    let german = app.start_conversation("de-1").await;
    app.post_message(
        &german,
        "Hallo, ich möchte bitte mit einem Mitarbeiter sprechen, meine Überweisung ist nicht angekommen.",
        None,
    )
    .await;
    let offer = next_frame(&mut dieter.console, offer_of(&german), 5)
        .await
        .expect("the German agent is offered the German conversation");
    assert_eq!(accept(&app, &dieter, &offer).await.status(), StatusCode::OK);

    // A stolen card is queued urgently and offered to the cards agent at once.
    let urgent = app.start_conversation("cards-1").await;
    let posted = Instant::now();
    app.post_message(&urgent, "My card was stolen, block it now!", None)
        .await;
    let offer = next_frame(&mut carla.console, offer_of(&urgent), 5)
        .await
        .expect("the cards agent is offered the stolen card");
    let offered_after = posted.elapsed();
    println!(
        "stolen card offered {} ms after it was posted",
        offered_after.as_millis()
    );
    assert!(offered_after < Duration::from_secs(1), "{offered_after:?}");
    assert_eq!(offer["data"]["offer"]["queue"], "cards");
    assert_eq!(accept(&app, &carla, &offer).await.status(), StatusCode::OK);
    let state = app.conversation_state(&urgent).await;
    assert_eq!(state["state"], "assigned");
    let transcript = app
        .wait_for_transcript(&urgent, |m| {
            m.iter().any(|m| {
                m["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Carla Cards"))
            })
        })
        .await;
    assert!(transcript.iter().any(|m| m["author"]["kind"] == "system"));

    // A second urgent case waits: the only cards agent is at capacity.
    let second = app.start_conversation("cards-2").await;
    app.post_message(
        &second,
        "Someone stole my card, block it immediately!",
        None,
    )
    .await;
    app.wait_for_transcript(&second, |m| m.len() >= 2).await;
    assert!(
        next_frame(&mut carla.console, offer_of(&second), 1)
            .await
            .is_none(),
        "no offer beyond capacity"
    );
    assert_eq!(app.conversation_state(&second).await["state"], "queued");

    // Resolving the first frees the slot, and the second is offered at once.
    let resolved_at = Instant::now();
    let response = agent_post(
        &app,
        &carla,
        &format!("/api/v1/agent/conversations/{}/resolve", urgent.id),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let offer = next_frame(&mut carla.console, offer_of(&second), 5)
        .await
        .expect("the waiting case is offered when capacity frees up");
    let waited = resolved_at.elapsed();
    println!(
        "second case offered {} ms after the first was resolved",
        waited.as_millis()
    );
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    assert_eq!(accept(&app, &carla, &offer).await.status(), StatusCode::OK);

    // Every decision names its rule, and the offer names the rejected candidates.
    let body: Value = app
        .send_as(
            Method::GET,
            &format!("/api/v1/conversations/{}/decisions", second.id),
            &supervisor,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["decisions"][0]["rule_name"], "card-security");
    let offers = body["offers"].as_array().expect("offers");
    let candidates = offers[0]["explanation"]["candidates"]
        .as_array()
        .expect("candidates");
    let dieter_verdict = candidates
        .iter()
        .find(|c| c["agent_id"] == dieter.id.as_str())
        .expect("the German agent was considered");
    assert_eq!(
        dieter_verdict["verdict"]["verdict"], "rejected",
        "{dieter_verdict}"
    );
    assert_eq!(offers[0]["explanation"]["chosen"], carla.id.as_str());
}

#[tokio::test]
async fn an_unanswered_offer_moves_on_after_its_timeout() {
    let app = app_with_offer_timeout(1).await;
    let supervisor = app.create_supervisor().await;
    let general = |name: &str| json!({ "name": name, "languages": ["en"], "capacity": 2 });
    let mut first = online_agent(&app, &supervisor, general("Ann")).await;
    let mut second = online_agent(&app, &supervisor, general("Bob")).await;

    let conversation = app.start_conversation("timeout-1").await;
    app.post_message(&conversation, "I want to talk to a human", None)
        .await;

    // Whoever gets it first lets it lapse; the other one is offered it next.
    let (idle, other) = tokio::select! {
        Some(_) = next_frame(&mut first.console, offer_of(&conversation), 5) => (&mut first, &mut second),
        Some(_) = next_frame(&mut second.console, offer_of(&conversation), 5) => (&mut second, &mut first),
    };
    let expired = next_frame(
        &mut idle.console,
        |f| f["type"] == "offer.expired" && f["conversation_id"] == conversation.id.as_str(),
        5,
    )
    .await;
    assert!(expired.is_some(), "the idle agent hears the offer expired");
    let offer = next_frame(&mut other.console, offer_of(&conversation), 5)
        .await
        .expect("the offer moves on to the other agent");
    assert_eq!(accept(&app, other, &offer).await.status(), StatusCode::OK);

    // The idle agent can no longer accept the expired offer.
    let offers: Value = app
        .send_as(
            Method::GET,
            &format!("/api/v1/conversations/{}/decisions", conversation.id),
            &supervisor,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let statuses: Vec<&str> = offers["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| o["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["expired", "accepted"]);
    let lapsed = &offers["offers"][0];
    let response = accept(&app, idle, &json!({ "data": { "offer": lapsed } })).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::CONFLICT, "offer_closed".into())
    );
}

#[tokio::test]
async fn agents_reply_note_transfer_and_hand_back() {
    let app = app_with_offer_timeout(30).await;
    let supervisor = app.create_supervisor().await;
    let profile = json!({ "name": "Ann", "languages": ["en"], "capacity": 3 });
    let mut ann = online_agent(&app, &supervisor, profile).await;
    let outsider = online_agent(&app, &supervisor, json!({ "name": "Eve", "capacity": 0 })).await;

    let conversation = app.start_conversation("actions-1").await;
    app.post_message(&conversation, "Please let me speak to a real person", None)
        .await;
    let offer = next_frame(&mut ann.console, offer_of(&conversation), 5)
        .await
        .expect("offer");
    assert_eq!(accept(&app, &ann, &offer).await.status(), StatusCode::OK);
    let base = format!("/api/v1/agent/conversations/{}", conversation.id);

    // The packet tells the agent what happened without asking the customer again.
    let read: Value = app
        .send_as(Method::GET, &base, &ann.token, None)
        .await
        .json()
        .await
        .expect("json");
    let packet = &read["packet"];
    assert_eq!(packet["reason"], "customer asked for a person", "{packet}");
    assert!(
        packet["summary"]
            .as_str()
            .is_some_and(|s| s.contains("speak to a real person"))
    );
    assert!(
        packet["suggested_reply"]
            .as_str()
            .is_some_and(|s| s.starts_with("Hi Ada"))
    );

    // Only the assigned agent may act on it.
    let reply = json!({ "text": "Hello, I'm Ann. How can I help?" });
    let response = agent_post(&app, &outsider, &format!("{base}/messages"), Some(&reply)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = agent_post(&app, &ann, &format!("{base}/messages"), Some(&reply)).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // A note stays internal.
    let note = json!({ "text": "customer verified by phone" });
    let response = agent_post(&app, &ann, &format!("{base}/notes"), Some(&note)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let transcript = app
        .wait_for_transcript(&conversation, |m| {
            m.iter().any(|m| m["author"]["kind"] == "agent")
        })
        .await;
    assert!(
        transcript
            .iter()
            .any(|m| m["text"] == "Hello, I'm Ann. How can I help?")
    );
    assert!(
        !transcript
            .iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.contains("verified")))
    );

    // Transfer to a queue, and the conversation waits there with the note kept.
    let transfer = json!({ "queue": "care", "note": "needs a goodwill gesture" });
    let response = agent_post(&app, &ann, &format!("{base}/transfer"), Some(&transfer)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let state = app.conversation_state(&conversation).await;
    assert_eq!(
        (state["state"].as_str(), state["queue"].as_str()),
        (Some("queued"), Some("care"))
    );

    // The supervisor assigns it back by hand, and Ann hands it back to the bot.
    let assign = json!({ "agent_id": ann.id });
    let response = app
        .send_as(
            Method::POST,
            &format!(
                "/api/v1/supervisor/conversations/{}/assign",
                conversation.id
            ),
            &supervisor,
            Some(&assign),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value = app
        .send_as(Method::GET, &base, &ann.token, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["notes"].as_array().map(Vec::len), Some(2), "{read}");
    let response = agent_post(&app, &ann, &format!("{base}/handback"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.conversation_state(&conversation).await["state"], "bot");

    // Each hand change is in the audit log.
    let audit: Value = app
        .send_as(Method::GET, "/api/v1/audit?limit=200", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "conversation.transferred",
        "conversation.assigned",
        "conversation.handed_back",
    ] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
}

#[tokio::test]
async fn bad_assignment_requests_are_refused_clearly() {
    let app = app_with_offer_timeout(30).await;
    let supervisor = app.create_supervisor().await;
    let (_, token) = create_agent(&app, &supervisor, json!({ "name": "Ann", "capacity": 1 })).await;
    let conversation = app.start_conversation("bad-1").await;

    let cases = [
        (
            Method::POST,
            "/api/v1/offers/nope/accept".to_owned(),
            token.clone(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/api/v1/agent/conversations/{}/resolve", conversation.id),
            token.clone(),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            format!("/api/v1/agent/conversations/{}", conversation.id),
            token.clone(),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/api/v1/supervisor/live".to_owned(),
            token.clone(),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            format!(
                "/api/v1/supervisor/conversations/{}/assign",
                conversation.id
            ),
            supervisor.clone(),
            Some(json!({ "agent_id": "missing" })),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/api/v1/supervisor/conversations/{}/move", conversation.id),
            supervisor.clone(),
            Some(json!({ "queue": "care" })),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            format!("/api/v1/supervisor/conversations/{}/move", conversation.id),
            supervisor.clone(),
            Some(json!({ "queue": " " })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, token, body, status) in cases {
        let response = app.send_as(method, &path, &token, body.as_ref()).await;
        let (got, code) = error_code(response).await;
        assert_eq!(got, status, "{path}: {code}");
    }
}

/// Many conversations, few slots, every event at once: capacity is never exceeded and
/// no conversation ends up with two owners.
#[tokio::test]
async fn concurrent_assignment_never_exceeds_capacity() {
    let app = app_with_offer_timeout(30).await;
    let supervisor = app.create_supervisor().await;
    let mut agents = Vec::new();
    for name in ["Ann", "Bob", "Cy"] {
        let profile = json!({ "name": name, "languages": ["en"], "capacity": 2 });
        agents.push(online_agent(&app, &supervisor, profile).await);
    }
    let mut conversations = Vec::new();
    for i in 0..12 {
        conversations.push(app.start_conversation(&format!("load-{i}")).await);
    }

    // Customers ask for people while a supervisor assigns the same conversations by
    // hand to the same agents, all at once.
    let mut tasks = Vec::new();
    for (i, conversation) in conversations.iter().enumerate() {
        let app = &app;
        let supervisor = &supervisor;
        let agent_id = agents[i % agents.len()].id.clone();
        tasks.push(async move {
            app.post_message(conversation, "I want to talk to a human", None)
                .await;
            let body = json!({ "agent_id": agent_id });
            app.send_as(
                Method::POST,
                &format!(
                    "/api/v1/supervisor/conversations/{}/assign",
                    conversation.id
                ),
                supervisor,
                Some(&body),
            )
            .await
            .status()
        });
    }
    let statuses = futures_util::future::join_all(tasks).await;
    for status in &statuses {
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(status),
            "{status}"
        );
    }

    // Agents accept whatever they are offered, each offer twice at once.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        for agent in &agents {
            let offers: Value = app
                .send_as(Method::GET, "/api/v1/me/offers", &agent.token, None)
                .await
                .json()
                .await
                .expect("json");
            for offer in offers["offers"].as_array().into_iter().flatten() {
                let wrapped = json!({ "data": { "offer": offer } });
                let (a, b) =
                    tokio::join!(accept(&app, agent, &wrapped), accept(&app, agent, &wrapped));
                let ok = [a.status(), b.status()]
                    .iter()
                    .filter(|s| **s == StatusCode::OK)
                    .count();
                assert!(ok <= 1, "one offer accepted twice");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let live: Value = app
        .send_as(Method::GET, "/api/v1/supervisor/live", &supervisor, None)
        .await
        .json()
        .await
        .expect("json");
    let mut held = 0;
    for agent in live["agents"].as_array().expect("agents") {
        let active = agent["active"].as_i64().expect("active");
        let capacity = agent["capacity"].as_i64().expect("capacity");
        assert!(active <= capacity, "over capacity: {agent}");
        held += active;
    }
    assert_eq!(held, 6, "every slot is used: {live}");
    assert_eq!(live["assigned"], 6);
    let waiting: i64 = live["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| q["waiting"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(waiting, 6, "the rest still wait: {live}");
}
