//! Intent classification: TF-IDF features, one-vs-rest linear SVMs, and a softmax with a
//! fitted temperature so the top score reads as a probability.
//!
//! Decides only the intent and its explanation; it must never look at conversation context
//! or customer data, so the same text always gets the same intent.

use std::collections::BTreeSet;

use super::features::{SparseVec, Vectorizer, for_each_term};
use super::linear::{LinearModel, train_ovr};
use super::{
    FeatureWeight, IntentPrediction, LabeledExample, ScoredLabel, TrainOptions, TriageError,
};

/// How many runner-up intents are reported.
const ALTERNATIVES: usize = 3;
/// How many features an explanation lists.
const EXPLAIN_TOP: usize = 6;

/// A trained intent model. Immutable once built, so it is shared freely across threads.
#[derive(Debug, Clone)]
pub(crate) struct IntentModel {
    vectorizer: Vectorizer,
    model: LinearModel,
    labels: Vec<String>,
    oos_class: Option<usize>,
    temperature: f32,
    oos_threshold: f32,
}

/// What one prediction produced, kept for the explanation step.
pub(crate) struct Scored {
    pub(crate) prediction: IntentPrediction,
    pub(crate) class: usize,
    pub(crate) features: SparseVec,
}

impl IntentModel {
    /// Fits the vocabulary and the classifier on the examples.
    pub(crate) fn train(
        examples: &[LabeledExample],
        opts: &TrainOptions,
    ) -> Result<Self, TriageError> {
        let labels = collect_labels(examples)?;
        let ys: Vec<usize> = examples
            .iter()
            .map(|e| {
                labels
                    .binary_search(&e.label)
                    .expect("label set built from examples")
            })
            .collect();
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let vectorizer = Vectorizer::fit(&texts, opts.features);
        let xs: Vec<SparseVec> = texts.iter().map(|t| vectorizer.transform(t)).collect();
        let model = train_ovr(&xs, &ys, labels.len(), vectorizer.len(), &opts.svm);
        let oos_class = opts
            .out_of_scope_label
            .as_ref()
            .and_then(|l| labels.binary_search(l).ok());
        Ok(Self {
            vectorizer,
            model,
            labels,
            oos_class,
            temperature: opts.temperature,
            oos_threshold: opts.out_of_scope_threshold,
        })
    }

    /// Classifies one message.
    pub(crate) fn predict(&self, text: &str) -> Scored {
        let features = self.vectorizer.transform(text);
        let probs = self.probabilities(&features);
        let mut ranked: Vec<usize> = (0..probs.len())
            .filter(|&c| Some(c) != self.oos_class)
            .collect();
        ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        let best = ranked[0];
        let oos_wins = self.oos_class.is_some_and(|o| probs[o] > probs[best]);
        let prediction = IntentPrediction {
            label: self.labels[best].clone(),
            confidence: probs[best],
            alternatives: ranked[1..]
                .iter()
                .take(ALTERNATIVES)
                .map(|&c| ScoredLabel {
                    label: self.labels[c].clone(),
                    confidence: probs[c],
                })
                .collect(),
            out_of_scope: oos_wins || probs[best] < self.oos_threshold,
        };
        Scored {
            prediction,
            class: best,
            features,
        }
    }

    /// Calibrated class probabilities for one vectorised message.
    pub(crate) fn probabilities(&self, x: &SparseVec) -> Vec<f32> {
        softmax(&self.model.scores(x), self.temperature)
    }

    /// Raw decision values, for fitting the temperature.
    pub(crate) fn raw_scores(&self, text: &str) -> Vec<f32> {
        self.model.scores(&self.vectorizer.transform(text))
    }

    /// Index of a label, if the model knows it.
    pub(crate) fn class_of(&self, label: &str) -> Option<usize> {
        self.labels.binary_search_by(|l| l.as_str().cmp(label)).ok()
    }

    /// The terms of the message that pushed hardest towards the chosen class.
    pub(crate) fn explain(&self, text: &str, scored: &Scored) -> Vec<FeatureWeight> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for_each_term(text, self.vectorizer.config(), &mut |term, _| {
            let Some(f) = self.vectorizer.lookup(term) else {
                return;
            };
            let Ok(pos) = scored.features.idx.binary_search(&f) else {
                return;
            };
            if seen.insert(f) {
                let w = scored.features.val[pos] * self.model.weight(f, scored.class);
                out.push(FeatureWeight {
                    feature: term.to_owned(),
                    weight: w,
                });
            }
        });
        out.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        out.truncate(EXPLAIN_TOP);
        out
    }

    /// Approximate heap size of the model, for memory reporting.
    pub(crate) fn heap_bytes(&self) -> usize {
        // Each vocabulary entry costs its key, value and hash-table overhead.
        self.model.heap_bytes() + self.vectorizer.len() * (8 + 4 + 4 + 8)
    }
}

fn collect_labels(examples: &[LabeledExample]) -> Result<Vec<String>, TriageError> {
    if examples.is_empty() {
        return Err(TriageError::NoExamples);
    }
    if let Some(i) = examples.iter().position(|e| e.label.trim().is_empty()) {
        return Err(TriageError::EmptyLabel(i));
    }
    let labels: BTreeSet<&str> = examples.iter().map(|e| e.label.as_str()).collect();
    if labels.len() < 2 {
        return Err(TriageError::TooFewLabels(labels.len()));
    }
    Ok(labels.into_iter().map(str::to_owned).collect())
}

/// Softmax of `scores * temperature`; the temperature is a sharpness factor fitted on held-out
/// data, larger meaning more confident.
pub(crate) fn softmax(scores: &[f32], temperature: f32) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scores
        .iter()
        .map(|s| ((s - max) * temperature).exp())
        .collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}
