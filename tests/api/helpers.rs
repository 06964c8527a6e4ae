//! `spawn_app` and the test application's client methods.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use frontdesk::config::Settings;
use frontdesk::startup::Application;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A conversation started through the API.
pub struct Started {
    pub id: String,
    pub token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(test_settings().await).await
}

/// Starts the application with these settings on a free port.
pub async fn spawn_with(mut settings: Settings) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        frontdesk::telemetry::init(settings.log_format, "debug,sqlx=warn");
    }
    settings.server.addr = "127.0.0.1:0".parse().expect("valid address");
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        settings,
        stop: Some(stop),
        handle: Some(handle),
    }
}

/// Settings for one test: a temporary data directory and a fresh database.
pub async fn test_settings() -> Settings {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        "fdtest_{}_{}_{n}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );

    let mut settings = Settings {
        data_dir: std::env::temp_dir().join("frontdesk-tests").join(&name),
        ..Settings::default()
    };
    settings.server.shutdown_grace_secs = 5;
    // Lexical retrieval keeps each test's start-up fast; the tests of the dense path
    // name the installed encoder themselves.
    settings.knowledge.encoder = frontdesk::config::EncoderKind::None;
    // Likewise the intent model's encoder stage: encoding every shipped example takes
    // minutes in a debug build.
    settings.triage.encoder = false;
    if let Ok(server) = std::env::var("FRONTDESK_TEST_DATABASE_URL") {
        let url = create_postgres_database(&server, &name).await;
        settings.database.url = Some(frontdesk::config::Secret::new(url));
    }
    settings
}

/// Creates a database on the PostgreSQL server and returns its URL.
async fn create_postgres_database(server: &str, name: &str) -> String {
    static CLEANED: OnceCell<()> = OnceCell::const_new();
    let mut conn = PgConnection::connect(server)
        .await
        .expect("the test PostgreSQL server is reachable");
    CLEANED
        .get_or_init(|| async { drop_stale_databases(server).await })
        .await;
    conn.execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .expect("test database created");
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    format!("{base}/{name}")
}

/// Drops test databases left by earlier test processes that are no longer running.
async fn drop_stale_databases(server: &str) {
    let mut conn = PgConnection::connect(server)
        .await
        .expect("server reachable");
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'fdtest\\_%'")
            .fetch_all(&mut conn)
            .await
            .expect("list databases");
    for (name,) in names {
        let pid = name.split('_').nth(1).unwrap_or_default();
        if PathBuf::from(format!("/proc/{pid}")).exists() {
            continue;
        }
        let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
        let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
    }
}

impl TestApp {
    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task joins")
                .expect("server stops cleanly");
        }
    }

    /// Stops and starts again on the same data.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        spawn_with(self.settings.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn start_conversation(&self, external_id: &str) -> Started {
        let body = json!({ "customer": { "external_id": external_id, "name": "Ada" } });
        let response = self.post_json("/api/v1/conversations", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json body");
        Started {
            id: body["conversation_id"].as_str().expect("id").to_owned(),
            token: body["customer_token"].as_str().expect("token").to_owned(),
        }
    }

    pub async fn post_message(
        &self,
        conversation: &Started,
        text: &str,
        key: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!(
                "/api/v1/conversations/{}/messages",
                conversation.id
            )))
            .bearer_auth(&conversation.token)
            .json(&json!({ "text": text }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    pub async fn transcript(&self, conversation: &Started) -> Vec<Value> {
        let response = self
            .client
            .get(self.url(&format!(
                "/api/v1/conversations/{}/messages?limit=200",
                conversation.id
            )))
            .bearer_auth(&conversation.token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json body");
        body["messages"].as_array().expect("messages").clone()
    }

    /// The conversation as its customer reads it: state, queue and the like.
    pub async fn conversation_state(&self, conversation: &Started) -> serde_json::Value {
        let path = format!("/api/v1/conversations/{}", conversation.id);
        let response = self
            .send_as(reqwest::Method::GET, &path, &conversation.token, None)
            .await;
        response.json().await.expect("json")
    }

    /// Polls the transcript until `done` holds or five seconds pass.
    pub async fn wait_for_transcript(
        &self,
        conversation: &Started,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let messages = self.transcript(conversation).await;
            if done(&messages) || tokio::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `error.code` of a JSON error response.
pub async fn error_code(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error bodies are JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message present: {body}"
    );
    (status, code)
}

impl TestApp {
    /// Creates a supervisor the way `frontdesk agents create` does and returns its token.
    pub async fn create_supervisor(&self) -> String {
        let store = frontdesk::storage::Store::connect(&self.settings.database_url(), 1)
            .await
            .expect("store opens");
        let token = frontdesk::http::auth::new_agent_token();
        let new = frontdesk::storage::NewAgent {
            name: "Sam Supervisor".into(),
            email: None,
            role: frontdesk::storage::Role::Supervisor,
            skills: Default::default(),
            languages: vec!["en".into()],
            teams: vec![],
            capacity: 0,
        };
        let actor = frontdesk::storage::Actor {
            kind: "cli",
            id: None,
        };
        store
            .create_agent(&new, &frontdesk::http::auth::hash_token(&token), &actor)
            .await
            .expect("supervisor created");
        store.close().await;
        token
    }

    /// Sends a JSON request with a bearer token.
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }
}

/// Sends a request as `token`: the status and the JSON body (`null` when there is none).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let response = app.send_as(method, path, token, body.as_ref()).await;
    let status = response.status();
    let value = response.json().await.unwrap_or(Value::Null);
    (status, value)
}

/// The latest 200 entries of the audit log, as a supervisor reads them.
pub async fn audit_entries(app: &TestApp, supervisor: &str) -> Vec<Value> {
    let path = "/api/v1/audit?limit=200";
    let (_, audit) = call(app, reqwest::Method::GET, path, supervisor, None).await;
    audit["entries"].as_array().expect("audit entries").clone()
}
