//! `frontdesk kb`: put the help centre into the vector store, and measure retrieval.
//!
//! Glue only: it reads files, calls the knowledge service (`crate::knowledge`) and
//! prints a progress bar or one JSON object of aggregate figures. It must never print
//! article or query text.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::clients::embedding::Embedder;
use crate::clients::embedding::local::{DEFAULT_MODEL_DIR, LocalEncoder};
use crate::clients::vector_store::edge::EdgeStore;
use crate::clients::vector_store::{Filter, VectorStore};
use crate::config::{EncoderKind, Settings};
use crate::domain::knowledge::{Article, ChunkSettings, TokenCounter, WordPieceEstimate};
use crate::domain::stats::percentile;
use crate::knowledge::service::Knowledge;
use crate::knowledge::{ARTICLES, KnowledgeIndex, RetrievalSettings};

/// Arguments of `frontdesk kb`.
#[derive(Debug, Args)]
pub struct KbArgs {
    #[command(subcommand)]
    command: KbCommand,
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// Bring the vector store up to date with a folder of articles (and the articles saved
    /// through the API), re-indexing only what changed
    Ingest(IngestArgs),
    /// Index a JSONL knowledge base in a scratch store, run queries, print recall and latency
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Folder of Markdown articles with front matter.
    #[arg(value_name = "DIR", default_value = "knowledge-base")]
    dir: PathBuf,
    #[command(flatten)]
    encoder: EncoderArgs,
}

#[derive(Debug, Args)]
struct EncoderArgs {
    /// Folder of the sentence encoder [default: DATA_DIR/models/all-minilm-l6-v2]
    #[arg(long, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// Lexical retrieval only, even when the encoder is installed.
    #[arg(long)]
    lexical_only: bool,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Documents, one JSON object a line: `id`, `question`, `answers`.
    #[arg(long, value_name = "KB.jsonl")]
    kb: PathBuf,
    /// Queries, one JSON object a line: `query_id`, `query`, `relevant_faq_id`.
    #[arg(long, value_name = "QUERIES.jsonl")]
    queries: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    #[command(flatten)]
    encoder: EncoderArgs,
    /// Weight of the lexical ranking in the fusion.
    #[arg(long, default_value_t = RetrievalSettings::default().sparse_weight)]
    sparse_weight: f64,
    /// Weight of the dense ranking in the fusion.
    #[arg(long, default_value_t = RetrievalSettings::default().dense_weight)]
    dense_weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Text,
}

/// Runs a `kb` command.
pub async fn run(settings: &Settings, args: KbArgs) -> anyhow::Result<()> {
    match args.command {
        KbCommand::Ingest(ingest) => run_ingest(settings, &ingest).await,
        KbCommand::Eval(eval) => run_eval(settings, &eval).await,
    }
}

/// The local encoder when it is installed and wanted; `None` means lexical only.
fn encoder(settings: &Settings, args: &EncoderArgs) -> anyhow::Result<Option<LocalEncoder>> {
    if args.lexical_only {
        return Ok(None);
    }
    let dir = (args.model_dir.clone())
        .unwrap_or_else(|| settings.data_dir.join("models").join(DEFAULT_MODEL_DIR));
    if !dir.join("model.safetensors").exists() {
        eprintln!(
            "no sentence encoder in {}: lexical retrieval only (frontdesk models install adds it)",
            dir.display()
        );
        return Ok(None);
    }
    let encoder = LocalEncoder::load(&dir).with_context(|| format!("loading {}", dir.display()))?;
    Ok(Some(encoder))
}

/// Chunks are counted in the encoder's tokens when there is one, else estimated.
fn token_counter(encoder: Option<&LocalEncoder>) -> Box<dyn TokenCounter + Send + Sync> {
    match encoder {
        Some(encoder) => Box::new(encoder.token_counter()),
        None => Box::new(WordPieceEstimate),
    }
}

fn embedder(encoder: Option<LocalEncoder>) -> Option<Arc<dyn Embedder>> {
    encoder.map(|e| Arc::new(e) as Arc<dyn Embedder>)
}

async fn run_ingest(settings: &Settings, args: &IngestArgs) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    settings.knowledge.articles_dir = args.dir.clone();
    if args.encoder.lexical_only {
        settings.knowledge.encoder = EncoderKind::None;
    }
    if let Some(dir) = &args.encoder.model_dir {
        settings.knowledge.model_dir = Some(dir.clone());
    }
    let store = super::open_store(&settings, 2).await?;
    let knowledge = Knowledge::open(&settings, store.clone()).await?;
    let mut progress = |done: usize, total: usize| draw_progress(done, total);
    let report = knowledge
        .catalogue
        .sync(&mut progress)
        .await
        .context("indexing the articles")?;
    eprintln!();
    println!(
        "{} articles in force ({} retrieval): {} indexed as {} passages, {} unchanged, {} removed",
        report.articles,
        knowledge.mode,
        report.indexed,
        report.chunks,
        report.unchanged,
        report.removed
    );
    drop(knowledge);
    store.close().await;
    Ok(())
}

/// A one-line progress bar on standard error.
fn draw_progress(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let bar = format!("{}{}", "#".repeat(filled), " ".repeat(WIDTH - filled));
    let mut err = std::io::stderr();
    let _ = write!(err, "\r[{bar}] {done}/{total} articles");
    let _ = err.flush();
}

#[derive(Debug, Deserialize)]
struct KbDocument {
    id: String,
    question: String,
    answers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct KbQuery {
    query: String,
    relevant_faq_id: String,
}

/// The figures `kb eval` prints.
#[derive(Debug, Serialize)]
struct EvalReport {
    n: usize,
    documents: usize,
    chunks: usize,
    recall_at_1: f64,
    recall_at_5: f64,
    mrr: f64,
    p50_ms: f64,
    p99_ms: f64,
    index_seconds: f64,
    retrieval: &'static str,
}

async fn run_eval(settings: &Settings, args: &EvalArgs) -> anyhow::Result<()> {
    let documents: Vec<KbDocument> = read_jsonl(&args.kb)?;
    let queries: Vec<KbQuery> = read_jsonl(&args.queries)?;
    let scratch = std::env::temp_dir().join(format!("frontdesk-kb-eval-{}", std::process::id()));
    let store: Arc<dyn VectorStore> = Arc::new(EdgeStore::new(&scratch));

    let encoder = encoder(settings, &args.encoder)?;
    let settings = RetrievalSettings {
        sparse_weight: args.sparse_weight,
        dense_weight: args.dense_weight,
        ..RetrievalSettings::default()
    };
    let report = evaluate(store, encoder, settings, &documents, &queries).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Text => println!(
            "n={} recall@1={:.4} recall@5={:.4} mrr={:.4} p50={:.2}ms p99={:.2}ms",
            report.n,
            report.recall_at_1,
            report.recall_at_5,
            report.mrr,
            report.p50_ms,
            report.p99_ms
        ),
    }
    Ok(())
}

async fn evaluate(
    store: Arc<dyn VectorStore>,
    encoder: Option<LocalEncoder>,
    settings: RetrievalSettings,
    documents: &[KbDocument],
    queries: &[KbQuery],
) -> anyhow::Result<EvalReport> {
    let articles: Vec<Article> = documents.iter().map(as_article).collect();
    let counter = token_counter(encoder.as_ref());
    let index = KnowledgeIndex::open(store, embedder(encoder), ARTICLES, settings).await?;
    let started = Instant::now();
    let indexed = index
        .index(
            &articles,
            &ChunkSettings::default(),
            counter.as_ref(),
            &mut |_| {},
        )
        .await?;
    let index_seconds = started.elapsed().as_secs_f64();

    let mut ranks = Vec::with_capacity(queries.len());
    let mut latencies = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let passages = index.retrieve(&query.query, Filter::default(), 20).await?;
        latencies.push(started.elapsed());
        ranks.push(rank_of(&passages, &query.relevant_faq_id));
    }
    let mut report = report(&ranks, &latencies, documents.len(), indexed.chunks);
    report.index_seconds = index_seconds;
    report.retrieval = index.mode();
    Ok(report)
}

/// A StackFAQ-style thread as an article: the question is the title, the answers
/// the body, one paragraph each.
fn as_article(document: &KbDocument) -> Article {
    let body = document.answers.join("\n\n");
    Article {
        id: document.id.clone(),
        title: document.question.clone(),
        tags: Vec::new(),
        language: "en".into(),
        updated: None,
        content_hash: String::new(),
        file: document.id.clone(),
        body,
    }
}

/// The 1-based rank of the first passage from `article_id`, counting each article once.
fn rank_of(passages: &[crate::knowledge::Passage], article_id: &str) -> Option<usize> {
    let mut seen: Vec<&str> = Vec::new();
    for passage in passages {
        if !seen.contains(&passage.article_id.as_str()) {
            seen.push(&passage.article_id);
        }
        if passage.article_id == article_id {
            return Some(seen.len());
        }
    }
    None
}

fn report(
    ranks: &[Option<usize>],
    latencies: &[Duration],
    documents: usize,
    chunks: usize,
) -> EvalReport {
    let n = ranks.len();
    let share = |hits: usize| if n == 0 { 0.0 } else { hits as f64 / n as f64 };
    let within = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count();
    let reciprocal: f64 = ranks.iter().flatten().map(|&r| 1.0 / r as f64).sum();
    let latency_ms: Vec<f64> = latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1_000.0)
        .collect();
    EvalReport {
        n,
        documents,
        chunks,
        recall_at_1: share(within(1)),
        recall_at_5: share(within(5)),
        mrr: if n == 0 { 0.0 } else { reciprocal / n as f64 },
        p50_ms: percentile(&latency_ms, 0.50),
        p99_ms: percentile(&latency_ms, 0.99),
        index_seconds: 0.0,
        retrieval: "sparse",
    }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).with_context(|| {
            format!("{} line {}: not a valid record", path.display(), number + 1)
        })?;
        rows.push(row);
    }
    Ok(rows)
}
