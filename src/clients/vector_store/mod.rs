//! The vector store: collections of passages, each with a sparse lexical vector, an
//! optional dense vector and a JSON payload, searched one vector kind at a time.
//!
//! Retrieval asks the store for one ranked list per vector kind and fuses them itself
//! (`domain::knowledge::fusion`), so every result keeps the rank and score each list
//! gave it for the explanation, and both back ends rank alike. Filters are equality
//! on keyword payload fields: that is all retrieval needs, and it is what keeps one
//! customer's history out of another's results, so every back end must apply them
//! inside the search, never after it.
//!
//! This module must never log passage text, payload values or query vectors.

pub mod edge;
pub mod qdrant;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::domain::knowledge::SparseVector;

/// Name of the dense vector in every collection.
pub const DENSE: &str = "dense";
/// Name of the sparse vector in every collection; the store applies IDF to it.
pub const SPARSE: &str = "sparse";

/// What a collection holds and how it is searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSpec {
    pub name: String,
    /// Dimensions of the dense vector; `None` for a lexical-only collection.
    pub dense_size: Option<usize>,
    /// Payload fields that filters may name; the store indexes them.
    pub keyword_fields: Vec<String>,
}

/// One passage to store. Storing a point with an existing id replaces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// A UUID, usually derived from the passage's key with [`point_id`].
    pub id: uuid::Uuid,
    pub sparse: SparseVector,
    /// Required when the collection has dense vectors, ignored otherwise.
    pub dense: Option<Vec<f32>>,
    pub payload: Map<String, Value>,
}

/// Payload fields that must all hold the given values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub must: Vec<(String, String)>,
}

impl Filter {
    /// Adds a condition `field == value`.
    pub fn and(mut self, field: &str, value: &str) -> Self {
        self.must.push((field.to_owned(), value.to_owned()));
        self
    }
}

/// The vector a search ranks by.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryVector {
    Sparse(SparseVector),
    Dense(Vec<f32>),
}

/// One search: a vector, a filter and how many results to return.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub vector: QueryVector,
    pub filter: Filter,
    pub limit: usize,
}

/// A search result, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: uuid::Uuid,
    pub score: f32,
    pub payload: Map<String, Value>,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum VectorStoreError {
    #[error("collection {0} does not exist")]
    NoCollection(String),
    #[error("collection {collection}: {message}")]
    Invalid { collection: String, message: String },
    #[error("the vector store failed: {0}")]
    Backend(String),
}

/// A vector store back end. A back end that talks to a server bounds every call with
/// its timeout.
pub trait VectorStore: Send + Sync + 'static {
    /// Creates the collection if it is missing; an existing one is kept as it is.
    fn ensure_collection(&self, spec: &CollectionSpec) -> StoreFuture<'_, ()>;

    /// Stores points, replacing those with the same ids.
    fn upsert(&self, collection: &str, points: Vec<Point>) -> StoreFuture<'_, ()>;

    /// Deletes every point whose payload matches the filter.
    fn delete(&self, collection: &str, filter: Filter) -> StoreFuture<'_, ()>;

    /// Ranks the points that match the filter by one vector.
    fn search(&self, collection: &str, search: Search) -> StoreFuture<'_, Vec<Hit>>;

    /// How many points the collection holds.
    fn count(&self, collection: &str) -> StoreFuture<'_, usize>;
}

/// The future every store call returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, VectorStoreError>>;

/// A stable point id for a key such as `article-id#3`: the first 16 bytes of its
/// SHA-256, so the same passage always lands on the same point.
pub fn point_id(key: &str) -> uuid::Uuid {
    use sha2::{Digest, Sha256};

    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_stable_and_distinct() {
        assert_eq!(point_id("a#1"), point_id("a#1"));
        assert_ne!(point_id("a#1"), point_id("a#2"));
    }
}
