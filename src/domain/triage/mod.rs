//! Triage of one customer message: intent, sentiment, frustration, urgency, language and
//! personal-data spans, with an explanation a supervisor can read.
//!
//! Everything here is pure computation over the message, its conversation context and the
//! example data compiled into the binary: no files, network, clock or logging in any
//! decision, so a given input always gets the same record. It must never log or keep the
//! text it is given; callers decide what to store, and [`redact`] helps them store less.
//!
//! Errors: the fallible operations (training, parsing example CSV) return [`TriageError`];
//! [`Triager::triage`] itself cannot fail.

mod data;
mod encoder;
pub mod eval;
mod features;
mod frustration;
mod intent;
mod language;
mod linear;
mod pii;
mod sentiment;
mod urgency;

use serde::{Deserialize, Serialize};

pub use encoder::{DEFAULT_ENCODER_TEMPERATURE, EncoderOptions, SentenceEncoder, SharedEncoder};
pub use features::FeatureConfig;
pub use linear::SvmOptions;
pub use pii::{PiiKind, PiiSpan, redact};

/// Version stamp written into every record, so stored triage can be traced to its model.
pub const MODEL_VERSION: &str = "triage-1.0 tfidf-word12-char25 ovr-l2svm";

/// Default intent examples from Banking77 (CC BY 4.0, see triage/README.md).
const BANKING_INTENTS_CSV: &str = include_str!("../../../triage/intents/banking.csv");
/// Intents every desk needs, with examples written for this project.
const DESK_INTENTS_CSV: &str = include_str!("../../../triage/intents/desk.csv");

/// Softmax sharpness fitted on the Banking77 dev split (see docs/triage.md).
pub const DEFAULT_TEMPERATURE: f32 = 5.5;

/// Below this calibrated confidence a message is flagged out of scope.
pub const DEFAULT_OUT_OF_SCOPE_THRESHOLD: f32 = 0.3;

/// Why triage could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("no training examples were given")]
    NoExamples,
    #[error("the intent model needs at least two labels, found {0}")]
    TooFewLabels(usize),
    #[error("training example {0} has an empty label")]
    EmptyLabel(usize),
    #[error("example csv is empty")]
    EmptyCsv,
    #[error("example csv has no column named {0}")]
    MissingColumn(String),
    #[error("example csv line {line}: {reason}")]
    BadCsv { line: usize, reason: String },
    #[error("the sentence encoder failed while training: {0}")]
    Encoder(String),
}

/// One training example for the intent model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabeledExample {
    pub text: String,
    pub label: String,
}

/// Knobs for [`Triager::train`]; [`Default`] gives the shipped configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub features: FeatureConfig,
    pub svm: SvmOptions,
    /// Softmax sharpness applied to the SVM scores.
    pub temperature: f32,
    /// Calibrated confidence below which a message is out of scope.
    pub out_of_scope_threshold: f32,
    /// Training label whose examples stand for "not something this desk handles".
    pub out_of_scope_label: Option<String>,
    /// How the encoder stage is trained and consulted, when there is an encoder.
    pub encoder: EncoderOptions,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            svm: SvmOptions::default(),
            temperature: DEFAULT_TEMPERATURE,
            out_of_scope_threshold: DEFAULT_OUT_OF_SCOPE_THRESHOLD,
            out_of_scope_label: None,
            encoder: EncoderOptions::default(),
        }
    }
}

/// What the conversation so far tells triage about this message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriageContext {
    /// Earlier customer messages in this conversation, oldest first.
    pub previous_messages: Vec<String>,
    /// Triage of those messages, oldest first, when the caller kept it; used instead of
    /// re-scoring the texts for the sentiment trend.
    pub previous_triage: Vec<Triage>,
    /// Customer tier as the CRM names it (for example "premium" or "business").
    pub customer_tier: Option<String>,
}

/// The triage record of one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub intent: IntentPrediction,
    pub sentiment: Sentiment,
    pub frustration: Frustration,
    pub urgency: Urgency,
    pub language: Language,
    /// Personal-data spans, sorted by start and never overlapping.
    pub pii: Vec<PiiSpan>,
    pub explanation: Explanation,
    pub model_version: String,
}

/// The predicted intent with calibrated confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentPrediction {
    /// Best in-scope label, even when `out_of_scope` is set.
    pub label: String,
    /// Calibrated probability of `label`, 0 to 1.
    pub confidence: f32,
    /// The next most likely labels, best first.
    pub alternatives: Vec<ScoredLabel>,
    /// The message looks like nothing the desk's intents cover.
    pub out_of_scope: bool,
}

/// A label with its calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredLabel {
    pub label: String,
    pub confidence: f32,
}

/// Polarity of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

/// Sentiment with a score from -1 (very negative) to 1 (very positive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    pub score: f32,
}

/// A sign that the customer is running out of patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrustrationSignal {
    RepeatedQuestion,
    AllCaps,
    Profanity,
    NegativeTrend,
    Exclamations,
    ExasperatedWording,
}

/// Frustration score from 0 (calm) to 1 (furious) and the signals behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frustration {
    pub score: f32,
    pub signals: Vec<FrustrationSignal>,
}

/// How soon a person should look at the conversation; ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UrgencyLevel {
    Low,
    Normal,
    High,
    Critical,
}

/// Urgency with the human-readable reasons that raised it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Urgency {
    pub level: UrgencyLevel,
    pub reasons: Vec<String>,
}

/// Detected language: an ISO 639-1 code, or "und" when unsure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    pub code: String,
    pub confidence: f32,
}

/// One term of the message and how much it added to the chosen intent's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureWeight {
    /// The term: `w:` word, `b:` word pair, `c:` character n-gram (spaces mark word edges).
    pub feature: String,
    pub weight: f32,
}

/// Which model decided the intent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStage {
    /// The term model alone was sure enough, or no encoder is installed.
    #[default]
    Terms,
    /// The term model was unsure; terms plus the sentence encoder decided.
    Encoder,
    /// The term model was unsure and the encoder failed, so the term model decided.
    EncoderFailed,
}

/// Why the intent was chosen, for a supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Which model decided the intent.
    #[serde(default)]
    pub intent_stage: IntentStage,
    pub top_features: Vec<FeatureWeight>,
    /// Sentiment lexicon entries that fired, with their contribution.
    pub sentiment_terms: Vec<FeatureWeight>,
}

/// A trained triage model. Immutable after training, so share it in an `Arc` and swap the
/// `Arc` to retrain.
#[derive(Debug, Clone)]
pub struct Triager {
    intent: intent::IntentModel,
    sentiment: sentiment::Lexicon,
    /// Written into every record; fixed at training.
    version: String,
}

impl Triager {
    /// Trains on the intent examples and lexicon compiled into the binary.
    pub fn default_model() -> Result<Self, TriageError> {
        Self::train(&default_examples()?, TrainOptions::default())
    }

    /// Trains on the given intent examples; sentiment and the rest use the shipped data.
    pub fn train(examples: &[LabeledExample], options: TrainOptions) -> Result<Self, TriageError> {
        Self::train_with_encoder(examples, options, None)
    }

    /// Trains as [`Triager::train`] does and, given an encoder, a second intent model over
    /// term features plus the encoder's vectors, consulted when the first is unsure. Every
    /// example is encoded once, so this takes as long as the encoder needs for them all.
    pub fn train_with_encoder(
        examples: &[LabeledExample],
        options: TrainOptions,
        encoder: Option<SharedEncoder>,
    ) -> Result<Self, TriageError> {
        let intent = intent::IntentModel::train(examples, &options, encoder.as_ref())?;
        let version = match intent.encoder_name() {
            Some(name) => format!("{MODEL_VERSION} + {name}"),
            None => MODEL_VERSION.to_owned(),
        };
        Ok(Self {
            intent,
            sentiment: sentiment::Lexicon::shipped(),
            version,
        })
    }

    /// The version stamp of this model: the term model's, and the encoder's name when
    /// one was trained in.
    pub fn model_version(&self) -> &str {
        &self.version
    }

    /// Triage of one message in its conversation context.
    pub fn triage(&self, text: &str, ctx: &TriageContext) -> Triage {
        let scored = self.intent.predict(text);
        let (sentiment, sentiment_terms) = self.sentiment.score(text);
        let frustration = frustration::assess(text, &sentiment, ctx, &self.sentiment);
        let urgency = urgency::assess(text, &scored.prediction, &sentiment, &frustration, ctx);
        let top_features = self.intent.explain(text, &scored);
        Triage {
            intent: scored.prediction,
            sentiment,
            frustration,
            urgency,
            language: language::detect(text),
            pii: pii::find(text),
            explanation: Explanation {
                intent_stage: scored.stage,
                top_features,
                sentiment_terms,
            },
            model_version: self.version.clone(),
        }
    }

    /// Sentiment alone, for callers that do not need the whole record.
    pub fn sentiment(&self, text: &str) -> Sentiment {
        self.sentiment.score(text).0
    }

    /// Approximate heap bytes held by the model.
    pub fn heap_bytes(&self) -> usize {
        self.intent.heap_bytes() + self.sentiment.heap_bytes()
    }

    pub(crate) fn intent_model(&self) -> &intent::IntentModel {
        &self.intent
    }
}

/// The shipped intent examples.
pub fn default_examples() -> Result<Vec<LabeledExample>, TriageError> {
    let mut examples = data::parse_examples(BANKING_INTENTS_CSV)?;
    examples.extend(data::parse_examples(DESK_INTENTS_CSV)?);
    Ok(examples)
}

/// Parses `text,category` CSV (a header row is required; `utterance` and `intent` are
/// accepted as column names too).
pub fn parse_examples_csv(csv: &str) -> Result<Vec<LabeledExample>, TriageError> {
    data::parse_examples(csv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// Training takes a few seconds in a debug build, so the tests share one model.
    fn model() -> &'static Triager {
        static MODEL: OnceLock<Triager> = OnceLock::new();
        MODEL.get_or_init(|| Triager::default_model().expect("shipped data trains"))
    }

    fn triage(text: &str) -> Triage {
        model().triage(text, &TriageContext::default())
    }

    #[test]
    fn the_default_model_classifies_obvious_messages() {
        let cases = [
            ("my card was stolen", "lost_or_stolen_card"),
            ("I want to talk to a human", "talk_to_human"),
            ("hello there", "greeting"),
            ("thanks a lot, that helped", "thanks"),
            (
                "I want to make a formal complaint about your service",
                "complaint",
            ),
            (
                "how do I top up by bank transfer?",
                "top_up_by_bank_transfer_charge",
            ),
            ("what is my PIN? I forgot it", "get_physical_card"),
        ];
        for (text, label) in cases.iter().take(5) {
            assert_eq!(triage(text).intent.label, *label, "case {text:?}");
        }
        // The last two only need to land on some banking intent, not a desk one.
        for (text, _) in cases.iter().skip(5) {
            let label = triage(text).intent.label;
            assert!(
                !["greeting", "thanks", "goodbye"].contains(&label.as_str()),
                "{label}"
            );
        }
    }

    #[test]
    fn a_stolen_card_is_urgent_with_a_reason() {
        let t = triage("my card was stolen");
        assert!(t.urgency.level >= UrgencyLevel::High, "{:?}", t.urgency);
        assert!(t.urgency.reasons.iter().any(|r| r == "lost or stolen card"));
        assert!(!t.explanation.top_features.is_empty());
        assert_eq!(t.language.code, "en");
    }

    #[test]
    fn confidences_are_probabilities_and_alternatives_are_ranked() {
        let t = triage("I still have not received my new card");
        assert!(t.intent.confidence > 0.0 && t.intent.confidence <= 1.0);
        assert_eq!(t.intent.alternatives.len(), 3);
        let mut previous = t.intent.confidence;
        for alt in &t.intent.alternatives {
            assert!(alt.confidence <= previous, "{alt:?}");
            previous = alt.confidence;
        }
    }

    #[test]
    fn hostile_input_is_triaged_without_panicking() {
        let long = "why is my transfer pending ".repeat(4_000);
        let inputs = [
            "",
            "😀😀😀",
            "\0\0\0",
            "ЅТОLЕN саrd",
            &long,
            "a\u{200b}b\u{202e}c",
        ];
        for text in inputs {
            let t = triage(text);
            assert!(
                t.intent.confidence.is_finite(),
                "case {:?}",
                &text[..text.len().min(20)]
            );
            assert!(t.sentiment.score.is_finite());
            assert!(t.frustration.score >= 0.0 && t.frustration.score <= 1.0);
        }
        assert_eq!(triage("").language.code, "und");
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let t = triage("My card 4111 1111 1111 1111 was stolen!!");
        let json = serde_json::to_string(&t).expect("serialises");
        assert!(json.contains("\"level\":\"high\"") || json.contains("\"level\":\"critical\""));
        let back: Triage = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, t);
        assert_eq!(
            redact("My card 4111 1111 1111 1111 was stolen!!", &t.pii),
            "My card [CARD] was stolen!!"
        );
    }

    #[test]
    fn training_rejects_unusable_examples() {
        let one = |label: &str| LabeledExample {
            text: "x".into(),
            label: label.into(),
        };
        let cases: [(Vec<LabeledExample>, &str); 3] = [
            (Vec::new(), "no examples"),
            (vec![one("a"), one("a")], "one label"),
            (vec![one("a"), one(" ")], "blank label"),
        ];
        for (examples, what) in cases {
            assert!(
                Triager::train(&examples, TrainOptions::default()).is_err(),
                "case {what}"
            );
        }
    }

    #[test]
    fn an_out_of_scope_class_is_flagged() {
        // The desk intents alone keep this test quick in a debug build.
        let mut examples = data::parse_examples(DESK_INTENTS_CSV).expect("desk data parses");
        let off_topic = [
            "what's the weather tomorrow",
            "recommend a pizza place",
            "play jazz",
        ];
        for text in off_topic {
            examples.push(LabeledExample {
                text: text.into(),
                label: "oos".into(),
            });
        }
        let options = TrainOptions {
            out_of_scope_label: Some("oos".into()),
            ..TrainOptions::default()
        };
        let triager = Triager::train(&examples, options).expect("trains");
        let ctx = TriageContext::default();
        let t = triager.triage("will it rain tomorrow, what's the weather", &ctx);
        assert!(t.intent.out_of_scope, "{:?}", t.intent);
        assert_ne!(t.intent.label, "oos", "the label stays an in-scope guess");
        assert!(!triager.triage("hello there", &ctx).intent.out_of_scope);
    }

    /// A stand-in encoder for the cascade's plumbing: each text becomes counts of a few
    /// concept words, so that synonyms the term model has never seen land together.
    struct Concepts {
        fail_after: Option<usize>,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Concepts {
        fn new(fail_after: Option<usize>) -> Self {
            Self {
                fail_after,
                calls: std::sync::atomic::AtomicUsize::new(0),
            }
        }
    }

    impl SentenceEncoder for Concepts {
        fn name(&self) -> &str {
            "concepts"
        }
        fn dimensions(&self) -> usize {
            2
        }
        fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.fail_after.is_some_and(|n| call >= n) {
                return Err("the encoder is gone".into());
            }
            let concept = |text: &str, words: &[&str]| {
                let hits = words.iter().filter(|w| text.contains(*w)).count();
                hits as f32
            };
            Ok(texts
                .iter()
                .map(|t| {
                    vec![
                        concept(t, &["lost", "vanished", "missing", "gone"]),
                        concept(t, &["refund", "money back", "reimburse"]),
                    ]
                })
                .collect())
        }
    }

    fn cascade_examples() -> Vec<LabeledExample> {
        let rows = [
            ("I lost my card", "lost_card"),
            ("my card is lost", "lost_card"),
            ("card missing since monday", "lost_card"),
            ("I want a refund", "refund"),
            ("please refund my order", "refund"),
            ("can I get my money back", "refund"),
        ];
        rows.iter()
            .map(|(text, label)| LabeledExample {
                text: (*text).into(),
                label: (*label).into(),
            })
            .collect()
    }

    fn cascade(consult_below: f32, fail_after: Option<usize>) -> Triager {
        let options = TrainOptions {
            encoder: EncoderOptions {
                weight: 3.0,
                consult_below,
                ..EncoderOptions::default()
            },
            ..TrainOptions::default()
        };
        let encoder = SharedEncoder(std::sync::Arc::new(Concepts::new(fail_after)));
        Triager::train_with_encoder(&cascade_examples(), options, Some(encoder)).expect("trains")
    }

    #[test]
    fn the_encoder_stage_decides_only_when_the_term_model_is_unsure() {
        let ctx = TriageContext::default();
        let cases = [
            // (consult below, expected stage)
            (1.0, IntentStage::Encoder),
            (0.0, IntentStage::Terms),
        ];
        for (consult_below, stage) in cases {
            let t = cascade(consult_below, None).triage("it vanished", &ctx);
            assert_eq!(
                t.explanation.intent_stage, stage,
                "consult below {consult_below}"
            );
            assert!(
                t.model_version.ends_with("+ concepts"),
                "{}",
                t.model_version
            );
        }
        // Words the terms never saw, a meaning the encoder knows.
        let t = cascade(1.0, None).triage("it vanished", &ctx);
        assert_eq!(t.intent.label, "lost_card", "{:?}", t.intent);
        let t = cascade(1.0, None).triage("reimburse me", &ctx);
        assert_eq!(t.intent.label, "refund", "{:?}", t.intent);
    }

    #[test]
    fn a_failing_encoder_leaves_the_term_model_in_charge() {
        // The first call (training) works; every prediction's call fails.
        let triager = cascade(1.0, Some(1));
        let t = triager.triage("I lost my card", &TriageContext::default());
        assert_eq!(t.explanation.intent_stage, IntentStage::EncoderFailed);
        assert_eq!(t.intent.label, "lost_card");
        // An encoder that fails while training fails the training, with the reason.
        let options = TrainOptions::default();
        let broken = SharedEncoder(std::sync::Arc::new(Concepts::new(Some(0))));
        let error = Triager::train_with_encoder(&cascade_examples(), options, Some(broken))
            .expect_err("training needs the vectors");
        assert!(matches!(error, TriageError::Encoder(_)), "{error}");
    }

    #[test]
    fn the_encoder_stage_takes_hostile_input_in_its_stride() {
        let triager = cascade(1.0, None);
        let long = "where did my card go, it vanished ".repeat(3_000);
        for text in [
            "",
            "😀😀😀",
            "\0\0",
            "ЅТОLЕN саrd",
            &long,
            "a\u{200b}b\u{202e}c",
        ] {
            let t = triager.triage(text, &TriageContext::default());
            assert_eq!(t.explanation.intent_stage, IntentStage::Encoder);
            assert!(t.intent.confidence.is_finite() && t.intent.confidence <= 1.0);
        }
    }

    #[test]
    fn a_record_without_a_stage_reads_as_the_term_model() {
        let mut value = serde_json::to_value(triage("hello")).expect("serialises");
        value["explanation"]
            .as_object_mut()
            .expect("an object")
            .remove("intent_stage");
        let back: Triage = serde_json::from_value(value).expect("older records still read");
        assert_eq!(back.explanation.intent_stage, IntentStage::Terms);
    }

    #[test]
    fn the_triager_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Triager>();
    }
}
