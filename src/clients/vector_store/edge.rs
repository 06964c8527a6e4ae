//! The embedded vector store: Qdrant's engine in this process (`qdrant-edge`), one shard
//! per collection under the data directory. It needs no other service, and it keeps
//! its data across restarts.
//!
//! The engine's calls block, so each runs on tokio's blocking pool. Writes are
//! ordered by the engine's own write-ahead log; searches run beside them. A shard
//! flushes to its folder when the store is dropped, so the folder must outlive it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use qdrant_edge as q;
use serde_json::{Map, Value};

use super::{
    CollectionSpec, DENSE, Filter, Hit, Point, QueryVector, SPARSE, Search, StoreFuture,
    VectorStore, VectorStoreError,
};
use crate::domain::knowledge::SparseVector;

/// Collections as shards in folders of `root`, opened by `ensure_collection`.
pub struct EdgeStore {
    inner: Arc<Shards>,
}

struct Shards {
    root: PathBuf,
    open: Mutex<HashMap<String, Arc<q::EdgeShard>>>,
}

impl EdgeStore {
    /// A store whose collections live in folders of `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let inner = Shards {
            root: root.into(),
            open: Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    fn shard(&self, collection: &str) -> Result<Arc<q::EdgeShard>, VectorStoreError> {
        self.inner.shard(collection)
    }
}

impl Shards {
    fn shard(&self, collection: &str) -> Result<Arc<q::EdgeShard>, VectorStoreError> {
        let shards = self.open.lock().expect("the shard map is never poisoned");
        shards
            .get(collection)
            .cloned()
            .ok_or_else(|| VectorStoreError::NoCollection(collection.to_owned()))
    }

    fn open(&self, spec: &CollectionSpec) -> Result<(), VectorStoreError> {
        if self.shard(&spec.name).is_ok() {
            return Ok(());
        }
        let dir = self.root.join(&spec.name);
        let shard = open_or_create(&dir, spec).map_err(|e| backend(&spec.name, e))?;
        check_dense_size(&shard, spec, &dir)?;
        for field in &spec.keyword_fields {
            shard
                .update(keyword_index(field)?)
                .map_err(|e| backend(&spec.name, e))?;
        }
        let mut shards = self.open.lock().expect("the shard map is never poisoned");
        shards.entry(spec.name.clone()).or_insert(Arc::new(shard));
        Ok(())
    }
}

impl VectorStore for EdgeStore {
    fn ensure_collection(&self, spec: &CollectionSpec) -> StoreFuture<'_, ()> {
        let spec = spec.clone();
        let shards = self.inner.clone();
        Box::pin(async move { blocking(move || shards.open(&spec)).await })
    }

    fn upsert(&self, collection: &str, points: Vec<Point>) -> StoreFuture<'_, ()> {
        let name = collection.to_owned();
        Box::pin(async move {
            let shard = self.shard(&name)?;
            let points = points
                .into_iter()
                .map(to_edge_point)
                .collect::<Result<_, _>>()?;
            let operation = q::UpdateOperation::PointOperation(q::PointOperations::UpsertPoints(
                q::PointInsertOperations::PointsList(points),
            ));
            blocking(move || shard.update(operation).map_err(|e| backend(&name, e))).await
        })
    }

    fn delete(&self, collection: &str, filter: Filter) -> StoreFuture<'_, ()> {
        let name = collection.to_owned();
        Box::pin(async move {
            let shard = self.shard(&name)?;
            let operation = q::UpdateOperation::PointOperation(
                q::PointOperations::DeletePointsByFilter(to_edge_filter(&filter)?),
            );
            blocking(move || shard.update(operation).map_err(|e| backend(&name, e))).await
        })
    }

    fn search(&self, collection: &str, search: Search) -> StoreFuture<'_, Vec<Hit>> {
        let name = collection.to_owned();
        Box::pin(async move {
            let shard = self.shard(&name)?;
            let Some(request) = to_edge_request(&search)? else {
                return Ok(Vec::new());
            };
            let points = blocking(move || shard.query(request).map_err(|e| backend(&name, e)));
            points.await?.into_iter().map(from_edge_hit).collect()
        })
    }

    fn count(&self, collection: &str) -> StoreFuture<'_, usize> {
        let name = collection.to_owned();
        Box::pin(async move {
            let shard = self.shard(&name)?;
            blocking(move || Ok(shard.info().points_count)).await
        })
    }
}

/// Runs blocking engine work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VectorStoreError> + Send + 'static,
) -> Result<T, VectorStoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| VectorStoreError::Backend(format!("a store task failed: {e}")))?
}

fn open_or_create(dir: &Path, spec: &CollectionSpec) -> q::OperationResult<q::EdgeShard> {
    if dir.join("edge_config.json").exists() {
        return q::EdgeShard::load(dir, None);
    }
    std::fs::create_dir_all(dir).map_err(|e| q::OperationError::service_error(e.to_string()))?;
    q::EdgeShard::new(dir, edge_config(spec))
}

/// A collection keeps the dense size it was created with; a different one (an encoder
/// installed or changed since) needs the collection rebuilt, which only a person may
/// decide, so say how.
fn check_dense_size(
    shard: &q::EdgeShard,
    spec: &CollectionSpec,
    dir: &Path,
) -> Result<(), VectorStoreError> {
    let stored = shard.config().vectors.get(DENSE).map(|v| v.size);
    if stored == spec.dense_size {
        return Ok(());
    }
    let size = |s: Option<usize>| s.map_or("no dense vectors".to_owned(), |n| format!("{n}-d"));
    Err(VectorStoreError::Invalid {
        collection: spec.name.clone(),
        message: format!(
            "it holds {} but {} are wanted; remove {} and index again",
            size(stored),
            size(spec.dense_size),
            dir.display()
        ),
    })
}

fn edge_config(spec: &CollectionSpec) -> q::EdgeConfig {
    let sparse = q::EdgeSparseVectorParamsBuilder::new()
        .modifier(q::Modifier::Idf)
        .build();
    let mut builder = q::EdgeConfigBuilder::new().sparse_vector(SPARSE, sparse);
    if let Some(size) = spec.dense_size {
        let dense = q::EdgeVectorParams::builder(size, q::Distance::Cosine).build();
        builder = builder.vector(DENSE, dense);
    }
    builder.build()
}

fn keyword_index(field: &str) -> Result<q::UpdateOperation, VectorStoreError> {
    let index = q::CreateIndex {
        field_name: json_path(field)?,
        field_schema: Some(q::PayloadFieldSchema::FieldType(
            q::PayloadSchemaType::Keyword,
        )),
    };
    Ok(q::UpdateOperation::FieldIndexOperation(
        q::FieldIndexOperations::CreateIndex(index),
    ))
}

fn json_path(field: &str) -> Result<q::JsonPath, VectorStoreError> {
    field.parse().map_err(|_| VectorStoreError::Invalid {
        collection: String::new(),
        message: format!("{field:?} is not a payload field name"),
    })
}

fn to_edge_point(point: Point) -> Result<q::PointStructPersisted, VectorStoreError> {
    let mut vectors = HashMap::new();
    vectors.insert(
        SPARSE.to_owned(),
        q::VectorPersisted::Sparse(to_edge_sparse(&point.sparse)?),
    );
    if let Some(dense) = point.dense {
        vectors.insert(DENSE.to_owned(), q::VectorPersisted::Dense(dense));
    }
    Ok(q::PointStructPersisted {
        id: q::PointId::Uuid(point.id),
        vector: q::VectorStructPersisted::Named(vectors),
        payload: Some(q::Payload(point.payload)),
    })
}

/// Our sparse vectors are sorted with unique indices, which is all the engine asks.
fn to_edge_sparse(vector: &SparseVector) -> Result<q::SparseVector, VectorStoreError> {
    q::SparseVector::new(vector.indices.clone(), vector.values.clone())
        .map_err(|e| VectorStoreError::Backend(format!("a sparse vector was refused: {e}")))
}

fn to_edge_filter(filter: &Filter) -> Result<q::Filter, VectorStoreError> {
    let mut conditions = Vec::with_capacity(filter.must.len());
    for (field, value) in &filter.must {
        let condition = q::FieldCondition::new_match(json_path(field)?, value.clone().into());
        conditions.push(q::Condition::Field(condition));
    }
    Ok(q::Filter {
        must: Some(conditions),
        ..q::Filter::default()
    })
}

/// The engine request for one search; `None` when the query vector is empty, since
/// nothing can match it.
fn to_edge_request(search: &Search) -> Result<Option<q::QueryRequest>, VectorStoreError> {
    let (vector, using) = match &search.vector {
        QueryVector::Sparse(v) if v.is_empty() => return Ok(None),
        QueryVector::Sparse(v) => (q::VectorInternal::Sparse(to_edge_sparse(v)?), SPARSE),
        QueryVector::Dense(v) => (q::VectorInternal::Dense(v.clone()), DENSE),
    };
    let query = q::ScoringQuery::Vector(q::QueryEnum::Nearest(q::NamedQuery {
        query: vector,
        using: Some(using.into()),
    }));
    let filter = (!search.filter.must.is_empty())
        .then(|| to_edge_filter(&search.filter))
        .transpose()?;
    Ok(Some(q::QueryRequest {
        prefetches: Vec::new(),
        query: Some(query),
        filter,
        score_threshold: None,
        limit: search.limit,
        offset: 0,
        params: None,
        with_vector: q::WithVector::Bool(false),
        with_payload: q::WithPayloadInterface::Bool(true),
    }))
}

fn from_edge_hit(point: q::ScoredPoint) -> Result<Hit, VectorStoreError> {
    let q::PointId::Uuid(id) = point.id else {
        return Err(VectorStoreError::Backend(
            "the store returned a point without a UUID".into(),
        ));
    };
    let payload: Map<String, Value> = point.payload.map(|p| p.0).unwrap_or_default();
    Ok(Hit {
        id,
        score: point.score,
        payload,
    })
}

fn backend(collection: &str, error: impl std::fmt::Display) -> VectorStoreError {
    VectorStoreError::Backend(format!("collection {collection}: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clients::vector_store::point_id;

    fn spec() -> CollectionSpec {
        CollectionSpec {
            name: "passages".into(),
            dense_size: Some(3),
            keyword_fields: vec!["customer_id".into()],
        }
    }

    fn point(key: &str, customer: &str, terms: &[u32], dense: [f32; 3]) -> Point {
        let payload = json!({ "customer_id": customer, "key": key });
        Point {
            id: point_id(key),
            sparse: SparseVector::from_pairs(terms.iter().map(|&t| (t, 1.0))),
            dense: Some(dense.to_vec()),
            payload: payload.as_object().cloned().unwrap_or_default(),
        }
    }

    fn sparse(terms: &[u32], filter: Filter) -> Search {
        Search {
            vector: QueryVector::Sparse(SparseVector::from_pairs(terms.iter().map(|&t| (t, 1.0)))),
            filter,
            limit: 10,
        }
    }

    fn keys(hits: &[Hit]) -> Vec<&str> {
        hits.iter()
            .filter_map(|h| h.payload["key"].as_str())
            .collect()
    }

    async fn filled(dir: &Path) -> EdgeStore {
        let store = EdgeStore::new(dir);
        store
            .ensure_collection(&spec())
            .await
            .expect("collection opens");
        let points = vec![
            point("a1", "alice", &[1, 2], [1.0, 0.0, 0.0]),
            point("a2", "alice", &[3], [0.0, 1.0, 0.0]),
            point("b1", "bob", &[1, 2], [1.0, 0.0, 0.0]),
        ];
        store
            .upsert("passages", points)
            .await
            .expect("points are stored");
        store
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fd-edge-{name}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    #[tokio::test]
    async fn a_customer_filter_never_returns_another_customers_points() {
        let dir = scratch("filter");
        let store = filled(&dir).await;

        let alice = Filter::default().and("customer_id", "alice");
        let hits = store
            .search("passages", sparse(&[1, 2], alice))
            .await
            .expect("search");
        assert_eq!(keys(&hits), ["a1"]);

        let dense = Search {
            vector: QueryVector::Dense(vec![1.0, 0.0, 0.0]),
            filter: Filter::default().and("customer_id", "bob"),
            limit: 10,
        };
        let hits = store.search("passages", dense).await.expect("search");
        assert_eq!(keys(&hits), ["b1"]);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn dense_search_ranks_by_cosine_and_sparse_by_shared_terms() {
        let dir = scratch("rank");
        let store = filled(&dir).await;
        let dense = Search {
            vector: QueryVector::Dense(vec![0.1, 0.9, 0.0]),
            filter: Filter::default(),
            limit: 2,
        };
        let hits = store.search("passages", dense).await.expect("search");
        assert_eq!(keys(&hits)[0], "a2");
        assert_eq!(hits.len(), 2);

        let hits = store
            .search("passages", sparse(&[3], Filter::default()))
            .await;
        assert_eq!(keys(&hits.expect("search")), ["a2"]);
        let empty = store
            .search("passages", sparse(&[], Filter::default()))
            .await;
        assert!(empty.expect("an empty query is no error").is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn deleting_by_filter_leaves_no_vectors_and_data_survives_a_reopen() {
        let dir = scratch("delete");
        let store = filled(&dir).await;
        let alice = Filter::default().and("customer_id", "alice");
        store
            .delete("passages", alice.clone())
            .await
            .expect("delete");
        assert_eq!(store.count("passages").await.expect("count"), 1);
        drop(store);

        let reopened = EdgeStore::new(&dir);
        reopened.ensure_collection(&spec()).await.expect("reopens");
        assert_eq!(reopened.count("passages").await.expect("count"), 1);
        let hits = reopened
            .search("passages", sparse(&[1, 2], Filter::default()))
            .await;
        assert_eq!(keys(&hits.expect("search")), ["b1"]);
        drop(reopened);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn reopening_with_another_dense_size_says_how_to_rebuild() {
        let dir = scratch("resize");
        let store = EdgeStore::new(&dir);
        let lexical = CollectionSpec {
            dense_size: None,
            ..spec()
        };
        store.ensure_collection(&lexical).await.expect("created");
        drop(store);

        let store = EdgeStore::new(&dir);
        let error = store
            .ensure_collection(&spec())
            .await
            .expect_err("size differs");
        assert!(error.to_string().contains("index again"), "{error}");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_unknown_collection_is_a_clear_error() {
        let store = EdgeStore::new(scratch("unknown"));
        let error = store
            .count("nowhere")
            .await
            .expect_err("no such collection");
        assert!(matches!(error, VectorStoreError::NoCollection(name) if name == "nowhere"));
    }
}
