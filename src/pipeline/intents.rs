//! The intent model in force and its retraining on the examples supervisors add.
//!
//! The model is trained on the shipped examples plus the database's. A change to the
//! added examples asks for a retrain; training runs on a blocking thread, one run at a
//! time, and swaps the [`Current`] the pipeline reads only when it succeeds, so traffic
//! never waits for it and never sees a half-trained model. A request that arrives during
//! a run causes exactly one more run after it, which reads the examples afresh.
//!
//! Example texts may be customers' own words: nothing here logs one.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use thiserror::Error;

use super::Current;
use crate::domain::triage::{
    LabeledExample, SharedEncoder, TrainOptions, TriageError, Triager, default_examples,
};
use crate::storage::{IntentExample, NewIntentExample, StorageError, Store, now_ms, rfc3339};

/// Longest intent label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Longest example text, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;

/// How models are trained: the options, and the sentence encoder the intent model may
/// consult when there is one.
#[derive(Debug, Clone, Default)]
pub struct Training {
    pub options: TrainOptions,
    pub encoder: Option<SharedEncoder>,
}

impl Training {
    /// The same options without the encoder: quick to train, for the first model.
    fn terms_only(&self) -> Self {
        Self {
            options: self.options.clone(),
            encoder: None,
        }
    }
}

/// Trains a triage model on these intent examples. Start-up and every retrain train
/// through this one function, so a change to how the model is trained goes here.
pub fn train_triager(
    examples: &[LabeledExample],
    training: &Training,
) -> Result<Triager, TriageError> {
    Triager::train_with_encoder(examples, training.options.clone(), training.encoder.clone())
}

/// What is wrong with an example a supervisor gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExampleProblem {
    #[error(
        "the label must be 1 to 64 lowercase letters, digits or underscores, \
         starting with a letter"
    )]
    BadLabel,
    #[error("the text is blank")]
    BlankText,
    #[error("the text is longer than 2000 characters")]
    TextTooLong,
    #[error("the text contains control characters")]
    ControlCharacters,
}

impl ExampleProblem {
    /// A stable, machine-readable name for the problem.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadLabel => "invalid_label",
            Self::BlankText => "empty_example",
            Self::TextTooLong => "example_too_long",
            Self::ControlCharacters => "invalid_text",
        }
    }
}

/// Checks one example and returns it ready to store, its text trimmed.
pub fn new_example(label: &str, text: &str) -> Result<NewIntentExample, ExampleProblem> {
    if !is_label(label) {
        return Err(ExampleProblem::BadLabel);
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(ExampleProblem::BlankText);
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ExampleProblem::TextTooLong);
    }
    let control = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if text.chars().any(control) {
        return Err(ExampleProblem::ControlCharacters);
    }
    Ok(NewIntentExample {
        label: label.to_owned(),
        text: text.to_owned(),
    })
}

/// `^[a-z][a-z0-9_]{0,63}$`, the shape of the shipped labels.
pub fn is_label(label: &str) -> bool {
    let mut chars = label.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    first_ok && rest_ok && label.len() <= MAX_LABEL_CHARS
}

/// Whether a model is being trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingState {
    /// The model in force is trained on the examples as they were at its last run.
    Idle,
    Training,
    /// The last run failed; the model before it stays in force.
    Failed,
}

/// The model in force and how its training went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStatus {
    pub state: TrainingState,
    /// 1 for the model trained at start-up, one more for every model swapped in since.
    pub generation: u64,
    /// When the model in force was trained (RFC 3339).
    pub trained_at: String,
    /// Shipped examples the model in force was trained on.
    pub shipped_examples: usize,
    /// Added examples the model in force was trained on.
    pub added_examples: usize,
    /// Intent labels the model in force knows.
    pub labels: usize,
    /// How long the latest successful training took; `None` for a model shared from an
    /// earlier start in the same process.
    pub last_training_ms: Option<u64>,
    /// Why the latest failed run failed, kept after later successes until the next
    /// failure replaces it.
    pub last_error: Option<String>,
    /// A retrain was asked for during the current run, so one more run follows it.
    pub retrain_queued: bool,
}

/// One intent label with where its examples come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelSummary {
    pub label: String,
    pub shipped_examples: usize,
    pub added_examples: usize,
    /// The model in force knows this label; false for one added since its training.
    pub in_model: bool,
}

/// Why a retrain failed.
#[derive(Debug, Error)]
enum RetrainError {
    #[error("could not read the added examples")]
    Storage(#[from] StorageError),
    #[error("could not train the model")]
    Training(#[from] TriageError),
    #[error("training stopped unexpectedly")]
    Panicked,
}

/// The intent model in force and its retraining; cheap to clone.
#[derive(Clone)]
pub struct IntentModel {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// What the pipeline and the triage probe read; replaced only by a finished run.
    triager: Current<Triager>,
    shipped: Arc<Vec<LabeledExample>>,
    shipped_counts: BTreeMap<String, usize>,
    training: Training,
    /// The status and the coalescing flags, read and changed together.
    runs: Mutex<Runs>,
}

struct Runs {
    status: ModelStatus,
    /// A run is in progress; at most one is, so a second request only sets `again`.
    running: bool,
    /// A request came during the run in progress: run once more when it ends.
    again: bool,
    /// The labels of the model in force.
    labels: BTreeSet<String>,
}

/// A model trained by one run, with what it was trained on.
struct Trained {
    triager: Arc<Triager>,
    added: usize,
    labels: BTreeSet<String>,
    train_ms: u64,
}

impl IntentModel {
    /// Trains the first model: `shipped_model` when the database holds no added
    /// examples (so that a process can share one), else a model of the shipped and the
    /// added examples. When that training fails, the shipped model serves and the
    /// status says why. The first model uses term features only; with an encoder in
    /// `training`, a retrain with it starts at once in the background, since encoding
    /// every example takes far longer than the term model does.
    pub async fn open<F, Fut>(
        store: Store,
        shipped_model: F,
        training: Training,
    ) -> anyhow::Result<Self>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Arc<Triager>>>,
    {
        let shipped = Arc::new(default_examples().context("the shipped examples are bad")?);
        let added = store
            .intent_examples(None)
            .await
            .context("could not read the added intent examples")?;

        let first = if added.is_empty() {
            Ok(None)
        } else {
            train(shipped.clone(), added, training.terms_only())
                .await
                .map(Some)
        };
        let (triager, trained, error) = match first {
            Ok(Some(trained)) => {
                tracing::info!(
                    examples.added = trained.added,
                    train_ms = trained.train_ms,
                    "triage model trained with the added intent examples"
                );
                (trained.triager.clone(), Some(trained), None)
            }
            Ok(None) => (shipped_model().await?, None, None),
            Err(error) => {
                tracing::error!(error = ?error, "could not train on the added intent examples");
                (shipped_model().await?, None, Some(describe(&error)))
            }
        };
        let with_encoder = training.encoder.is_some();
        let model = Self::assemble(store, shipped, triager, trained, error, training);
        if with_encoder {
            tracing::info!("training the intent model's sentence-encoder stage in the background");
            model.request_retrain();
        }
        Ok(model)
    }

    fn assemble(
        store: Store,
        shipped: Arc<Vec<LabeledExample>>,
        triager: Arc<Triager>,
        trained: Option<Trained>,
        error: Option<String>,
        training: Training,
    ) -> Self {
        let mut shipped_counts = BTreeMap::new();
        for example in shipped.iter() {
            *shipped_counts.entry(example.label.clone()).or_default() += 1;
        }
        let labels = match &trained {
            Some(trained) => trained.labels.clone(),
            None => shipped_counts.keys().cloned().collect(),
        };
        let status = ModelStatus {
            state: if error.is_some() {
                TrainingState::Failed
            } else {
                TrainingState::Idle
            },
            generation: 1,
            trained_at: rfc3339(now_ms()),
            shipped_examples: shipped.len(),
            added_examples: trained.as_ref().map_or(0, |t| t.added),
            labels: labels.len(),
            last_training_ms: trained.as_ref().map(|t| t.train_ms),
            last_error: error,
            retrain_queued: false,
        };
        let runs = Runs {
            status,
            running: false,
            again: false,
            labels,
        };
        let inner = Inner {
            store,
            triager: Current::new(triager),
            shipped,
            shipped_counts,
            training,
            runs: Mutex::new(runs),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The model in force, as the pipeline reads it.
    pub fn triager(&self) -> Current<Triager> {
        self.inner.triager.clone()
    }

    /// The model in force and how its latest run went.
    pub fn status(&self) -> ModelStatus {
        self.runs().status.clone()
    }

    /// Every label, shipped or added, with its example counts, in label order.
    pub async fn labels(&self) -> Result<Vec<LabelSummary>, StorageError> {
        let added = self.inner.store.intent_examples(None).await?;
        let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (label, n) in &self.inner.shipped_counts {
            counts.entry(label).or_default().0 = *n;
        }
        for example in &added {
            counts.entry(&example.label).or_default().1 += 1;
        }
        let runs = self.runs();
        let summaries = counts
            .into_iter()
            .map(|(label, (shipped, added))| LabelSummary {
                label: label.to_owned(),
                shipped_examples: shipped,
                added_examples: added,
                in_model: runs.labels.contains(label),
            })
            .collect();
        Ok(summaries)
    }

    /// Asks for a model trained on the examples as they are now. Returns at once; the
    /// training runs in the background, and a request during a run is served by one
    /// more run after it.
    ///
    /// A run is not cancelled on shutdown: a training thread cannot be interrupted, so
    /// the process exits only once a run in progress has finished (seconds), and its
    /// model is then thrown away.
    pub fn request_retrain(&self) {
        let mut runs = self.runs();
        if runs.running {
            runs.again = true;
            runs.status.retrain_queued = true;
            return;
        }
        runs.running = true;
        runs.status.state = TrainingState::Training;
        drop(runs);
        tokio::spawn(self.clone().retrain_until_current());
    }

    /// Runs until no request is left over.
    async fn retrain_until_current(self) {
        loop {
            let outcome = self.train_from_store().await;
            let mut runs = self.runs();
            self.record(&mut runs, outcome);
            if !runs.again {
                runs.running = false;
                return;
            }
            runs.again = false;
            runs.status.retrain_queued = false;
            runs.status.state = TrainingState::Training;
        }
    }

    async fn train_from_store(&self) -> Result<Trained, RetrainError> {
        let added = self.inner.store.intent_examples(None).await?;
        train(
            self.inner.shipped.clone(),
            added,
            self.inner.training.clone(),
        )
        .await
    }

    /// Puts a finished run's model in force, or records why there is none.
    fn record(&self, runs: &mut Runs, outcome: Result<Trained, RetrainError>) {
        let status = &mut runs.status;
        match outcome {
            Ok(trained) => {
                self.inner.triager.replace(trained.triager);
                status.state = TrainingState::Idle;
                status.generation += 1;
                status.trained_at = rfc3339(now_ms());
                status.added_examples = trained.added;
                status.labels = trained.labels.len();
                status.last_training_ms = Some(trained.train_ms);
                runs.labels = trained.labels;
                tracing::info!(
                    triage.generation = status.generation,
                    examples.added = status.added_examples,
                    labels = status.labels,
                    train_ms = trained.train_ms,
                    "triage model retrained"
                );
            }
            Err(error) => {
                tracing::error!(error = ?error, "triage retraining failed; the model stays");
                status.state = TrainingState::Failed;
                status.last_error = Some(describe(&error));
            }
        }
    }

    fn runs(&self) -> MutexGuard<'_, Runs> {
        self.inner
            .runs
            .lock()
            .expect("no holder of the runs lock panics")
    }
}

/// Trains on the shipped and the added examples on a blocking thread.
async fn train(
    shipped: Arc<Vec<LabeledExample>>,
    added: Vec<IntentExample>,
    training: Training,
) -> Result<Trained, RetrainError> {
    let started = Instant::now();
    let added_count = added.len();
    let trained = tokio::task::spawn_blocking(move || {
        let mut examples = Vec::with_capacity(shipped.len() + added.len());
        examples.extend(shipped.iter().cloned());
        examples.extend(added.into_iter().map(|e| LabeledExample {
            text: e.text,
            label: e.label,
        }));
        let labels = examples.iter().map(|e| e.label.clone()).collect();
        train_triager(&examples, &training).map(|triager| (triager, labels))
    })
    .await
    .map_err(|_| RetrainError::Panicked)?;
    let (triager, labels) = trained?;
    Ok(Trained {
        triager: Arc::new(triager),
        added: added_count,
        labels,
        train_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// An error with its causes, for the status a supervisor reads.
fn describe(error: &RetrainError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_have_the_shape_of_the_shipped_ones() {
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        for ok in ["a", "crypto_wallet", "card_2", long.as_str()] {
            assert!(is_label(ok), "{ok}");
        }
        let bad = [
            "",
            "_a",
            "2fa",
            "Crypto",
            "crypto-wallet",
            "crypto wallet",
            "é",
        ];
        for label in bad.iter().copied().chain([too_long.as_str()]) {
            assert!(!is_label(label), "{label:?}");
        }
    }

    #[test]
    fn each_bad_example_names_its_problem() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let cases = [
            ("Bad", "text", ExampleProblem::BadLabel),
            ("ok", "   \n ", ExampleProblem::BlankText),
            ("ok", long.as_str(), ExampleProblem::TextTooLong),
            ("ok", "a\u{0}b", ExampleProblem::ControlCharacters),
        ];
        for (label, text, problem) in cases {
            assert_eq!(new_example(label, text), Err(problem), "case {problem:?}");
        }
    }

    #[test]
    fn a_good_example_is_trimmed_and_may_be_exactly_the_longest() {
        let longest = "y".repeat(MAX_TEXT_CHARS);
        let example = new_example("ok", &format!("  {longest}\n")).expect("valid");
        assert_eq!(example.text, longest);
        assert_eq!(example.label, "ok");
    }
}
