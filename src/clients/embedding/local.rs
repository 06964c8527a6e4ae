//! The local sentence encoder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run by
//! candle on the CPU, with mean pooling and unit length, as the model was trained.
//!
//! The files come from a registry package (see `frontdesk models install`), never from
//! a model hub at run time. Inference is CPU-bound and runs on tokio's blocking pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use futures_util::future::BoxFuture;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::{EmbedError, Embedder};
use crate::domain::knowledge::TokenCounter;
use crate::domain::triage::SentenceEncoder;

/// The folder under the data directory's `models/` that holds the default encoder.
pub const DEFAULT_MODEL_DIR: &str = "all-minilm-l6-v2";

/// The model's name, as recorded with answers and triage.
const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Tokens the encoder reads per text; the model was trained on 256, longer input is cut.
const MAX_TOKENS: usize = 256;

/// Texts encoded in one forward pass. Small, because attention scores grow with the
/// batch times the square of its longest text: at 32 passages of 256 tokens they alone
/// take about 100 MB per layer, which set the serving process's peak while indexing.
const BATCH: usize = 8;

/// The encoder and its tokenizer, loaded once and shared.
#[derive(Clone)]
pub struct LocalEncoder {
    inner: Arc<Loaded>,
}

struct Loaded {
    model: BertModel,
    tokenizer: Tokenizer,
    dimensions: usize,
    /// The tensors the model was built from; they share storage with the model, and a
    /// cut-down model built from them shares it too.
    weights: HashMap<String, Tensor>,
    config: Config,
    name: String,
    pooling: Pooling,
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    /// The mean of the tokens, at unit length: what the model was trained for.
    Mean,
    /// That, followed by the unit-length element-wise maximum over the tokens: twice the
    /// length, and it keeps a strong single word from being averaged away.
    MeanAndMax,
}

impl LocalEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let (config, dimensions) = read_config(dir)?;

        let weights = read_weights(&dir.join("model.safetensors"))
            .map_err(|e| EmbedError::Model(format!("model.safetensors: {e}")))?;
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).map_err(|e| EmbedError::Model(e.to_string()))?;

        let tokenizer = load_tokenizer(dir)?;
        let inner = Loaded {
            model,
            tokenizer,
            dimensions,
            weights,
            config,
            name: MODEL_NAME.to_owned(),
            pooling: Pooling::Mean,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The same encoder cut to its first `layers` transformer layers: each text costs
    /// about `layers / 6` of the whole model's time. The weights are shared, not copied.
    pub fn first_layers(&self, layers: usize) -> Result<Self, EmbedError> {
        let all = self.inner.config.num_hidden_layers;
        if layers == 0 || layers >= all {
            return Ok(self.clone());
        }
        let mut config = self.inner.config.clone();
        config.num_hidden_layers = layers;
        let name = format!("{} first {layers} of {all} layers", self.inner.name);
        self.variant(config, name, self.inner.pooling)
    }

    /// The same encoder giving the mean of the tokens followed by their maximum, each at
    /// unit length: vectors twice as long, for the intent model, which tells intents
    /// apart better with both (docs/triage.md). Retrieval keeps the mean alone.
    pub fn with_max_pooling(&self) -> Result<Self, EmbedError> {
        if self.inner.pooling == Pooling::MeanAndMax {
            return Ok(self.clone());
        }
        let name = format!("{} mean+max", self.inner.name);
        self.variant(self.inner.config.clone(), name, Pooling::MeanAndMax)
    }

    /// Another model over the same weights (tensors share their storage).
    fn variant(&self, config: Config, name: String, pooling: Pooling) -> Result<Self, EmbedError> {
        let vb = VarBuilder::from_tensors(self.inner.weights.clone(), DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).map_err(|e| EmbedError::Model(e.to_string()))?;
        let dimensions = match pooling {
            Pooling::Mean => config.hidden_size,
            Pooling::MeanAndMax => config.hidden_size * 2,
        };
        let inner = Loaded {
            model,
            tokenizer: self.inner.tokenizer.clone(),
            dimensions,
            weights: self.inner.weights.clone(),
            config,
            name,
            pooling,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Embeds texts on the calling thread, in batches of texts of similar length so that
    /// little of each batch is padding; the vectors come back in the order of `texts`.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let batch_texts: Vec<String> = batch.iter().map(|&i| texts[i].clone()).collect();
            for (&i, vector) in batch.iter().zip(self.inner.encode(&batch_texts)?) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    /// Counts tokens the way the encoder reads them, for chunking.
    pub fn token_counter(&self) -> EncoderTokens {
        EncoderTokens(self.clone())
    }
}

impl Embedder for LocalEncoder {
    fn dimensions(&self) -> usize {
        self.inner.dimensions
    }

    fn model(&self) -> &str {
        &self.inner.name
    }

    fn embed(&self, texts: Vec<String>) -> BoxFuture<'_, Result<Vec<Vec<f32>>, EmbedError>> {
        let encoder = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || encoder.embed_blocking(&texts))
                .await
                .map_err(|e| EmbedError::Inference(format!("the encoder task failed: {e}")))?
        })
    }
}

/// The intent model's encoder stage runs on the caller's thread: triage is already off the
/// async runtime when it trains, and a single short message takes milliseconds.
impl SentenceEncoder for LocalEncoder {
    fn name(&self) -> &str {
        self.model()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let owned: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        self.embed_blocking(&owned).map_err(|e| e.to_string())
    }
}

/// Token counts by the encoder's own tokenizer, special tokens excluded.
pub struct EncoderTokens(LocalEncoder);

impl TokenCounter for EncoderTokens {
    fn count(&self, text: &str) -> usize {
        let tokenizer = &self.0.inner.tokenizer;
        tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.len())
            .unwrap_or_else(|_| text.split_whitespace().count())
    }
}

impl Loaded {
    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inference = |e: candle_core::Error| EmbedError::Inference(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
        let (ids, mask) = id_and_mask_tensors(&encodings).map_err(inference)?;
        let types = ids.zeros_like().map_err(inference)?;
        let hidden = (self.model.forward(&ids, &types, Some(&mask))).map_err(inference)?;
        let means = mean_pool_normalised(&hidden, &mask).map_err(inference)?;
        if self.pooling == Pooling::Mean {
            return Ok(means);
        }
        let maxes = max_pool_normalised(&hidden, &mask).map_err(inference)?;
        let joined = means.into_iter().zip(maxes).map(|(mut mean, max)| {
            mean.extend(max);
            mean
        });
        Ok(joined.collect())
    }
}

fn id_and_mask_tensors(
    encodings: &[tokenizers::Encoding],
) -> candle_core::Result<(Tensor, Tensor)> {
    let rows = encodings.len();
    let width = encodings.first().map_or(0, |e| e.len());
    let ids: Vec<u32> = encodings
        .iter()
        .flat_map(|e| e.get_ids().to_vec())
        .collect();
    let mask: Vec<u32> = (encodings.iter())
        .flat_map(|e| e.get_attention_mask().to_vec())
        .collect();
    let ids = Tensor::from_vec(ids, (rows, width), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask, (rows, width), &Device::Cpu)?;
    Ok((ids, mask))
}

/// The element-wise maximum of the token vectors that are not padding, at unit length.
fn max_pool_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    // Padding gets a large negative offset so that it never wins the maximum.
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let offset = ((mask - 1.0)? * 1e4)?;
    let max = hidden.broadcast_add(&offset)?.max(1)?;
    let norms = max.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
    max.broadcast_div(&norms)?.to_vec2()
}

/// The mean of the token vectors that are not padding, scaled to unit length.
fn mean_pool_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
    mean.broadcast_div(&norms)?.to_vec2()
}

fn load_tokenizer(dir: &Path) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| EmbedError::Model(format!("tokenizer.json: {e}")))?;
    let truncation = TruncationParams {
        max_length: MAX_TOKENS,
        ..TruncationParams::default()
    };
    tokenizer
        .with_truncation(Some(truncation))
        .map_err(|e| EmbedError::Model(format!("tokenizer.json: {e}")))?;
    tokenizer.with_padding(Some(PaddingParams::default()));
    Ok(tokenizer)
}

/// Reads every tensor of a safetensors file straight into its own buffer, one tensor at
/// a time. Reading the whole file first and copying tensors out of it would need the
/// model's size twice over at start-up, which set the serving process's peak memory.
fn read_weights(path: &Path) -> Result<HashMap<String, Tensor>, String> {
    use std::io::{Read, Seek, SeekFrom};

    #[derive(serde::Deserialize)]
    struct Entry {
        dtype: String,
        shape: Vec<usize>,
        data_offsets: [u64; 2],
    }

    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut length = [0_u8; 8];
    file.read_exact(&mut length).map_err(|e| e.to_string())?;
    let header_len = u64::from_le_bytes(length);
    if header_len > 100 * 1024 * 1024 {
        return Err(format!(
            "a header of {header_len} bytes is not a safetensors file"
        ));
    }
    let mut header = vec![0_u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let mut entries: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("header: {e}"))?;
    entries.remove("__metadata__");
    let data_start = 8 + header_len;

    let mut tensors = HashMap::with_capacity(entries.len());
    for (name, value) in entries {
        let entry: Entry =
            serde_json::from_value(value).map_err(|e| format!("tensor {name}: {e}"))?;
        // The model's weights are all F32; other tensors (the I64 position ids some
        // exports carry) are not read by the model.
        if entry.dtype != "F32" {
            continue;
        }
        let [begin, end] = entry.data_offsets;
        let count: usize = entry.shape.iter().product();
        if end < begin || (end - begin) as usize != count * 4 {
            return Err(format!(
                "tensor {name} has offsets that do not match its shape"
            ));
        }
        let mut values = vec![0_f32; count];
        file.seek(SeekFrom::Start(data_start + begin))
            .map_err(|e| e.to_string())?;
        file.read_exact(bytemuck::cast_slice_mut(&mut values))
            .map_err(|e| format!("tensor {name}: {e}"))?;
        // The file is little-endian; on a little-endian machine this changes nothing.
        values
            .iter_mut()
            .for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
        let tensor = Tensor::from_vec(values, entry.shape, &Device::Cpu)
            .map_err(|e| format!("tensor {name}: {e}"))?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// The model's configuration and the length of its vectors.
fn read_config(dir: &Path) -> Result<(Config, usize), EmbedError> {
    let bad = |e: &dyn std::fmt::Display| EmbedError::Model(format!("config.json: {e}"));
    let text = std::fs::read_to_string(dir.join("config.json")).map_err(|e| bad(&e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    let dimensions = value["hidden_size"]
        .as_u64()
        .ok_or_else(|| bad(&"no hidden_size"))?;
    let config = serde_json::from_value(value).map_err(|e| bad(&e))?;
    Ok((config, dimensions as usize))
}
