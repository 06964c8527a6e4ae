//! `frontdesk triage`: offline evaluation of the triage models against labelled files.
//!
//! Glue only: it parses arguments, calls `domain::triage::eval` and prints one JSON object
//! (or a short text summary). It must never print message text, only aggregate figures.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::domain::triage::eval;

/// Arguments of `frontdesk triage`.
#[derive(Debug, Args)]
pub struct TriageArgs {
    #[command(subcommand)]
    command: TriageCommand,
}

#[derive(Debug, Subcommand)]
enum TriageCommand {
    /// Train on one file and score another; prints accuracy, calibration and latency.
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// What to evaluate.
    #[arg(long, value_enum, default_value_t = Task::Intent)]
    task: Task,
    /// Training examples, CSV with `text,category` columns (intent task).
    #[arg(long, value_name = "TRAIN.csv", required_if_eq("task", "intent"))]
    train: Option<PathBuf>,
    /// Test examples, same format as `--train` (intent task).
    #[arg(long, value_name = "TEST.csv", required_if_eq("task", "intent"))]
    test: Option<PathBuf>,
    /// Label whose rows are out of scope, in training and in the test file.
    #[arg(long, value_name = "LABEL")]
    out_of_scope_label: Option<String>,
    /// One message per line (sentiment task).
    #[arg(long, value_name = "T.txt", required_if_eq("task", "sentiment"))]
    test_text: Option<PathBuf>,
    /// One label per line: 0 negative, 1 neutral, 2 positive (sentiment task).
    #[arg(long, value_name = "L.txt", required_if_eq("task", "sentiment"))]
    test_labels: Option<PathBuf>,
    /// Also fit the neutral band by k-fold cross-validation on the file (sentiment task).
    #[arg(long, value_name = "K")]
    folds: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Task {
    Intent,
    Sentiment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Text,
}

/// Runs `frontdesk triage <command>`.
pub fn run(args: TriageArgs) -> anyhow::Result<()> {
    let TriageCommand::Eval(args) = args.command;
    match args.task {
        Task::Intent => {
            let report = eval::eval_intents(
                required(&args.train, "--train")?,
                required(&args.test, "--test")?,
                args.out_of_scope_label.as_deref(),
            )
            .context("intent evaluation failed")?;
            print_report(&report, args.format)
        }
        Task::Sentiment => {
            let report = eval::eval_sentiment(
                required(&args.test_text, "--test-text")?,
                required(&args.test_labels, "--test-labels")?,
                args.folds,
            )
            .context("sentiment evaluation failed")?;
            print_report(&report, args.format)
        }
    }
}

fn required<'a>(path: &'a Option<PathBuf>, flag: &str) -> anyhow::Result<&'a Path> {
    path.as_deref()
        .with_context(|| format!("{flag} is required for this task"))
}

/// JSON prints the whole report on one line; text prints one `key: value` per line.
fn print_report(report: &impl Serialize, format: Format) -> anyhow::Result<()> {
    let value = serde_json::to_value(report).context("report does not serialise")?;
    match format {
        Format::Json => println!("{value}"),
        Format::Text => {
            let fields = value.as_object().context("report is a JSON object")?;
            for (key, field) in fields {
                println!("{key}: {field}");
            }
        }
    }
    Ok(())
}
