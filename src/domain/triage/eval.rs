//! Offline evaluation of the triage models against labelled files, for the `triage eval`
//! command and for the figures in `docs/triage.md`.
//!
//! This is the one part of triage that reads files and the clock; decision code must never
//! call into it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::intent::{IntentModel, softmax};
use super::{
    IntentStage, LabeledExample, SentimentLabel, SharedEncoder, TrainOptions, TriageContext,
    TriageError, Triager, data::parse_examples,
};
use crate::domain::stats::percentile;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not parse {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: TriageError,
    },
    #[error("training failed")]
    Train(#[from] TriageError),
    #[error("{texts} texts but {labels} labels")]
    LengthMismatch { texts: usize, labels: usize },
    #[error("label line {line} is not 0, 1 or 2")]
    BadLabel { line: usize },
    #[error("the test set is empty")]
    EmptyTestSet,
    #[error("{folds} folds need between 2 and {rows} rows")]
    BadFolds { folds: usize, rows: usize },
}

/// Intent evaluation figures; serialises to the JSON the CLI prints.
#[derive(Debug, Clone, Serialize)]
pub struct IntentReport {
    pub n: usize,
    pub n_train: usize,
    pub n_labels: usize,
    /// Share of test rows whose label was predicted; with an out-of-scope label, an
    /// out-of-scope row counts as right when it is flagged, an in-scope row when its label
    /// is right and it is not flagged.
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Expected calibration error of the top confidence on in-scope rows, 15 equal-width
    /// bins.
    pub ece: f64,
    /// Mean negative log-likelihood of the true label (in-scope rows only).
    pub nll: f64,
    /// Temperature that would minimise NLL on this test set; fit it on a dev split only.
    pub nll_optimal_temperature: f32,
    pub temperature: f32,
    pub out_of_scope_threshold: f32,
    /// Share of all test rows flagged out of scope.
    pub out_of_scope_flag_rate: f64,
    pub in_scope_accuracy: Option<f64>,
    pub out_of_scope_recall: Option<f64>,
    pub train_seconds: f64,
    /// Whole-triage latency per message, one message at a time on one thread.
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub model_heap_mb: f64,
    pub model_version: String,
    /// Present when the model was trained with a sentence encoder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderReport>,
}

/// How the encoder stage was set up and how often it decided.
#[derive(Debug, Clone, Serialize)]
pub struct EncoderReport {
    pub weight: f32,
    pub consult_below: f32,
    pub temperature: f32,
    /// Share of test rows on which the term model was unsure and the encoder was consulted.
    pub consulted_share: f64,
    /// NLL of the encoder stage over the in-scope rows it decided.
    pub nll: f64,
    /// Temperature that would minimise that NLL; fit it on a dev split only.
    pub nll_optimal_temperature: f32,
    /// Whole-triage latency of the rows that consulted the encoder.
    pub consulted_p50_us: f64,
    pub consulted_p99_us: f64,
}

/// Sentiment evaluation figures.
#[derive(Debug, Clone, Serialize)]
pub struct SentimentReport {
    pub n: usize,
    pub accuracy: f64,
    /// Mean of the per-class recalls (negative, neutral, positive).
    pub macro_recall: f64,
    pub recall: BTreeMap<String, f64>,
    /// `confusion[truth][predicted]`, classes in the order negative, neutral, positive.
    pub confusion: [[usize; 3]; 3],
    /// Time to score one message with the sentiment lexicon alone, one at a time.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Present when folds were asked for: what fitting the neutral band would give.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band_cross_validation: Option<BandCrossValidation>,
}

/// The neutral band (`[negative_below, positive_above]` on the sentiment score) fitted by
/// k-fold cross-validation on the evaluation file itself. The shipped band is not changed
/// by this; it says whether a fitted band would generalise better than the shipped one.
#[derive(Debug, Clone, Serialize)]
pub struct BandCrossValidation {
    pub folds: usize,
    /// Seed of the shuffle that assigns rows to folds.
    pub seed: u64,
    /// Pooled over the held-out folds, each labelled with the band fitted on the others.
    pub accuracy: f64,
    pub macro_recall: f64,
    pub recall: BTreeMap<String, f64>,
    /// The band chosen on each fold's training part.
    pub fold_bands: Vec<[f64; 2]>,
    /// The band that is best on the whole file, and its macro recall there (in-sample).
    pub in_sample_band: [f64; 2],
    pub in_sample_macro_recall: f64,
}

/// Seed of the fold shuffle, fixed so that cross-validated figures can be reproduced.
const FOLD_SEED: u64 = 17;

/// Trains on one `text,category` CSV and scores another, with the given options and
/// encoder (the server's are [`TrainOptions::default`] and the installed encoder).
pub fn eval_intents(
    train_csv: &Path,
    test_csv: &Path,
    options: TrainOptions,
    encoder: Option<SharedEncoder>,
) -> Result<IntentReport, EvalError> {
    eval_intents_with(
        &read_examples(train_csv)?,
        &read_examples(test_csv)?,
        options,
        encoder,
    )
}

/// Reads labelled examples from a CSV file.
pub fn read_examples(path: &Path) -> Result<Vec<LabeledExample>, EvalError> {
    parse_examples(&read(path)?).map_err(|source| EvalError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Same as [`eval_intents`] with examples already loaded and options of the caller's choice.
pub fn eval_intents_with(
    train: &[LabeledExample],
    test: &[LabeledExample],
    options: TrainOptions,
    encoder: Option<SharedEncoder>,
) -> Result<IntentReport, EvalError> {
    if test.is_empty() {
        return Err(EvalError::EmptyTestSet);
    }
    let oos = options.out_of_scope_label.clone();
    let (temperature, threshold) = (options.temperature, options.out_of_scope_threshold);
    let encoder_options = options.encoder;
    let with_encoder = encoder.is_some();
    let started = Instant::now();
    let triager = Triager::train_with_encoder(train, options, encoder)?;
    let train_seconds = started.elapsed().as_secs_f64();

    let run = run_intents(&triager, test, oos.as_deref());
    let model = triager.intent_model();
    let (nll, nll_optimal_temperature) =
        calibration_fit(test, temperature, |t| Some(model.raw_scores(t)), model);
    // The encoder stage's temperature matters only where it decides.
    let consulted: Vec<LabeledExample> = (test.iter().zip(&run.consulted))
        .filter(|(_, c)| **c)
        .map(|(e, _)| e.clone())
        .collect();
    let encoder_calibration = with_encoder.then(|| {
        calibration_fit(
            &consulted,
            encoder_options.temperature,
            |t| model.encoder_scores(t),
            model,
        )
    });
    let n_labels = train
        .iter()
        .map(|e| &e.label)
        .collect::<std::collections::HashSet<_>>();
    Ok(IntentReport {
        n: test.len(),
        n_train: train.len(),
        n_labels: n_labels.len(),
        accuracy: run.accuracy(),
        macro_f1: macro_f1(&run.truth, &run.predicted),
        ece: expected_calibration_error(&run.confidence, &run.label_right, 15),
        nll,
        nll_optimal_temperature,
        temperature,
        out_of_scope_threshold: threshold,
        out_of_scope_flag_rate: share(&run.flagged),
        in_scope_accuracy: oos.as_ref().map(|_| run.in_scope_accuracy()),
        out_of_scope_recall: oos.as_ref().map(|_| run.out_of_scope_recall()),
        train_seconds,
        p50_us: percentile(&run.latency_us, 0.50),
        p99_us: percentile(&run.latency_us, 0.99),
        mean_us: run.latency_us.iter().sum::<f64>() / run.latency_us.len() as f64,
        model_heap_mb: triager.heap_bytes() as f64 / 1_048_576.0,
        model_version: triager.model_version().to_owned(),
        encoder: with_encoder.then(|| EncoderReport {
            weight: encoder_options.weight,
            consult_below: encoder_options.consult_below,
            temperature: encoder_options.temperature,
            consulted_share: share(&run.consulted),
            nll: encoder_calibration.map_or(f64::NAN, |c| c.0),
            nll_optimal_temperature: encoder_calibration.map_or(f32::NAN, |c| c.1),
            consulted_p50_us: percentile(&run.consulted_latency_us(), 0.50),
            consulted_p99_us: percentile(&run.consulted_latency_us(), 0.99),
        }),
    })
}

/// Per-row outcomes of one intent run.
struct IntentRun {
    truth: Vec<String>,
    predicted: Vec<String>,
    is_oos: Vec<bool>,
    flagged: Vec<bool>,
    label_right: Vec<bool>,
    confidence: Vec<f32>,
    latency_us: Vec<f64>,
    consulted: Vec<bool>,
}

impl IntentRun {
    fn consulted_latency_us(&self) -> Vec<f64> {
        let rows = self.latency_us.iter().zip(&self.consulted);
        rows.filter(|(_, c)| **c).map(|(l, _)| *l).collect()
    }

    fn accuracy(&self) -> f64 {
        let right = self
            .truth
            .iter()
            .zip(&self.predicted)
            .filter(|(t, p)| t == p);
        right.count() as f64 / self.truth.len() as f64
    }

    fn in_scope_accuracy(&self) -> f64 {
        let rows: Vec<bool> = (0..self.truth.len())
            .filter(|&i| !self.is_oos[i])
            .map(|i| self.truth[i] == self.predicted[i])
            .collect();
        share(&rows)
    }

    fn out_of_scope_recall(&self) -> f64 {
        let rows: Vec<bool> = (0..self.truth.len())
            .filter(|&i| self.is_oos[i])
            .map(|i| self.flagged[i])
            .collect();
        share(&rows)
    }
}

fn run_intents(triager: &Triager, test: &[LabeledExample], oos: Option<&str>) -> IntentRun {
    let ctx = TriageContext::default();
    let mut run = IntentRun {
        truth: Vec::new(),
        predicted: Vec::new(),
        is_oos: Vec::new(),
        flagged: Vec::new(),
        label_right: Vec::new(),
        confidence: Vec::new(),
        latency_us: Vec::new(),
        consulted: Vec::new(),
    };
    for example in test {
        let started = Instant::now();
        let triage = std::hint::black_box(triager.triage(&example.text, &ctx));
        run.latency_us.push(started.elapsed().as_secs_f64() * 1e6);

        let is_oos = oos == Some(example.label.as_str());
        let flagged = oos.is_some() && triage.intent.out_of_scope;
        // Without an out-of-scope label the flag is reported but does not change the label.
        let predicted = match (oos, flagged) {
            (Some(label), true) => label.to_owned(),
            _ => triage.intent.label.clone(),
        };
        // Calibration is judged on in-scope rows: an out-of-scope row has no right label.
        if !is_oos {
            run.label_right.push(triage.intent.label == example.label);
            run.confidence.push(triage.intent.confidence);
        }
        run.flagged.push(triage.intent.out_of_scope);
        run.consulted
            .push(triage.explanation.intent_stage != IntentStage::Terms);
        run.is_oos.push(is_oos);
        run.truth.push(example.label.clone());
        run.predicted.push(predicted);
    }
    run
}

/// NLL of the scores `scores_of` gives at the configured temperature, and the temperature
/// that minimises it here.
fn calibration_fit(
    test: &[LabeledExample],
    temperature: f32,
    scores_of: impl Fn(&str) -> Option<Vec<f32>>,
    model: &IntentModel,
) -> (f64, f32) {
    let rows: Vec<(Vec<f32>, usize)> = test
        .iter()
        .filter_map(|e| Some((scores_of(&e.text)?, model.class_of(&e.label)?)))
        .collect();
    let nll_at = |t: f32| {
        let total: f64 = rows
            .iter()
            .map(|(s, c)| -f64::from(softmax(s, t)[*c].max(1e-12)).ln())
            .sum();
        total / rows.len().max(1) as f64
    };
    let grid = (1..=120).map(|i| i as f32 * 0.25);
    let best = grid
        .min_by(|a, b| nll_at(*a).total_cmp(&nll_at(*b)))
        .expect("grid is not empty");
    (nll_at(temperature), best)
}

fn expected_calibration_error(confidence: &[f32], right: &[bool], bins: usize) -> f64 {
    let mut sums = vec![(0.0_f64, 0.0_f64); bins];
    for (c, r) in confidence.iter().zip(right) {
        let b = ((*c as f64 * bins as f64) as usize).min(bins - 1);
        sums[b].0 += f64::from(*c);
        sums[b].1 += f64::from(u8::from(*r));
    }
    let n = confidence.len().max(1) as f64;
    // Summing |confidence - correctness| per bin and dividing by all rows weights each bin
    // by its share of the rows.
    sums.iter().map(|(c, r)| (c - r).abs()).sum::<f64>() / n
}

fn macro_f1(truth: &[String], predicted: &[String]) -> f64 {
    let mut counts: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        if t == p {
            counts.entry(t).or_default().0 += 1;
        } else {
            counts.entry(p).or_default().1 += 1;
            counts.entry(t).or_default().2 += 1;
        }
    }
    let f1s: Vec<f64> = counts
        .values()
        .map(|&(tp, fp, fn_)| {
            let denom = 2 * tp + fp + fn_;
            if denom == 0 {
                0.0
            } else {
                2.0 * tp as f64 / denom as f64
            }
        })
        .collect();
    f1s.iter().sum::<f64>() / f1s.len().max(1) as f64
}

fn share(flags: &[bool]) -> f64 {
    flags.iter().filter(|f| **f).count() as f64 / flags.len().max(1) as f64
}

/// Scores the shipped sentiment model on one-text-per-line and one-label-per-line files
/// (0 negative, 1 neutral, 2 positive); with `folds`, also cross-validates the neutral band.
pub fn eval_sentiment(
    text: &Path,
    labels: &Path,
    folds: Option<usize>,
) -> Result<SentimentReport, EvalError> {
    let texts = read(text)?;
    let labels = parse_labels(&read(labels)?)?;
    let texts: Vec<&str> = texts.lines().collect();
    if texts.len() != labels.len() {
        return Err(EvalError::LengthMismatch {
            texts: texts.len(),
            labels: labels.len(),
        });
    }
    if texts.is_empty() {
        return Err(EvalError::EmptyTestSet);
    }
    let lexicon = super::sentiment::Lexicon::shipped();
    let mut confusion = [[0_usize; 3]; 3];
    let mut scores = Vec::with_capacity(texts.len());
    let mut latency_us = Vec::with_capacity(texts.len());
    for (t, &y) in texts.iter().zip(&labels) {
        let started = Instant::now();
        let (sentiment, _) = lexicon.score(t);
        latency_us.push(started.elapsed().as_secs_f64() * 1e6);
        confusion[y][class_index(sentiment.label)] += 1;
        scores.push(sentiment.score);
    }
    let mut report = sentiment_report(confusion);
    report.p50_us = percentile(&latency_us, 0.50);
    report.p99_us = percentile(&latency_us, 0.99);
    if let Some(k) = folds {
        report.band_cross_validation = Some(band_cross_validation(&scores, &labels, k)?);
    }
    Ok(report)
}

fn class_index(label: SentimentLabel) -> usize {
    match label {
        SentimentLabel::Negative => 0,
        SentimentLabel::Neutral => 1,
        SentimentLabel::Positive => 2,
    }
}

/// Fits the band on k-1 folds and labels the held-out fold with it, for every fold.
fn band_cross_validation(
    scores: &[f32],
    labels: &[usize],
    folds: usize,
) -> Result<BandCrossValidation, EvalError> {
    if folds < 2 || folds > scores.len() {
        return Err(EvalError::BadFolds {
            folds,
            rows: scores.len(),
        });
    }
    let fold = fold_assignment(scores.len(), folds, FOLD_SEED);
    let mut pooled = [[0_usize; 3]; 3];
    let mut fold_bands = Vec::with_capacity(folds);
    for f in 0..folds {
        let train: Vec<usize> = (0..scores.len()).filter(|&i| fold[i] != f).collect();
        let test: Vec<usize> = (0..scores.len()).filter(|&i| fold[i] == f).collect();
        let band = best_band(scores, labels, &train);
        add_confusion(&mut pooled, &band_confusion(scores, labels, &test, band));
        fold_bands.push(band);
    }
    let all: Vec<usize> = (0..scores.len()).collect();
    let in_sample_band = best_band(scores, labels, &all);
    let held_out = sentiment_report(pooled);
    Ok(BandCrossValidation {
        folds,
        seed: FOLD_SEED,
        accuracy: held_out.accuracy,
        macro_recall: held_out.macro_recall,
        recall: held_out.recall,
        fold_bands,
        in_sample_band,
        in_sample_macro_recall: macro_recall(&band_confusion(scores, labels, &all, in_sample_band)),
    })
}

/// Row `i` goes to fold `fold[i]`: a seeded shuffle dealt out round-robin, so folds differ
/// in size by at most one.
fn fold_assignment(rows: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    super::linear::XorShift::new(seed).shuffle(&mut order);
    let mut fold = vec![0; rows];
    for (position, &row) in order.iter().enumerate() {
        fold[row] = position % folds;
    }
    fold
}

/// The band on a 0.025 grid (each bound within 0.6 of zero) with the best macro recall on
/// `rows`; the first in grid order wins a tie.
fn best_band(scores: &[f32], labels: &[usize], rows: &[usize]) -> [f64; 2] {
    let grid: Vec<f64> = (0..=24).map(|i| f64::from(i) / 40.0).collect();
    let mut best = ([-0.2, 0.2], f64::MIN);
    for &below in &grid {
        for &above in &grid {
            let band = [-below, above];
            let recall = macro_recall(&band_confusion(scores, labels, rows, band));
            if recall > best.1 {
                best = (band, recall);
            }
        }
    }
    best.0
}

fn band_confusion(
    scores: &[f32],
    labels: &[usize],
    rows: &[usize],
    [below, above]: [f64; 2],
) -> [[usize; 3]; 3] {
    let mut confusion = [[0_usize; 3]; 3];
    for &i in rows {
        let score = f64::from(scores[i]);
        let predicted = if score > above {
            2
        } else if score < below {
            0
        } else {
            1
        };
        confusion[labels[i]][predicted] += 1;
    }
    confusion
}

fn add_confusion(total: &mut [[usize; 3]; 3], part: &[[usize; 3]; 3]) {
    for (row, add) in total.iter_mut().zip(part) {
        for (cell, n) in row.iter_mut().zip(add) {
            *cell += n;
        }
    }
}

fn macro_recall(confusion: &[[usize; 3]; 3]) -> f64 {
    let recall =
        |c: usize| confusion[c][c] as f64 / confusion[c].iter().sum::<usize>().max(1) as f64;
    (0..3).map(recall).sum::<f64>() / 3.0
}

fn sentiment_report(confusion: [[usize; 3]; 3]) -> SentimentReport {
    let names = ["negative", "neutral", "positive"];
    let n: usize = confusion.iter().flatten().sum();
    let recall: BTreeMap<String, f64> = (0..3)
        .map(|c| {
            let row: usize = confusion[c].iter().sum();
            (
                names[c].to_owned(),
                confusion[c][c] as f64 / row.max(1) as f64,
            )
        })
        .collect();
    SentimentReport {
        n,
        accuracy: (0..3).map(|c| confusion[c][c]).sum::<usize>() as f64 / n as f64,
        macro_recall: recall.values().sum::<f64>() / 3.0,
        recall,
        confusion,
        p50_us: 0.0,
        p99_us: 0.0,
        band_cross_validation: None,
    }
}

fn parse_labels(text: &str) -> Result<Vec<usize>, EvalError> {
    text.lines()
        .enumerate()
        .map(|(i, l)| match l.trim() {
            "0" => Ok(0),
            "1" => Ok(1),
            "2" => Ok(2),
            _ => Err(EvalError::BadLabel { line: i + 1 }),
        })
        .collect()
}

/// The tokens the sentiment model sees, lower-cased; used to fit its learned word weights
/// offline so training and serving split text the same way.
pub fn sentiment_tokens(text: &str) -> Vec<String> {
    super::sentiment::tokens(text)
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let truth: Vec<String> = ["a", "a", "b", "b"].map(String::from).to_vec();
        let predicted: Vec<String> = ["a", "b", "b", "b"].map(String::from).to_vec();
        // a: tp 1 fn 1 -> f1 2/3; b: tp 2 fp 1 -> f1 4/5.
        assert!((macro_f1(&truth, &predicted) - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
        let ece = expected_calibration_error(&[0.9, 0.9], &[true, false], 10);
        assert!((ece - 0.4).abs() < 1e-6, "ece {ece}");
    }

    #[test]
    fn every_fold_gets_a_fair_share_of_rows() {
        let fold = fold_assignment(11, 5, FOLD_SEED);
        let mut sizes = [0; 5];
        for f in &fold {
            sizes[*f] += 1;
        }
        assert_eq!(sizes.iter().sum::<usize>(), 11);
        assert!(sizes.iter().all(|s| (2..=3).contains(s)), "{sizes:?}");
        assert_eq!(
            fold,
            fold_assignment(11, 5, FOLD_SEED),
            "same seed, same folds"
        );
    }

    #[test]
    fn fitted_band_separates_cleanly_separable_scores() {
        let scores = [-0.9, -0.5, -0.4, 0.0, 0.05, -0.05, 0.5, 0.7, 0.9];
        let labels = [0, 0, 0, 1, 1, 1, 2, 2, 2];
        let all: Vec<usize> = (0..scores.len()).collect();
        let [below, above] = best_band(&scores, &labels, &all);
        assert!((-0.4..=-0.05).contains(&below) && (0.05..0.5).contains(&above));
        let cv = band_cross_validation(&scores, &labels, 3).expect("3 folds of 9 rows");
        assert_eq!(cv.fold_bands.len(), 3);
        assert!((cv.in_sample_macro_recall - 1.0).abs() < 1e-9);
    }

    #[test]
    fn folds_outside_two_to_rows_are_rejected() {
        for folds in [0, 1, 4] {
            let result = band_cross_validation(&[0.1, 0.2, 0.3], &[0, 1, 2], folds);
            assert!(
                matches!(result, Err(EvalError::BadFolds { .. })),
                "case {folds} folds"
            );
        }
    }

    #[test]
    fn sentiment_labels_must_be_0_1_or_2() {
        assert_eq!(parse_labels("0\n2\n1").expect("valid"), vec![0, 2, 1]);
        assert!(matches!(
            parse_labels("0\n3"),
            Err(EvalError::BadLabel { line: 2 })
        ));
    }
}
