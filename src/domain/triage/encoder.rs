//! The optional sentence-encoder stage of the intent model.
//!
//! Term features know words; a sentence encoder knows that "my card has not come" and "the
//! card never arrived" mean the same. The intent model can append an encoder's vector to
//! its term features. Encoding costs far more than the term model, so it runs as a cascade:
//! only when the term model alone is unsure. The encoder is an edge component (its weights
//! are files); this module sees only the trait, so decisions stay free of I/O.

use std::fmt;
use std::sync::Arc;

/// Texts in, one fixed-length vector per text out (unit length is expected, not required).
pub trait SentenceEncoder: Send + Sync {
    /// The model's name, recorded in the triage model version.
    fn name(&self) -> &str;

    /// Length of every vector.
    fn dimensions(&self) -> usize;

    /// Encodes every text, in order.
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;

    /// Encodes training examples, in order. An implementation may keep these vectors
    /// between training runs; it must not keep what [`SentenceEncoder::encode`] is given.
    fn encode_training(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.encode(texts)
    }
}

/// How the encoder stage is trained and when it is consulted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderOptions {
    /// Multiplier on the encoder's vector before it is appended to the unit-length term
    /// vector: the relative say of meaning against wording.
    pub weight: f32,
    /// The encoder is consulted when the term model's best in-scope confidence is below
    /// this; 1.0 consults it for every message, 0.0 never.
    pub consult_below: f32,
    /// Softmax sharpness of the combined model's scores.
    pub temperature: f32,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            weight: 1.0,
            consult_below: 0.9,
            temperature: DEFAULT_ENCODER_TEMPERATURE,
        }
    }
}

/// Softmax sharpness of the combined model, fitted on the Banking77 dev split.
pub const DEFAULT_ENCODER_TEMPERATURE: f32 = 4.75;

/// A shareable encoder handle that prints as its name.
#[derive(Clone)]
pub struct SharedEncoder(pub Arc<dyn SentenceEncoder>);

impl fmt::Debug for SharedEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedEncoder")
            .field(&self.0.name())
            .finish()
    }
}
