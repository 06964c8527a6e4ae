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

use crate::clients::event_bus::InProcessBus;
use crate::config::Settings;
use crate::domain::triage::Triager;
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::pipeline::assign::AssignHandle;
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
        let triager = default_triager().await?;
        let bus = Arc::new(InProcessBus::default());
        let metrics = Arc::new(Metrics::new());
        let stages = Stages {
            store: store.clone(),
            bus: bus.clone(),
            metrics: metrics.clone(),
            triager: Current::new(triager),
            rules: Current::new(Arc::new(rules)),
            assign: AssignHandle::default(),
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

/// The triage model trained from the shipped examples, once per process: training takes
/// a moment, and every application in the process would train the same model.
async fn default_triager() -> anyhow::Result<Arc<Triager>> {
    static MODEL: tokio::sync::OnceCell<Arc<Triager>> = tokio::sync::OnceCell::const_new();
    let model = MODEL
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let model = tokio::task::spawn_blocking(Triager::default_model)
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
