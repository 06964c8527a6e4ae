//! Dense sentence embeddings: texts in, unit-length vectors out.
//!
//! The embedded default is a local sentence encoder ([`local`]: all-MiniLM-L6-v2 run
//! by candle, from files `frontdesk models install` puts in the data directory). When
//! those files are missing the server runs lexical-only and says so once.
//!
//! This module must never log the texts it embeds.

pub mod cache;
pub mod local;
pub mod openai;

use futures_util::future::BoxFuture;

/// What went wrong while embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the encoder's files are missing or unreadable: {0}")]
    Model(String),
    #[error("the encoder failed: {0}")]
    Inference(String),
}

/// A sentence encoder.
pub trait Embedder: Send + Sync + 'static {
    /// Length of every vector it returns.
    fn dimensions(&self) -> usize;

    /// A name for the model, recorded with the evidence of each answer.
    fn model(&self) -> &str;

    /// One unit-length vector per text, in order.
    fn embed(&self, texts: Vec<String>) -> BoxFuture<'_, Result<Vec<Vec<f32>>, EmbedError>>;
}
