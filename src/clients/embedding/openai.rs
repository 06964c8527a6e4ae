//! Dense vectors from an OpenAI-compatible embeddings endpoint.
//!
//! Uses the `[llm]` endpoint and key with `[knowledge] embedding_model`. Vectors are
//! scaled to unit length here, so cosine scores mean the same as with the local encoder
//! whatever the endpoint returns.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use futures_util::future::BoxFuture;

use super::{EmbedError, Embedder};
use crate::clients::llm::openai_client;

/// Most texts sent in one request.
const BATCH: usize = 64;

pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    dimensions: usize,
}

impl OpenAiEmbedder {
    pub fn new(base_url: &str, api_key: Option<&str>, model: &str, dimensions: usize) -> Self {
        Self {
            client: openai_client(base_url, api_key),
            model: model.to_owned(),
            dimensions,
        }
    }

    async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let expected = texts.len();
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts),
            ..Default::default()
        };
        let response = self
            .client
            .embeddings()
            .create(request)
            .await
            .map_err(|e| EmbedError::Inference(crate::clients::llm::from_openai(e).to_string()))?;
        let mut data = response.data;
        data.sort_by_key(|e| e.index);
        if data.len() != expected {
            return Err(EmbedError::Inference(format!(
                "the endpoint returned {} vectors for {expected} texts",
                data.len()
            )));
        }
        data.into_iter()
            .map(|e| {
                if e.embedding.len() != self.dimensions {
                    return Err(EmbedError::Model(format!(
                        "the endpoint's vectors have {} dimensions, the settings say {}",
                        e.embedding.len(),
                        self.dimensions
                    )));
                }
                Ok(unit(e.embedding))
            })
            .collect()
    }
}

fn unit(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

impl Embedder for OpenAiEmbedder {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn embed(&self, texts: Vec<String>) -> BoxFuture<'_, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(texts.len());
            for batch in texts.chunks(BATCH) {
                out.extend(self.embed_batch(batch.to_vec()).await?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::unit;

    #[test]
    fn vectors_are_scaled_to_unit_length_and_zero_stays_zero() {
        let v = unit(vec![3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(unit(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
