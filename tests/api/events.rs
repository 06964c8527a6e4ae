//! Live events over WebSocket and Server-Sent Events, with resume.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Started, TestApp, spawn_app};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect_ws(app: &TestApp, conversation: &Started, last: Option<i64>) -> Socket {
    let base = app.address.replace("http://", "ws://");
    let mut url = format!(
        "{base}/api/v1/conversations/{}/ws?access_token={}",
        conversation.id, conversation.token
    );
    if let Some(last) = last {
        url.push_str(&format!("&last_event_id={last}"));
    }
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    socket
}

/// Reads JSON frames until `done` holds; fails after five seconds.
async fn read_until(socket: &mut Socket, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    while !done(&seen) {
        tokio::select! {
            frame = socket.next() => {
                let frame = frame.expect("socket open").expect("frame");
                if let Message::Text(text) = frame {
                    seen.push(serde_json::from_str(&text).expect("json frame"));
                }
            }
            () = &mut deadline => panic!("timed out; saw {seen:?}"),
        }
    }
    seen
}

fn stored_seqs(events: &[Value]) -> Vec<i64> {
    events.iter().filter_map(|e| e["id"].as_i64()).collect()
}

#[tokio::test]
async fn a_websocket_client_that_reconnects_with_its_last_event_id_misses_no_event() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("ws-1").await;
    let mut socket = connect_ws(&app, &conversation, None).await;
    app.post_message(&conversation, "one", None).await;
    // The customer's message, then the pipeline's handoff notice.
    let first = read_until(&mut socket, |e| {
        e.iter().filter(|e| e["type"] == "message.created").count() >= 2
    })
    .await;
    let last = *stored_seqs(&first).last().expect("stored events");
    socket.close(None).await.expect("closed");

    // Written while the client is away.
    app.post_message(&conversation, "two", None).await;
    app.post_message(&conversation, "three", None).await;

    let mut socket = connect_ws(&app, &conversation, Some(last)).await;
    let resumed = read_until(&mut socket, |e| {
        e.iter().filter(|e| e["type"] == "message.created").count() >= 2
    })
    .await;
    let seqs = stored_seqs(&resumed);
    let expected: Vec<i64> = (last + 1..=last + seqs.len() as i64).collect();
    assert_eq!(
        seqs, expected,
        "events resume right after {last}, without gaps"
    );
    assert_eq!(resumed[0]["data"]["message"]["text"], "two");
}

#[tokio::test]
async fn a_new_websocket_client_replays_the_conversation_from_the_start() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("ws-2").await;
    app.post_message(&conversation, "earlier", None).await;

    let mut socket = connect_ws(&app, &conversation, None).await;
    let events = read_until(&mut socket, |e| e.len() >= 2).await;

    assert_eq!(events[0]["type"], "conversation.created");
    assert_eq!(events[0]["id"], 1);
    assert_eq!(events[1]["data"]["message"]["text"], "earlier");
}

#[tokio::test]
async fn typing_reaches_other_listeners_without_an_id() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("ws-3").await;
    let mut watcher = connect_ws(&app, &conversation, None).await;
    read_until(&mut watcher, |e| !e.is_empty()).await;
    let mut typist = connect_ws(&app, &conversation, None).await;

    typist
        .send(Message::Text(
            json!({ "type": "typing" }).to_string().into(),
        ))
        .await
        .expect("sent");

    let events = read_until(&mut watcher, |e| e.iter().any(|e| e["type"] == "typing")).await;
    let typing = events
        .iter()
        .find(|e| e["type"] == "typing")
        .expect("typing");
    assert!(typing["id"].is_null(), "typing is not stored: {typing}");
}

#[tokio::test]
async fn an_unknown_websocket_frame_gets_an_error_frame() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("ws-4").await;
    let mut socket = connect_ws(&app, &conversation, Some(1)).await;

    socket
        .send(Message::Text("{\"type\":\"launch\"}".into()))
        .await
        .expect("sent");

    let events = read_until(&mut socket, |e| !e.is_empty()).await;
    assert_eq!(events[0]["type"], "error");
    assert_eq!(events[0]["code"], "invalid_frame");
}

/// Reads Server-Sent Events until `done` holds; returns (id, event, data) triples.
async fn read_sse(
    response: reqwest::Response,
    done: impl Fn(&[(Option<i64>, String, Value)]) -> bool,
) -> Vec<(Option<i64>, String, Value)> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&seen) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("event before the deadline")
            .expect("stream open")
            .expect("chunk");
        buffer.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(event) = parse_sse_block(&block) {
                seen.push(event);
            }
        }
    }
    seen
}

fn parse_sse_block(block: &str) -> Option<(Option<i64>, String, Value)> {
    let (mut id, mut kind, mut data) = (None, String::new(), None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data = serde_json::from_str(v.trim()).ok();
        }
    }
    Some((id, kind, data?))
}

#[tokio::test]
async fn server_sent_events_resume_after_the_last_event_id_header() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("sse-1").await;
    app.post_message(&conversation, "first", None).await;
    let url = app.url(&format!("/api/v1/conversations/{}/events", conversation.id));

    let response = app
        .client
        .get(&url)
        .bearer_auth(&conversation.token)
        .header("Last-Event-ID", "1")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    let events = read_sse(response, |e| {
        e.iter().any(|(_, k, _)| k == "message.created")
    })
    .await;

    assert_eq!(events[0].0, Some(2), "the event after id 1 comes first");
    assert_eq!(events[0].1, "message.created");
    assert_eq!(events[0].2["data"]["message"]["text"], "first");
}

#[tokio::test]
async fn server_sent_events_deliver_live_messages() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("sse-2").await;
    let url = app.url(&format!(
        "/api/v1/conversations/{}/events?access_token={}&last_event_id=1",
        conversation.id, conversation.token
    ));
    let response = app.client.get(&url).send().await.expect("sent");

    app.post_message(&conversation, "live", None).await;

    let events = read_sse(response, |e| {
        e.iter().any(|(_, k, _)| k == "message.created")
    })
    .await;
    let (_, _, data) = events
        .iter()
        .find(|(_, k, _)| k == "message.created")
        .expect("message event");
    assert_eq!(data["data"]["message"]["text"], "live");
}
