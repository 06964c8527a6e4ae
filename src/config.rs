//! Typed settings: built-in defaults, then an optional TOML file, then `FRONTDESK_`
//! environment variables with `__` between nested keys (`FRONTDESK_DATABASE__URL`).
//!
//! Every setting is documented once, in `frontdesk.example.toml`. Secrets are held in
//! [`Secret`], which never prints its value.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The whole settings tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory for the embedded database and other local state.
    pub data_dir: PathBuf,
    /// `text` (default) or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter directive; `RUST_LOG` overrides it.
    pub log_level: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub limits: LimitSettings,
    pub pipeline: PipelineSettings,
    pub routing: RoutingSettings,
    pub assignment: AssignmentSettings,
    pub knowledge: KnowledgeSettings,
    pub llm: LlmSettings,
    pub triage: TriageSettings,
}

/// How customer messages are triaged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageSettings {
    /// Let the intent model consult the installed sentence encoder (the one in
    /// `knowledge.model_dir`) when its term features alone are unsure. Without the
    /// encoder's files the term model decides alone.
    pub encoder: bool,
    /// The encoder is consulted when the term model's confidence is below this
    /// (0 never, 1 for every message).
    pub consult_below: f32,
    /// Transformer layers of the encoder the intent model runs (the first ones; fewer
    /// is faster, 0 means all six). Retrieval always runs all of them.
    pub encoder_layers: usize,
}

impl Default for TriageSettings {
    fn default() -> Self {
        Self {
            encoder: true,
            encoder_layers: 0,
            consult_below: crate::domain::triage::EncoderOptions::default().consult_below,
        }
    }
}

/// The help centre, the vector store and how the bot answers from them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// Markdown articles indexed at start (articles changed through the API are kept
    /// in the database and win over files with the same id).
    pub articles_dir: PathBuf,
    /// Dense vectors: `local` (the installed sentence encoder, lexical-only when its
    /// files are missing), `openai` (the `[llm]` endpoint's embeddings) or `none`.
    pub encoder: EncoderKind,
    /// Encoder files; unset means `<data_dir>/models/all-minilm-l6-v2`.
    pub model_dir: Option<PathBuf>,
    /// For `encoder = "openai"`: the embeddings endpoint; unset means `llm.base_url`
    /// (with `llm.api_key`).
    pub embedding_url: Option<String>,
    /// Embedding model name for `encoder = "openai"`.
    pub embedding_model: String,
    /// Vector length of `embedding_model`.
    pub embedding_dimensions: usize,
    /// A Qdrant server (`http://host:6334`, gRPC); unset means the embedded store under
    /// `<data_dir>/vectors`.
    pub qdrant_url: Option<String>,
    /// Sent to the Qdrant server as its API key. Never printed.
    pub qdrant_api_key: Option<Secret>,
    /// Passages retrieved for each question.
    pub passages: usize,
    /// The best passage's dense cosine similarity must reach this for the bot to answer.
    pub min_dense_similarity: f32,
    /// Without an encoder: the share of the question's content words the best passage
    /// must contain for the bot to answer.
    pub min_term_coverage: f32,
}

/// Where dense vectors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    Local,
    Openai,
    None,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            articles_dir: PathBuf::from("knowledge-base"),
            encoder: EncoderKind::Local,
            model_dir: None,
            embedding_url: None,
            embedding_model: "text-embedding-3-small".into(),
            embedding_dimensions: 1536,
            qdrant_url: None,
            qdrant_api_key: None,
            passages: 4,
            min_dense_similarity: 0.55,
            min_term_coverage: 0.7,
        }
    }
}

/// An OpenAI-compatible chat endpoint that writes the bot's replies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// `http://127.0.0.1:8000/v1` or `https://api.openai.com/v1`; unset means no LLM:
    /// the bot quotes the best passage instead.
    pub base_url: Option<String>,
    pub model: String,
    /// Sent as the bearer token. Never printed.
    pub api_key: Option<Secret>,
    /// Upper bound for one reply, first byte to last, in seconds.
    pub timeout_secs: u64,
    /// Most tokens the reply may have.
    pub max_tokens: u32,
    /// Most tokens the prompt may have: passages are dropped, worst first, to fit.
    pub prompt_budget_tokens: usize,
    pub temperature: f32,
    /// Prompt templates, read at start and on `POST /api/v1/prompts/reload`.
    pub prompts_dir: PathBuf,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "gpt-4o-mini".into(),
            api_key: None,
            timeout_secs: 30,
            max_tokens: 400,
            prompt_budget_tokens: 2000,
            temperature: 0.2,
            prompts_dir: PathBuf::from("prompts"),
        }
    }
}

/// Routing rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// A TOML rule set to use instead of the shipped `config/routing.toml`.
    pub rules_file: Option<PathBuf>,
}

/// Offers, timers and presence for handing conversations to people.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssignmentSettings {
    /// How long an agent has to accept an offer before it moves on.
    pub offer_timeout_secs: u64,
    /// A conversation whose customer has waited this long for the assigned agent's
    /// reply goes back to its queue; 0 turns the return timer off.
    pub return_after_secs: u64,
    /// An online agent with no heartbeat (console connection or API call) for this
    /// long turns away, and their open offers move on.
    pub presence_grace_secs: u64,
    /// An agent who declined a conversation, or let its offer lapse, is not offered it
    /// again for this long (unless nobody else can take it by then).
    pub decline_cooldown_secs: u64,
    /// Waiting raises priority by one point per this many seconds; 0 turns aging off.
    pub aging_secs_per_point: u64,
}

impl Default for AssignmentSettings {
    fn default() -> Self {
        Self {
            offer_timeout_secs: 30,
            return_after_secs: 600,
            presence_grace_secs: 60,
            decline_cooldown_secs: 120,
            aging_secs_per_point: 60,
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    /// Upper bound for one request, streams excepted.
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight work before giving up.
    pub shutdown_grace_secs: u64,
}

/// The relational store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` for PostgreSQL, `sqlite://…` for a SQLite file; unset means a
    /// SQLite file inside `data_dir`.
    pub url: Option<Secret>,
    pub max_connections: u32,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

/// Bounds on what a client may send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Longest accepted message, in Unicode scalar values.
    pub max_message_chars: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest transcript page a client may ask for.
    pub max_page_size: u32,
}

/// The message pipeline behind the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettings {
    /// Worker tasks; messages of one conversation always go to the same worker, so
    /// they are handled in order.
    pub workers: usize,
    /// Messages waiting per worker before new ones wait for room.
    pub queue_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            log_format: LogFormat::Text,
            log_level: "info,sqlx=warn".into(),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            limits: LimitSettings::default(),
            pipeline: PipelineSettings::default(),
            routing: RoutingSettings::default(),
            assignment: AssignmentSettings::default(),
            knowledge: KnowledgeSettings::default(),
            llm: LlmSettings::default(),
            triage: TriageSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            migrate_on_start: true,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            max_body_bytes: 64 * 1024,
            max_page_size: 200,
        }
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            queue_capacity: 256,
        }
    }
}

impl Settings {
    /// Layers defaults, the file (when given) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(settings_env()).extract().map_err(Box::new)
    }

    /// Where the local sentence encoder's files are.
    pub fn model_dir(&self) -> PathBuf {
        self.knowledge.model_dir.clone().unwrap_or_else(|| {
            self.data_dir
                .join("models")
                .join(crate::clients::embedding::local::DEFAULT_MODEL_DIR)
        })
    }

    /// The database URL in force, the embedded default included.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose().to_owned(),
            None => {
                let file = self.data_dir.join("frontdesk.db");
                format!("sqlite://{}?mode=rwc", file.display())
            }
        }
    }
}

/// `FRONTDESK_*` variables that are settings: `FRONTDESK_CONFIG` names the file and
/// `FRONTDESK_TEST_*` belong to the test suite, so neither is read as a key.
fn settings_env() -> Env {
    Env::prefixed("FRONTDESK_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key != "config" && !key.starts_with("test_")
        })
        .split("__")
}

/// A string that must never reach a log or a terminal.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
// figment's test jail fixes the closures' error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("postgres://u:hunter2@db/x");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret}").contains("hunter2"));
    }

    #[test]
    fn default_database_is_a_sqlite_file_in_the_data_dir() {
        let settings = Settings::default();
        assert_eq!(
            settings.database_url(),
            "sqlite://./data/frontdesk.db?mode=rwc"
        );
    }

    #[test]
    fn environment_overrides_nested_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FRONTDESK_DATABASE__MAX_CONNECTIONS", "3");
            jail.set_env("FRONTDESK_LOG_FORMAT", "json");
            jail.set_env("FRONTDESK_CONFIG", "ignored.toml");
            jail.set_env("FRONTDESK_TEST_DATABASE_URL", "postgres://ignored");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(settings.database.max_connections, 3);
            assert_eq!(settings.log_format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn file_values_sit_between_defaults_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("f.toml", "[limits]\nmax_message_chars = 10\n")?;
            let settings = Settings::load(Some(Path::new("f.toml"))).map_err(|e| *e)?;
            assert_eq!(settings.limits.max_message_chars, 10);
            assert_eq!(settings.limits.max_body_bytes, 64 * 1024);
            Ok(())
        });
    }

    #[test]
    fn the_sample_file_documents_exactly_the_defaults() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("frontdesk.example.toml");
        let from_sample: Settings = Figment::from(Toml::file_exact(sample))
            .extract()
            .expect("the sample parses with no unknown keys");
        let as_json = |s: &Settings| serde_json::to_value(s).expect("settings serialise");
        assert_eq!(as_json(&from_sample), as_json(&Settings::default()));
    }
}
