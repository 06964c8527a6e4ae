//! Everything retrieval needs, built once from settings: the vector store, the
//! encoder, the article and history collections, and the catalogue of articles.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::catalogue::Catalogue;
use super::{ARTICLES, HISTORY, KnowledgeIndex, RetrievalSettings};
use crate::clients::embedding::Embedder;
use crate::clients::embedding::local::LocalEncoder;
use crate::clients::embedding::openai::OpenAiEmbedder;
use crate::clients::vector_store::VectorStore;
use crate::clients::vector_store::edge::EdgeStore;
use crate::clients::vector_store::qdrant::QdrantStore;
use crate::config::{EncoderKind, Settings};
use crate::domain::knowledge::{ChunkSettings, TokenCounter, WordPieceEstimate};
use crate::storage::Store;

/// The knowledge side of a running server.
pub struct Knowledge {
    pub articles: Arc<KnowledgeIndex>,
    pub history: KnowledgeIndex,
    pub catalogue: Catalogue,
    /// Counts tokens for chunking and for the prompt budget: the encoder's tokenizer
    /// when it is installed, an estimate otherwise.
    pub counter: Arc<dyn TokenCounter + Send + Sync>,
    /// `hybrid` or `sparse`.
    pub mode: &'static str,
    /// The dense model's name, when there is one.
    pub encoder_model: Option<String>,
}

impl Knowledge {
    /// Opens the store and collections the settings name. Does not index: call
    /// `catalogue.sync` for that.
    pub async fn open(settings: &Settings, store: Store) -> anyhow::Result<Self> {
        let vectors = vector_store(settings, &settings.data_dir.join("vectors")).await?;
        let (encoder, counter) = encoder(settings)?;
        let encoder_model = encoder.as_ref().map(|e| e.model().to_owned());
        let retrieval = RetrievalSettings::default();
        let articles = KnowledgeIndex::open(vectors.clone(), encoder.clone(), ARTICLES, retrieval)
            .await
            .with_context(|| collection_hint(settings, ARTICLES))?;
        let history = KnowledgeIndex::open(vectors, encoder, HISTORY, retrieval)
            .await
            .with_context(|| collection_hint(settings, HISTORY))?;
        let articles = Arc::new(articles);
        let catalogue = Catalogue::new(
            articles.clone(),
            store,
            &settings.knowledge.articles_dir,
            counter.clone(),
            ChunkSettings::default(),
        );
        Ok(Self {
            mode: articles.mode(),
            articles,
            history,
            catalogue,
            counter,
            encoder_model,
        })
    }
}

fn collection_hint(settings: &Settings, collection: &str) -> String {
    match &settings.knowledge.qdrant_url {
        Some(_) => format!(
            "could not open the {collection} collection; if the encoder changed, delete the collection on the Qdrant server and start again"
        ),
        None => format!(
            "could not open the {collection} collection; if the encoder changed, remove {} and start again",
            settings.data_dir.join("vectors").join(collection).display()
        ),
    }
}

/// The Qdrant server when a URL is configured, else the embedded store under `dir`.
async fn vector_store(settings: &Settings, dir: &Path) -> anyhow::Result<Arc<dyn VectorStore>> {
    let Some(url) = settings.knowledge.qdrant_url.as_deref() else {
        return Ok(Arc::new(EdgeStore::new(dir)));
    };
    let key = settings
        .knowledge
        .qdrant_api_key
        .as_ref()
        .map(|k| k.expose());
    let store = QdrantStore::connect(url, key)
        .await
        .with_context(|| format!("could not connect to the Qdrant server at {url}"))?;
    Ok(Arc::new(store))
}

type EncoderParts = (
    Option<Arc<dyn Embedder>>,
    Arc<dyn TokenCounter + Send + Sync>,
);

/// The dense encoder the settings ask for, and the token counter that goes with it.
/// A missing local encoder is not an error: retrieval runs lexical-only and says so
/// once.
pub fn encoder(settings: &Settings) -> anyhow::Result<EncoderParts> {
    let estimate: Arc<dyn TokenCounter + Send + Sync> = Arc::new(WordPieceEstimate);
    match settings.knowledge.encoder {
        EncoderKind::None => {
            tracing::info!("dense retrieval is off (knowledge.encoder = \"none\"): lexical only");
            Ok((None, estimate))
        }
        EncoderKind::Local => {
            let dir = settings.model_dir();
            match local_encoder(&dir)? {
                Some(encoder) => {
                    let counter = Arc::new(encoder.token_counter());
                    Ok((Some(Arc::new(encoder) as Arc<dyn Embedder>), counter))
                }
                None => {
                    tracing::warn!(
                        dir = %dir.display(),
                        "no sentence encoder installed: retrieval is lexical only \
                         (run `frontdesk models install` to add it)"
                    );
                    Ok((None, estimate))
                }
            }
        }
        EncoderKind::Openai => {
            let base = (settings.knowledge.embedding_url.as_deref())
                .or(settings.llm.base_url.as_deref())
                .context(
                    "knowledge.encoder = \"openai\" needs knowledge.embedding_url or llm.base_url, \
                     the endpoint to embed with",
                )?;
            let embedder = OpenAiEmbedder::new(
                base,
                settings.llm.api_key.as_ref().map(|k| k.expose()),
                &settings.knowledge.embedding_model,
                settings.knowledge.embedding_dimensions,
            );
            Ok((Some(Arc::new(embedder) as Arc<dyn Embedder>), estimate))
        }
    }
}

/// The local encoder, loaded once per process and folder: the weights are large and
/// every application in a process would load the same files.
pub fn local_encoder(dir: &Path) -> anyhow::Result<Option<LocalEncoder>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static LOADED: Mutex<Option<HashMap<std::path::PathBuf, LocalEncoder>>> = Mutex::new(None);

    if !dir.join("model.safetensors").exists() {
        return Ok(None);
    }
    let mut loaded = LOADED
        .lock()
        .expect("no loader panics while holding the lock");
    let loaded = loaded.get_or_insert_with(HashMap::new);
    if let Some(encoder) = loaded.get(dir) {
        return Ok(Some(encoder.clone()));
    }
    let started = std::time::Instant::now();
    let encoder = LocalEncoder::load(dir)
        .with_context(|| format!("loading the encoder in {}", dir.display()))?;
    tracing::info!(
        load_ms = started.elapsed().as_millis() as u64,
        "sentence encoder loaded"
    );
    loaded.insert(dir.to_owned(), encoder.clone());
    Ok(Some(encoder))
}
