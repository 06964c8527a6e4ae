//! `frontdesk routing`: check a rules file, or replay stored traffic through it before
//! it is published. Neither changes what is in force.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::rules_admin::{DEFAULT_HANDLE_SECONDS, replay, validate};
use crate::storage::Store;

#[derive(Debug, Args)]
pub struct RoutingArgs {
    #[command(subcommand)]
    pub command: RoutingCommand,
}

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Validate a rules file and list every problem, naming the rule and position
    Check {
        /// The rules document (TOML)
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
    },
    /// Replay stored decisions through a rules file and print what would change (JSON)
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The draft rules document (TOML)
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    /// Replay decisions made at or after this time (RFC 3339) [default: all]
    #[arg(long)]
    pub from: Option<humantime::Timestamp>,
    /// Replay decisions made at or before this time (RFC 3339) [default: now]
    #[arg(long)]
    pub to: Option<humantime::Timestamp>,
    /// Mean seconds an agent spends on one conversation, for the wait forecast
    #[arg(long, default_value_t = DEFAULT_HANDLE_SECONDS)]
    pub handle_seconds: f64,
}

/// Runs a `routing` command against the configured database.
pub async fn run(settings: &Settings, args: RoutingArgs) -> anyhow::Result<()> {
    match args.command {
        RoutingCommand::Check { rules } => {
            let text = read(&rules)?;
            match validate(&text) {
                Ok(set) => {
                    println!(
                        "{}: {} rules, {} boosts, valid",
                        rules.display(),
                        set.rules().len(),
                        set.boosts().len()
                    );
                    Ok(())
                }
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{}: {problem}", rules.display());
                    }
                    bail!("{} problem(s) in {}", problems.len(), rules.display())
                }
            }
        }
        RoutingCommand::Simulate(args) => simulate(settings, args).await,
    }
}

async fn simulate(settings: &Settings, args: SimulateArgs) -> anyhow::Result<()> {
    let text = read(&args.rules)?;
    let draft = match validate(&text) {
        Ok(draft) => draft,
        Err(problems) => bail!("the draft is invalid: {}", problems.join("; ")),
    };
    if !(args.handle_seconds.is_finite() && args.handle_seconds > 0.0) {
        bail!("--handle-seconds must be a positive number");
    }
    let store = Store::connect(&settings.database_url(), 1)
        .await
        .context("could not open the database")?;
    let replayed = replay(
        &store,
        &draft,
        args.from.map(millis),
        args.to.map(millis),
        args.handle_seconds,
    )
    .await
    .context("could not replay stored decisions")?;
    store.close().await;
    println!("{}", serde_json::to_string_pretty(&replayed)?);
    Ok(())
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

fn millis(time: humantime::Timestamp) -> i64 {
    let since = std::time::SystemTime::from(time)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    i64::try_from(since).unwrap_or(i64::MAX)
}
