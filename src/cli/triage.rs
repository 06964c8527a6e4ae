//! `frontdesk triage`: offline evaluation of the triage models against labelled files.
//!
//! Glue only: it parses arguments, calls `domain::triage::eval` and prints one JSON object
//! (or a short text summary). It must never print message text, only aggregate figures.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use std::sync::Arc;

use crate::clients::embedding::cache::CachedEncoder;
use crate::clients::embedding::local::LocalEncoder;
use crate::config::Settings;
use crate::domain::triage::{EncoderOptions, SentenceEncoder, SharedEncoder, TrainOptions, eval};

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
    #[command(flatten)]
    encoder: EncoderArgs,
}

/// The intent model's sentence-encoder stage; the defaults are the server's.
#[derive(Debug, Args)]
struct EncoderArgs {
    /// Folder of the sentence encoder [default: DATA_DIR/models/all-minilm-l6-v2]
    #[arg(long, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// Term model only, even when the encoder is installed.
    #[arg(long)]
    no_encoder: bool,
    /// Keep the training texts' vectors in this file and reuse them on the next run.
    #[arg(long, value_name = "FILE")]
    vector_cache: Option<PathBuf>,
    /// Weight of the encoder's vector against the unit-length term vector.
    #[arg(long, default_value_t = EncoderOptions::default().weight)]
    encoder_weight: f32,
    /// Consult the encoder when the term model's confidence is below this (1 = always).
    #[arg(long, default_value_t = EncoderOptions::default().consult_below)]
    consult_below: f32,
    /// Transformer layers of the encoder to run (fewer is faster); 0 means all.
    #[arg(long, default_value_t = crate::config::TriageSettings::default().encoder_layers)]
    encoder_layers: usize,
    /// Softmax sharpness of the encoder stage.
    #[arg(long, default_value_t = EncoderOptions::default().temperature)]
    encoder_temperature: f32,
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
pub fn run(settings: &Settings, args: TriageArgs) -> anyhow::Result<()> {
    let TriageCommand::Eval(args) = args.command;
    match args.task {
        Task::Intent => {
            let options = TrainOptions {
                out_of_scope_label: args.out_of_scope_label.clone(),
                encoder: EncoderOptions {
                    weight: args.encoder.encoder_weight,
                    consult_below: args.encoder.consult_below,
                    temperature: args.encoder.encoder_temperature,
                },
                ..TrainOptions::default()
            };
            let report = eval::eval_intents(
                required(&args.train, "--train")?,
                required(&args.test, "--test")?,
                options,
                encoder(settings, &args.encoder)?,
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

/// The installed encoder unless told otherwise; without one, the term model alone, as
/// the server would run.
fn encoder(settings: &Settings, args: &EncoderArgs) -> anyhow::Result<Option<SharedEncoder>> {
    if args.no_encoder {
        return Ok(None);
    }
    let dir = args
        .model_dir
        .clone()
        .unwrap_or_else(|| settings.model_dir());
    if !dir.join("model.safetensors").exists() {
        eprintln!(
            "no sentence encoder in {}: term model only (frontdesk models install adds it)",
            dir.display()
        );
        return Ok(None);
    }
    let encoder = LocalEncoder::load(&dir)
        .and_then(|e| e.first_layers(args.encoder_layers))
        .and_then(|e| e.with_max_pooling())
        .with_context(|| format!("loading {}", dir.display()))?;
    let encoder: Arc<dyn SentenceEncoder> = match &args.vector_cache {
        Some(path) => Arc::new(CachedEncoder::new(Arc::new(encoder), path)),
        None => Arc::new(encoder),
    };
    Ok(Some(SharedEncoder(encoder)))
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
