//! The knowledge service: puts help-centre articles into the vector store and finds the
//! passages that answer a question.
//!
//! Glue between the pure core (`domain::knowledge`: articles, chunks, sparse vectors,
//! fusion) and the vector store client. Indexing cuts each article into chunks and
//! stores one point per chunk, with the citation fields in its payload. Retrieval asks
//! the store for one ranked list per vector kind and fuses them by reciprocal rank, so
//! each passage keeps the rank and score every list gave it.
//!
//! Nothing here logs article, chunk or question text.

pub mod catalogue;
pub mod service;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::clients::embedding::{EmbedError, Embedder};
use crate::clients::vector_store::{
    CollectionSpec, Filter, Hit, Point, QueryVector, Search, VectorStore, VectorStoreError,
    point_id,
};
use crate::domain::answer::Evidence;
use crate::domain::knowledge::sparse::average_length;
use crate::domain::knowledge::{
    Article, Chunk, ChunkSettings, Contribution, RankedList, SparseEncoder, TokenCounter,
    chunk_article, encode_query, reciprocal_rank_fusion,
};

/// The collection that holds the help centre's passages.
pub const ARTICLES: &str = "articles";
/// The collection that holds customers' own past messages, searched only with a filter
/// on one customer's id.
pub const HISTORY: &str = "history";

/// Typical length of a chat message in words, for the lexical weights of history
/// entries, which arrive one at a time with no corpus to average over.
const HISTORY_AVERAGE_LENGTH: f32 = 16.0;

/// One past customer message to remember.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub message_id: String,
    pub customer_id: String,
    pub conversation_id: String,
    /// The text with personal data already redacted.
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// How retrieval gathers and fuses candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalSettings {
    /// Candidates each ranked list contributes before fusion.
    pub candidates: usize,
    /// Reciprocal rank fusion's smoothing constant.
    pub rrf_k: f64,
    /// Weight of the lexical list in the fusion. Low by default: on paraphrased
    /// questions the dense ranking is far better (see docs/knowledge.md), and the lexical
    /// one mostly breaks its ties; with no encoder it ranks alone, so its weight does
    /// not matter there.
    pub sparse_weight: f64,
    /// Weight of the dense list in the fusion.
    pub dense_weight: f64,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        Self {
            candidates: 50,
            rrf_k: crate::domain::knowledge::DEFAULT_RRF_K,
            sparse_weight: 0.1,
            dense_weight: 1.0,
        }
    }
}

/// A retrieved passage with what it needs to be quoted and cited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    /// `article` or `history`.
    pub source: String,
    /// The article id, or the past message's id.
    pub article_id: String,
    pub title: String,
    pub url: String,
    pub heading_path: Vec<String>,
    pub text: String,
    /// The fused score: higher is better, comparable within one retrieval only.
    pub score: f64,
    /// Where each ranked list placed the passage.
    pub contributions: Vec<Contribution>,
}

impl Passage {
    /// The passage as evidence for the answer stage, with the dense list's cosine
    /// similarity when that list ranked it.
    pub fn into_evidence(self) -> Evidence {
        let dense_similarity = self
            .contributions
            .iter()
            .find(|c| c.list == "dense")
            .map(|c| c.score);
        let title = if self.source == "history" {
            "Your earlier message".to_owned()
        } else {
            self.title
        };
        Evidence {
            source: self.source,
            id: self.article_id,
            title,
            url: self.url,
            heading_path: self.heading_path,
            text: self.text,
            score: self.score,
            dense_similarity,
        }
    }
}

/// What an indexing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    pub articles: usize,
    pub chunks: usize,
}

/// What went wrong while indexing or retrieving.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Store(#[from] VectorStoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Articles in the vector store, and retrieval over them: lexical always, dense too
/// when an encoder is given.
pub struct KnowledgeIndex {
    store: Arc<dyn VectorStore>,
    encoder: Option<Arc<dyn Embedder>>,
    collection: String,
    settings: RetrievalSettings,
}

impl KnowledgeIndex {
    /// Opens (creating when missing) the collection `collection` in `store`.
    pub async fn open(
        store: Arc<dyn VectorStore>,
        encoder: Option<Arc<dyn Embedder>>,
        collection: &str,
        settings: RetrievalSettings,
    ) -> Result<Self, KnowledgeError> {
        let spec = CollectionSpec {
            name: collection.to_owned(),
            dense_size: encoder.as_ref().map(|e| e.dimensions()),
            keyword_fields: vec!["article_id".into(), "language".into(), "customer_id".into()],
        };
        store.ensure_collection(&spec).await?;
        Ok(Self {
            store,
            encoder,
            collection: collection.to_owned(),
            settings,
        })
    }

    /// Replaces the passages of each article with its current chunks. `progress` hears
    /// the number of articles done after each one.
    pub async fn index(
        &self,
        articles: &[Article],
        chunking: &ChunkSettings,
        counter: &(dyn TokenCounter + Sync),
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<IndexReport, KnowledgeError> {
        let all: Vec<&Article> = articles.iter().collect();
        let mut done = |_: &Article, _: usize, n: usize| progress(n);
        self.index_within(articles, &all, chunking, counter, &mut done)
            .await
    }

    /// Replaces the passages of `articles`, a part of `corpus`: lexical weights are
    /// computed over the whole corpus, so re-indexing one article scores it as a full
    /// run would. `done` hears each article, its passage count and the running count.
    pub async fn index_within(
        &self,
        corpus: &[Article],
        articles: &[&Article],
        chunking: &ChunkSettings,
        counter: &(dyn TokenCounter + Sync),
        done: &mut (dyn FnMut(&Article, usize, usize) + Send),
    ) -> Result<IndexReport, KnowledgeError> {
        let chunked: Vec<Vec<Chunk>> = corpus
            .iter()
            .map(|article| chunk_article(article, chunking, counter))
            .collect();
        let texts = chunked.iter().flatten().map(|c| c.embed_text.as_str());
        let encoder = SparseEncoder::new(average_length(texts));

        let mut report = IndexReport::default();
        for (article, chunks) in corpus.iter().zip(&chunked) {
            if !articles.iter().any(|a| a.id == article.id) {
                continue;
            }
            self.replace_article(article, chunks, &encoder).await?;
            report.articles += 1;
            report.chunks += chunks.len();
            done(article, chunks.len(), report.articles);
        }
        Ok(report)
    }

    async fn replace_article(
        &self,
        article: &Article,
        chunks: &[Chunk],
        encoder: &SparseEncoder,
    ) -> Result<(), KnowledgeError> {
        let mut dense = self
            .embed(chunks.iter().map(|c| c.embed_text.clone()))
            .await?;
        let points = chunks
            .iter()
            .map(|chunk| Point {
                id: point_id(&format!("{}#{}", chunk.article_id, chunk.index)),
                sparse: encoder.encode_document(&chunk.embed_text),
                dense: dense.as_mut().and_then(|d| d.next()),
                payload: chunk_payload(article, chunk),
            })
            .collect();

        let filter = Filter::default().and("article_id", &article.id);
        self.store.delete(&self.collection, filter).await?;
        Ok(self.store.upsert(&self.collection, points).await?)
    }

    /// Removes every passage of the article.
    pub async fn remove_article(&self, article_id: &str) -> Result<(), KnowledgeError> {
        let filter = Filter::default().and("article_id", article_id);
        Ok(self.store.delete(&self.collection, filter).await?)
    }

    /// Passages the collection holds.
    pub async fn count(&self) -> Result<usize, KnowledgeError> {
        Ok(self.store.count(&self.collection).await?)
    }

    /// Remembers past customer messages, one point each, keyed by message id.
    pub async fn index_history(&self, entries: &[HistoryEntry]) -> Result<(), KnowledgeError> {
        let encoder = SparseEncoder::new(HISTORY_AVERAGE_LENGTH);
        let mut dense = self.embed(entries.iter().map(|e| e.text.clone())).await?;
        let points = entries
            .iter()
            .map(|entry| {
                let payload = json!({
                    "kind": "history",
                    "article_id": entry.message_id,
                    "customer_id": entry.customer_id,
                    "conversation_id": entry.conversation_id,
                    "title": "",
                    "url": "",
                    "heading_path": [],
                    "text": entry.text,
                    "created_at": entry.created_at,
                });
                Point {
                    id: point_id(&format!("history#{}", entry.message_id)),
                    sparse: encoder.encode_document(&entry.text),
                    dense: dense.as_mut().and_then(|d| d.next()),
                    payload: match payload {
                        Value::Object(map) => map,
                        _ => unreachable!("a json! object literal is an object"),
                    },
                }
            })
            .collect();
        Ok(self.store.upsert(&self.collection, points).await?)
    }

    /// Dense vectors of the texts, when there is an encoder.
    async fn embed(
        &self,
        texts: impl Iterator<Item = String>,
    ) -> Result<Option<std::vec::IntoIter<Vec<f32>>>, EmbedError> {
        let Some(encoder) = &self.encoder else {
            return Ok(None);
        };
        Ok(Some(encoder.embed(texts.collect()).await?.into_iter()))
    }

    /// The passages that best answer `question`, best first, at most `limit`.
    pub async fn retrieve(
        &self,
        question: &str,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Passage>, KnowledgeError> {
        let candidates = self.settings.candidates.max(limit);
        let search = |vector| Search {
            vector,
            filter: filter.clone(),
            limit: candidates,
        };
        let sparse = QueryVector::Sparse(encode_query(question));
        let hits = self.store.search(&self.collection, search(sparse)).await?;
        let mut lists = vec![("sparse", self.settings.sparse_weight, hits)];

        if let Some(mut dense) = self.embed(std::iter::once(question.to_owned())).await? {
            let vector = dense.next().unwrap_or_default();
            let hits = self
                .store
                .search(&self.collection, search(QueryVector::Dense(vector)));
            lists.push(("dense", self.settings.dense_weight, hits.await?));
        }
        Ok(fuse(&lists, self.settings.rrf_k, limit))
    }

    /// "hybrid" with an encoder, "sparse" without.
    pub fn mode(&self) -> &'static str {
        if self.encoder.is_some() {
            "hybrid"
        } else {
            "sparse"
        }
    }
}

/// Fuses named, weighted ranked lists and turns the best `limit` results into
/// passages.
fn fuse(lists: &[(&str, f64, Vec<Hit>)], rrf_k: f64, limit: usize) -> Vec<Passage> {
    let scored: Vec<Vec<(uuid::Uuid, f32)>> = lists
        .iter()
        .map(|(_, _, hits)| hits.iter().map(|h| (h.id, h.score)).collect())
        .collect();
    let ranked: Vec<RankedList<'_, uuid::Uuid>> = lists
        .iter()
        .zip(&scored)
        .map(|((name, weight, _), hits)| RankedList {
            name,
            hits,
            weight: *weight,
        })
        .collect();
    let payloads: std::collections::HashMap<uuid::Uuid, &Map<String, Value>> = lists
        .iter()
        .flat_map(|(_, _, hits)| hits.iter().map(|h| (h.id, &h.payload)))
        .collect();

    let fused = reciprocal_rank_fusion(&ranked, rrf_k);
    fused
        .into_iter()
        .take(limit)
        .filter_map(|result| {
            let payload = payloads.get(&result.id)?;
            Some(passage(payload, result.score, result.contributions))
        })
        .collect()
}

fn chunk_payload(article: &Article, chunk: &Chunk) -> Map<String, Value> {
    let payload = json!({
        "kind": "article",
        "article_id": chunk.article_id,
        "chunk": chunk.index,
        "title": article.title,
        "language": article.language,
        "url": chunk.url,
        "heading_path": chunk.heading_path,
        "text": chunk.text,
        "content_hash": article.content_hash,
    });
    match payload {
        Value::Object(map) => map,
        _ => unreachable!("a json! object literal is an object"),
    }
}

fn passage(payload: &Map<String, Value>, score: f64, contributions: Vec<Contribution>) -> Passage {
    let text = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let heading_path = payload
        .get("heading_path")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Passage {
        source: match text("kind").as_str() {
            "" => "article".to_owned(),
            kind => kind.to_owned(),
        },
        article_id: text("article_id"),
        title: text("title"),
        url: text("url"),
        heading_path,
        text: text("text"),
        score,
        contributions,
    }
}
