//! Intent classification: TF-IDF features, one-vs-rest linear SVMs, and a softmax with a
//! fitted temperature so the top score reads as a probability. With a sentence encoder, a
//! second model over term features plus the encoder's vector decides the messages the
//! term model is unsure of.
//!
//! Decides only the intent and its explanation; it must never look at conversation context
//! or customer data, so the same text always gets the same intent.

use std::collections::BTreeSet;

use super::encoder::SharedEncoder;
use super::features::{MAX_CHARS, SparseVec, Vectorizer, for_each_term};
use super::linear::{LinearModel, train_ovr};
use super::{
    FeatureWeight, IntentPrediction, IntentStage, LabeledExample, ScoredLabel, TrainOptions,
    TriageError,
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
    encoded: Option<EncodedStage>,
}

/// The second model, over term features followed by the encoder's vector.
#[derive(Debug, Clone)]
struct EncodedStage {
    encoder: SharedEncoder,
    model: LinearModel,
    /// Index of the first encoder feature: the term vocabulary's length.
    offset: u32,
    weight: f32,
    temperature: f32,
    consult_below: f32,
}

impl EncodedStage {
    /// The term vector with the weighted encoder vector appended after the vocabulary.
    fn combine(&self, terms: &SparseVec, vector: &[f32]) -> SparseVec {
        append_dense(terms, vector, self.offset, self.weight)
    }
}

/// What one prediction produced, kept for the explanation step.
pub(crate) struct Scored {
    pub(crate) prediction: IntentPrediction,
    pub(crate) class: usize,
    pub(crate) features: SparseVec,
    pub(crate) stage: IntentStage,
}

impl IntentModel {
    /// Fits the vocabulary and the classifier on the examples.
    pub(crate) fn train(
        examples: &[LabeledExample],
        opts: &TrainOptions,
        encoder: Option<&SharedEncoder>,
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
        let encoded = match encoder {
            Some(encoder) => Some(train_encoded(
                encoder,
                &texts,
                &xs,
                &ys,
                labels.len(),
                vectorizer.len(),
                opts,
            )?),
            None => None,
        };
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
            encoded,
        })
    }

    /// Classifies one message: the term model first, the encoder stage when the term
    /// model is unsure and an encoder was trained in. An encoder that fails leaves the
    /// term model's answer standing.
    pub(crate) fn predict(&self, text: &str) -> Scored {
        let features = self.vectorizer.transform(text);
        let mut probs = self.probabilities(&features);
        let mut stage = IntentStage::Terms;
        if let Some(encoded) = &self.encoded
            && self.best_in_scope(&probs) < encoded.consult_below
        {
            stage = IntentStage::EncoderFailed;
            if let Some(vector) = encode_one(&encoded.encoder, text) {
                let combined = encoded.combine(&features, &vector);
                probs = softmax(&encoded.model.scores(&combined), encoded.temperature);
                stage = IntentStage::Encoder;
            }
        }
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
            stage,
        }
    }

    fn best_in_scope(&self, probs: &[f32]) -> f32 {
        (0..probs.len())
            .filter(|&c| Some(c) != self.oos_class)
            .map(|c| probs[c])
            .fold(0.0, f32::max)
    }

    /// Raw decision values of the encoder stage for one message, for fitting its
    /// temperature; `None` without an encoder stage or when encoding fails.
    pub(crate) fn encoder_scores(&self, text: &str) -> Option<Vec<f32>> {
        let encoded = self.encoded.as_ref()?;
        let vector = encode_one(&encoded.encoder, text)?;
        let combined = encoded.combine(&self.vectorizer.transform(text), &vector);
        Some(encoded.model.scores(&combined))
    }

    /// Name of the encoder behind the second stage, when there is one.
    pub(crate) fn encoder_name(&self) -> Option<&str> {
        self.encoded.as_ref().map(|e| e.encoder.0.name())
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
                let model = match (&self.encoded, scored.stage) {
                    (Some(encoded), IntentStage::Encoder) => &encoded.model,
                    _ => &self.model,
                };
                let w = scored.features.val[pos] * model.weight(f, scored.class);
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
        let encoded = self.encoded.as_ref().map_or(0, |e| e.model.heap_bytes());
        self.model.heap_bytes() + encoded + self.vectorizer.len() * (8 + 4 + 4 + 8)
    }
}

/// Encodes every training text and trains the combined model on terms plus vectors.
fn train_encoded(
    encoder: &SharedEncoder,
    texts: &[&str],
    xs: &[SparseVec],
    ys: &[usize],
    n_classes: usize,
    n_terms: usize,
    opts: &TrainOptions,
) -> Result<EncodedStage, TriageError> {
    let dims = encoder.0.dimensions();
    let vectors = encoder
        .0
        .encode_training(texts)
        .map_err(TriageError::Encoder)?;
    if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != dims) {
        return Err(TriageError::Encoder(format!(
            "the encoder returned {} vectors for {} texts, or vectors not of length {dims}",
            vectors.len(),
            texts.len()
        )));
    }
    let offset = u32::try_from(n_terms).expect("a vocabulary fits feature indices");
    let weight = opts.encoder.weight;
    // Each sentence vector is dropped once appended, so both copies are never all held.
    let combined: Vec<SparseVec> = xs
        .iter()
        .zip(vectors)
        .map(|(x, v)| append_dense(x, &v, offset, weight))
        .collect();
    let model = train_ovr(&combined, ys, n_classes, offset as usize + dims, &opts.svm);
    Ok(EncodedStage {
        encoder: encoder.clone(),
        model,
        offset,
        weight,
        temperature: opts.encoder.temperature,
        consult_below: opts.encoder.consult_below,
    })
}

fn encode_one(encoder: &SharedEncoder, text: &str) -> Option<Vec<f32>> {
    let dims = encoder.0.dimensions();
    // The encoder reads a few hundred tokens at most; tokenising a huge message whole
    // would cost time for nothing.
    let text = match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    };
    let mut vectors = encoder.0.encode(&[text]).ok()?;
    let vector = vectors.pop()?;
    (vector.len() == dims && vector.iter().all(|v| v.is_finite())).then_some(vector)
}

fn append_dense(terms: &SparseVec, vector: &[f32], offset: u32, weight: f32) -> SparseVec {
    let mut out = terms.clone();
    out.idx.reserve(vector.len());
    out.val.reserve(vector.len());
    for (d, v) in vector.iter().enumerate() {
        out.idx.push(offset + d as u32);
        out.val.push(v * weight);
    }
    out
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
