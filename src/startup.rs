//! Builds the application from settings and runs it until asked to stop.
//!
//! Start-up binds its own listener and reports the port, so tests can pass port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clients::embedding::cache::CachedEncoder;
use crate::clients::event_bus::InProcessBus;
use crate::clients::llm::{ChatModel, OpenAiChat};
use crate::config::Settings;
use crate::domain::answer::prompt::{REPLIES_FILE, SYSTEM_FILE, USER_FILE};
use crate::domain::answer::{GroundingThresholds, PromptTemplates};
use crate::domain::triage::{
    EncoderOptions, SharedEncoder, TrainOptions, Triager, default_examples,
};
use crate::http::{AppState, router};
use crate::knowledge::service::Knowledge;
use crate::metrics::Metrics;
use crate::pipeline::answer::{AnswerSettings, Answerer};
use crate::pipeline::assign::AssignHandle;
use crate::pipeline::intents::{IntentModel, Training, train_triager};
use crate::pipeline::{Current, Pipeline, Stages};
use crate::rules_admin::rules_in_force;
use crate::storage::Store;

/// A built application, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    pipeline: Pipeline,
    shutdown: watch::Sender<bool>,
}

impl Application {
    /// Connects to the database, migrates it when configured to, starts the pipeline and
    /// binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url(), settings.database.max_connections)
            .await
            .context("could not open the database")?;
        if settings.database.migrate_on_start {
            store
                .migrate()
                .await
                .context("could not migrate the database")?;
        }

        let rules = rules_in_force(&store, &settings).await?;
        let intents =
            IntentModel::open(store.clone(), default_triager, training(&settings)?).await?;
        let answers = Arc::new(answerer(&settings, store.clone()).await?);
        let bus = Arc::new(InProcessBus::default());
        let metrics = Arc::new(Metrics::new());
        let stages = Stages {
            store: store.clone(),
            bus: bus.clone(),
            metrics: metrics.clone(),
            triager: intents.triager(),
            rules: Current::new(Arc::new(rules)),
            assign: AssignHandle::default(),
            answers: answers.clone(),
        };
        let rules = stages.rules.clone();
        let assign = stages.assign.clone();
        let pipeline = Pipeline::start(
            stages,
            settings.pipeline.workers,
            settings.pipeline.queue_capacity,
            settings.assignment.clone(),
        );

        let listener = TcpListener::bind(settings.server.addr)
            .await
            .with_context(|| format!("could not listen on {}", settings.server.addr))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = AppState {
            store,
            bus,
            pipeline: pipeline.handle(),
            assign,
            rules,
            intents,
            answers,
            metrics,
            settings: Arc::new(settings),
            shutdown: shutdown_rx,
        };
        Ok(Self {
            listener,
            state,
            pipeline,
            shutdown,
        })
    }

    /// The address actually bound, with the real port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `stop` completes, then lets in-flight requests and queued pipeline
    /// work finish within the configured grace period.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        let store = self.state.store.clone();
        let app = router(self.state);
        tracing::info!(addr = %self.listener.local_addr()?, "listening");

        let shutdown = self.shutdown;
        let mut stopping = shutdown.subscribe();
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("shutting down");
            let _ = shutdown.send(true);
        });
        let deadline = async move {
            let _ = stopping.wait_for(|stop| *stop).await.is_ok();
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            served = serve => served.context("the server failed")?,
            () = deadline => tracing::warn!("shutdown grace period ended with requests in flight"),
        }

        if tokio::time::timeout(grace, self.pipeline.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("pipeline did not drain in time; pending messages resume on start");
        }
        store.close().await;
        Ok(())
    }
}

/// Opens the knowledge base, brings its index up to date, loads the prompt templates
/// and connects the LLM when one is configured.
async fn answerer(settings: &Settings, store: Store) -> anyhow::Result<Answerer> {
    let knowledge = Knowledge::open(settings, store).await?;
    let started = std::time::Instant::now();
    let report = knowledge
        .catalogue
        .sync(&mut |_, _| {})
        .await
        .context("could not index the help centre")?;
    tracing::info!(
        articles = report.articles,
        indexed = report.indexed,
        unchanged = report.unchanged,
        removed = report.removed,
        retrieval = knowledge.mode,
        sync_ms = started.elapsed().as_millis() as u64,
        "help centre ready"
    );
    let prompts = load_prompts(&settings.llm.prompts_dir)?;
    let llm = OpenAiChat::from_settings(&settings.llm).map(|chat| {
        tracing::info!(model = chat.model(), "bot replies are written by an LLM");
        Arc::new(chat) as Arc<dyn ChatModel>
    });
    if llm.is_none() {
        tracing::info!("no LLM configured: the bot quotes help-centre passages");
    }
    let knowledge_settings = &settings.knowledge;
    Ok(Answerer {
        knowledge: Arc::new(knowledge),
        llm,
        prompts: Current::new(Arc::new(prompts)),
        settings: AnswerSettings {
            passages: knowledge_settings.passages.max(1),
            history_passages: 2,
            thresholds: GroundingThresholds {
                min_dense_similarity: knowledge_settings.min_dense_similarity,
                min_term_coverage: knowledge_settings.min_term_coverage,
            },
            max_tokens: settings.llm.max_tokens,
            temperature: settings.llm.temperature,
            prompt_budget_tokens: settings.llm.prompt_budget_tokens,
            timeout: Duration::from_secs(settings.llm.timeout_secs.max(1)),
        },
    })
}

/// The prompt templates in `dir`; the shipped ones, with a warning, when the folder is
/// missing. Templates that do not parse stop the start.
pub fn load_prompts(dir: &std::path::Path) -> anyhow::Result<PromptTemplates> {
    if !dir.is_dir() {
        tracing::warn!(dir = %dir.display(), "no prompts folder; using the shipped templates");
        return Ok(PromptTemplates::shipped());
    }
    let mut files = Vec::new();
    for name in [SYSTEM_FILE, USER_FILE, REPLIES_FILE] {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        files.push((name, text));
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    PromptTemplates::parse(&files)
        .with_context(|| format!("the templates in {} are not valid", dir.display()))
}

/// The triage model trained from the shipped examples, once per process: training takes
/// a moment, and every application in the process would train the same model. Only a
/// database without added intent examples uses it (see `IntentModel::open`).
async fn default_triager() -> anyhow::Result<Arc<Triager>> {
    static MODEL: tokio::sync::OnceCell<Arc<Triager>> = tokio::sync::OnceCell::const_new();
    let model = MODEL
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let model = tokio::task::spawn_blocking(|| {
                train_triager(&default_examples()?, &Training::default())
            })
            .await
            .context("triage training panicked")?
            .context("could not train the triage model")?;
            tracing::info!(
                train_ms = started.elapsed().as_millis() as u64,
                "triage model trained"
            );
            anyhow::Ok(Arc::new(model))
        })
        .await?;
    Ok(model.clone())
}

/// Where the vectors of the intent examples are kept between starts.
fn triage_vector_cache(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("cache").join("triage-vectors.bin")
}

/// The sentence encoder the intent model may consult, when it is wanted and installed.
fn triage_encoder(settings: &Settings) -> anyhow::Result<Option<SharedEncoder>> {
    if !settings.triage.encoder {
        return Ok(None);
    }
    let Some(encoder) = crate::knowledge::service::local_encoder(&settings.model_dir())? else {
        tracing::info!(
            "no sentence encoder installed: intents are told apart by their terms alone"
        );
        return Ok(None);
    };
    let encoder = encoder
        .first_layers(settings.triage.encoder_layers)
        .and_then(|e| e.with_max_pooling())
        .context("could not set up the sentence encoder for triage")?;
    let cached = CachedEncoder::new(Arc::new(encoder), triage_vector_cache(settings));
    Ok(Some(SharedEncoder(Arc::new(cached))))
}

/// How the intent model is trained: the shipped options, and the installed sentence
/// encoder when `triage.encoder` is on.
fn training(settings: &Settings) -> anyhow::Result<Training> {
    let options = TrainOptions {
        encoder: EncoderOptions {
            consult_below: settings.triage.consult_below,
            ..EncoderOptions::default()
        },
        ..TrainOptions::default()
    };
    Ok(Training {
        options,
        encoder: triage_encoder(settings)?,
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
