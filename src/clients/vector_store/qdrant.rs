//! The server vector store: collections on a Qdrant server, reached over gRPC with
//! `qdrant-client`. A collection here has the embedded store's layout (the same vector
//! names, distance, IDF modifier and keyword indexes), so retrieval ranks the same way
//! on either back end.
//!
//! The client opens its connections lazily and reopens them after a failure; `connect`
//! asks the server for its health once, so a wrong address fails at start-up rather
//! than at the first search. Every request is bounded by [`TIMEOUT`]. Writes wait until
//! the server has applied them, so a search right after an upsert or a delete sees it,
//! as it does with the embedded store.
//!
//! Payload values, vectors and the API key never go into a log line or an error
//! message; the server's address and collection names may.

use std::collections::HashMap;
use std::time::Duration;

use qdrant_client::qdrant::{
    self as q, CollectionInfo, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Modifier,
    NamedVectors, PointStruct, Query, QueryPointsBuilder, ScoredPoint, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
    VectorsConfigBuilder, r#match::MatchValue, point_id::PointIdOptions, vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::{Map, Value};
use tonic::Code;

use super::{
    CollectionSpec, DENSE, Filter, Hit, Point, QueryVector, SPARSE, Search, StoreFuture,
    VectorStore, VectorStoreError,
};

/// How long one request to the server may take before it fails. The client retries a
/// request once on a fresh connection when it times out or the connection breaks, so
/// a call can take up to twice this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long opening a connection to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Collections on one Qdrant server. Cloning shares the connections.
#[derive(Clone)]
pub struct QdrantStore {
    client: Qdrant,
    /// The server's address as configured, for error messages.
    url: String,
}

/// Shows the address alone, never the API key the client holds.
impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl QdrantStore {
    /// A store on the server at `url`, its gRPC address (port 6334 by default), with
    /// the API key the server asks for, if any. Fails when the server does not answer.
    #[tracing::instrument(skip_all, fields(vector_store.url = %url))]
    pub async fn connect(url: &str, api_key: Option<&str>) -> Result<Self, VectorStoreError> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // The client's own version check blocks a thread and prints to stdout.
            .skip_compatibility_check()
            .build()
            .map_err(|e| VectorStoreError::Backend(format!("{url:?} is not a usable URL: {e}")))?;
        let store = Self {
            client,
            url: url.to_owned(),
        };

        let health = store.client.health_check().await;
        let health = health.map_err(|e| store.error("", e))?;
        tracing::info!(vector_store.server_version = %health.version, "qdrant server answered");
        Ok(store)
    }

    #[tracing::instrument(skip_all, fields(vector_store.collection = %spec.name))]
    async fn open(&self, spec: CollectionSpec) -> Result<(), VectorStoreError> {
        let info = match self.info(&spec.name).await {
            Err(VectorStoreError::NoCollection(_)) => {
                self.create(&spec).await?;
                self.info(&spec.name).await?
            }
            found => found?,
        };
        check_layout(&spec, &info)?;

        for field in &spec.keyword_fields {
            if !info.payload_schema.contains_key(field) {
                let index =
                    CreateFieldIndexCollectionBuilder::new(&spec.name, field, FieldType::Keyword);
                let created = self.client.create_field_index(index.wait(true)).await;
                created.map_err(|e| self.error(&spec.name, e))?;
            }
        }
        Ok(())
    }

    async fn info(&self, collection: &str) -> Result<CollectionInfo, VectorStoreError> {
        let response = self.client.collection_info(collection).await;
        let response = response.map_err(|e| self.error(collection, e))?;
        response.result.ok_or_else(|| {
            VectorStoreError::Backend(format!("collection {collection}: the server sent no info"))
        })
    }

    /// Creates the collection; one created meanwhile by another process is kept, and
    /// its layout is checked by the caller like any other.
    async fn create(&self, spec: &CollectionSpec) -> Result<(), VectorStoreError> {
        match self.client.create_collection(create_request(spec)).await {
            Err(QdrantError::ResponseError { status }) if status.code() == Code::AlreadyExists => {
                Ok(())
            }
            created => created.map(drop).map_err(|e| self.error(&spec.name, e)),
        }
    }

    #[tracing::instrument(
        skip_all,
        fields(vector_store.collection = %collection, vector_store.points = points.len())
    )]
    async fn put(&self, collection: String, points: Vec<Point>) -> Result<(), VectorStoreError> {
        if points.is_empty() {
            return Ok(());
        }
        let points: Vec<PointStruct> = points.into_iter().map(to_point).collect();
        let request = UpsertPointsBuilder::new(&collection, points).wait(true);
        let stored = self.client.upsert_points(request).await;
        stored.map(drop).map_err(|e| self.error(&collection, e))
    }

    #[tracing::instrument(skip_all, fields(vector_store.collection = %collection))]
    async fn remove(&self, collection: String, filter: Filter) -> Result<(), VectorStoreError> {
        let request = DeletePointsBuilder::new(&collection)
            .points(to_filter(&filter))
            .wait(true);
        let deleted = self.client.delete_points(request).await;
        deleted.map(drop).map_err(|e| self.error(&collection, e))
    }

    #[tracing::instrument(
        skip_all,
        fields(vector_store.collection = %collection, vector_store.limit = search.limit)
    )]
    async fn query(
        &self,
        collection: String,
        search: Search,
    ) -> Result<Vec<Hit>, VectorStoreError> {
        let Some(request) = query_request(&collection, &search) else {
            return Ok(Vec::new());
        };
        let response = self.client.query(request).await;
        let response = response.map_err(|e| self.error(&collection, e))?;
        response.result.into_iter().map(to_hit).collect()
    }

    #[tracing::instrument(skip_all, fields(vector_store.collection = %collection))]
    async fn count_points(&self, collection: String) -> Result<usize, VectorStoreError> {
        let request = CountPointsBuilder::new(&collection).exact(true);
        let response = self.client.count(request).await;
        let response = response.map_err(|e| self.error(&collection, e))?;
        Ok(response.result.map_or(0, |r| r.count as usize))
    }

    fn error(&self, collection: &str, error: QdrantError) -> VectorStoreError {
        store_error(&self.url, collection, error)
    }
}

impl VectorStore for QdrantStore {
    fn ensure_collection(&self, spec: &CollectionSpec) -> StoreFuture<'_, ()> {
        Box::pin(self.open(spec.clone()))
    }

    fn upsert(&self, collection: &str, points: Vec<Point>) -> StoreFuture<'_, ()> {
        Box::pin(self.put(collection.to_owned(), points))
    }

    fn delete(&self, collection: &str, filter: Filter) -> StoreFuture<'_, ()> {
        Box::pin(self.remove(collection.to_owned(), filter))
    }

    fn search(&self, collection: &str, search: Search) -> StoreFuture<'_, Vec<Hit>> {
        Box::pin(self.query(collection.to_owned(), search))
    }

    fn count(&self, collection: &str) -> StoreFuture<'_, usize> {
        Box::pin(self.count_points(collection.to_owned()))
    }
}

fn create_request(spec: &CollectionSpec) -> CreateCollectionBuilder {
    let mut sparse = SparseVectorsConfigBuilder::default();
    let idf = SparseVectorParamsBuilder::default().modifier(Modifier::Idf);
    sparse.add_named_vector_params(SPARSE, idf);
    let mut request = CreateCollectionBuilder::new(&spec.name).sparse_vectors_config(sparse);

    if let Some(size) = spec.dense_size {
        let mut dense = VectorsConfigBuilder::default();
        let params = VectorParamsBuilder::new(size as u64, Distance::Cosine);
        dense.add_named_vector_params(DENSE, params);
        request = request.vectors_config(dense);
    }
    request
}

/// An existing collection must have the layout `spec` asks for. A different dense size
/// (an encoder installed or changed since) or a collection made by something else needs
/// the collection rebuilt, which only a person may decide, so say how.
fn check_layout(spec: &CollectionSpec, info: &CollectionInfo) -> Result<(), VectorStoreError> {
    let Some(problem) = layout_problem(spec, info) else {
        return Ok(());
    };
    Err(VectorStoreError::Invalid {
        collection: spec.name.clone(),
        message: format!("{problem}; delete it on the Qdrant server and index again"),
    })
}

fn layout_problem(spec: &CollectionSpec, info: &CollectionInfo) -> Option<String> {
    let dense = dense_params(info);
    let stored = dense.map(|p| p.size as usize);
    if stored != spec.dense_size {
        let size = |s: Option<usize>| s.map_or("no dense vectors".to_owned(), |n| format!("{n}-d"));
        let (stored, wanted) = (size(stored), size(spec.dense_size));
        return Some(format!("it holds {stored} but {wanted} are wanted"));
    }
    if dense.is_some_and(|p| p.distance != Distance::Cosine as i32) {
        return Some("its dense vectors are not compared by cosine".to_owned());
    }
    if !has_idf_sparse(info) {
        return Some(format!(
            "it has no sparse vector {SPARSE:?} with the IDF modifier"
        ));
    }
    None
}

fn dense_params(info: &CollectionInfo) -> Option<&q::VectorParams> {
    let params = info.config.as_ref()?.params.as_ref()?;
    match params.vectors_config.as_ref()?.config.as_ref()? {
        vectors_config::Config::ParamsMap(named) => named.map.get(DENSE),
        vectors_config::Config::Params(_) => None,
    }
}

fn has_idf_sparse(info: &CollectionInfo) -> bool {
    let sparse = info
        .config
        .as_ref()
        .and_then(|c| c.params.as_ref())
        .and_then(|p| p.sparse_vectors_config.as_ref())
        .and_then(|s| s.map.get(SPARSE));
    sparse.is_some_and(|s| s.modifier == Some(Modifier::Idf as i32))
}

fn to_point(point: Point) -> PointStruct {
    let sparse = Vector::new_sparse(point.sparse.indices, point.sparse.values);
    let mut vectors = NamedVectors::default().add_vector(SPARSE, sparse);
    if let Some(dense) = point.dense {
        vectors = vectors.add_vector(DENSE, Vector::new_dense(dense));
    }
    PointStruct::new(point.id.to_string(), vectors, Payload::from(point.payload))
}

/// Every condition is an exact keyword match. The client's conversion from a string
/// would turn a value with a space into a full-text match, so the kind is set here.
fn to_filter(filter: &Filter) -> q::Filter {
    q::Filter::must(filter.must.iter().map(|(field, value)| {
        Condition::matches(field.clone(), MatchValue::Keyword(value.clone()))
    }))
}

/// The server request for one search; `None` when nothing can match (an empty sparse
/// query, or no results asked for).
fn query_request(collection: &str, search: &Search) -> Option<QueryPointsBuilder> {
    let (vector, using) = match &search.vector {
        QueryVector::Sparse(v) if v.is_empty() => return None,
        QueryVector::Sparse(v) => (
            VectorInput::new_sparse(v.indices.clone(), v.values.clone()),
            SPARSE,
        ),
        QueryVector::Dense(v) => (VectorInput::new_dense(v.clone()), DENSE),
    };
    if search.limit == 0 {
        return None;
    }
    let mut request = QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(vector))
        .using(using)
        .limit(search.limit as u64)
        .with_payload(true);
    if !search.filter.must.is_empty() {
        request = request.filter(to_filter(&search.filter));
    }
    Some(request)
}

fn to_hit(point: ScoredPoint) -> Result<Hit, VectorStoreError> {
    let id = match point.id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Uuid(id)) => id.parse().ok(),
        _ => None,
    };
    let id = id.ok_or_else(|| {
        VectorStoreError::Backend("the store returned a point without a UUID".into())
    })?;
    Ok(Hit {
        id,
        score: point.score,
        payload: to_json(point.payload),
    })
}

fn to_json(payload: HashMap<String, q::Value>) -> Map<String, Value> {
    Map::from(Payload::from(payload))
}

/// Our error for a failed request, worded for the person who reads the log. Status
/// messages come from the server or the transport and hold no payload values.
fn store_error(url: &str, collection: &str, error: QdrantError) -> VectorStoreError {
    let status = match error {
        QdrantError::ResponseError { status } => status,
        QdrantError::ResourceExhaustedError {
            retry_after_seconds,
            ..
        } => {
            return VectorStoreError::Backend(format!(
                "the Qdrant server at {url} is overloaded; retry in {retry_after_seconds} s"
            ));
        }
        other => return VectorStoreError::Backend(format!("the Qdrant client failed: {other}")),
    };
    let message = status.message();
    let backend = |text: String| VectorStoreError::Backend(text);
    match status.code() {
        Code::NotFound => VectorStoreError::NoCollection(collection.to_owned()),
        Code::InvalidArgument | Code::FailedPrecondition => VectorStoreError::Invalid {
            collection: collection.to_owned(),
            message: message.to_owned(),
        },
        Code::Unavailable => backend(unreachable(url, message)),
        // The client reports a connection it could not open as an internal error.
        Code::Internal if message.starts_with("Failed to connect") => {
            backend(unreachable(url, message))
        }
        Code::DeadlineExceeded => backend(too_slow(url)),
        Code::Cancelled if message.contains("Timeout expired") => backend(too_slow(url)),
        Code::Unauthenticated | Code::PermissionDenied => backend(format!(
            "the Qdrant server at {url} refused the request; check the API key ({message})"
        )),
        code => backend(format!(
            "the Qdrant server at {url} failed on collection {collection:?}: {} ({message})",
            code.description()
        )),
    }
}

fn unreachable(url: &str, message: &str) -> String {
    format!(
        "cannot reach the Qdrant server at {url}; is it running, and is that its gRPC \
         port (6334 by default)? ({message})"
    )
}

fn too_slow(url: &str) -> String {
    format!("the Qdrant server at {url} did not answer within {TIMEOUT:?}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clients::vector_store::point_id;
    use crate::domain::knowledge::SparseVector;

    /// The gRPC address of a Qdrant server the tests may create collections on.
    const URL_VAR: &str = "FRONTDESK_TEST_QDRANT_URL";
    /// Its API key, when it asks for one.
    const KEY_VAR: &str = "FRONTDESK_TEST_QDRANT_API_KEY";

    fn spec(name: &str) -> CollectionSpec {
        CollectionSpec {
            name: name.into(),
            dense_size: Some(3),
            keyword_fields: vec!["customer_id".into()],
        }
    }

    fn lexical(name: &str) -> CollectionSpec {
        CollectionSpec {
            dense_size: None,
            ..spec(name)
        }
    }

    fn terms(terms: &[u32]) -> SparseVector {
        SparseVector::from_pairs(terms.iter().map(|&t| (t, 1.0)))
    }

    fn point(key: &str, customer: &str, terms_: &[u32], dense: [f32; 3]) -> Point {
        let payload = json!({ "customer_id": customer, "key": key });
        Point {
            id: point_id(key),
            sparse: terms(terms_),
            dense: Some(dense.to_vec()),
            payload: payload.as_object().cloned().unwrap_or_default(),
        }
    }

    fn sparse(terms_: &[u32], filter: Filter) -> Search {
        Search {
            vector: QueryVector::Sparse(terms(terms_)),
            filter,
            limit: 10,
        }
    }

    fn dense(vector: [f32; 3], filter: Filter) -> Search {
        Search {
            vector: QueryVector::Dense(vector.to_vec()),
            filter,
            limit: 10,
        }
    }

    fn keys(hits: &[Hit]) -> Vec<&str> {
        hits.iter()
            .filter_map(|h| h.payload["key"].as_str())
            .collect()
    }

    /// What the server would report for a collection created from `spec`.
    fn info_for(spec: &CollectionSpec) -> CollectionInfo {
        let created = q::CreateCollection::from(create_request(spec));
        let params = q::CollectionParams {
            vectors_config: created.vectors_config,
            sparse_vectors_config: created.sparse_vectors_config,
            ..Default::default()
        };
        let config = q::CollectionConfig {
            params: Some(params),
            ..Default::default()
        };
        CollectionInfo {
            config: Some(config),
            ..Default::default()
        }
    }

    #[test]
    fn payloads_survive_the_trip_through_qdrant_values() {
        let payload = json!({
            "customer_id": "alice",
            "index": 3,
            "weight": 0.5,
            "public": true,
            "summary": null,
            "headings": ["Billing", "Refunds"],
            "source": { "url": "https://help.example/refunds#card" },
        });
        let payload = payload.as_object().cloned().unwrap_or_default();

        let stored: HashMap<String, q::Value> = Payload::from(payload.clone()).into();
        assert_eq!(to_json(stored), payload);
    }

    #[test]
    fn every_filter_condition_is_an_exact_keyword_match() {
        let filter = Filter::default()
            .and("customer_id", "alice")
            .and("title", "two words");

        let matches: Vec<(String, Option<MatchValue>)> = to_filter(&filter)
            .must
            .into_iter()
            .map(|c| match c.condition_one_of {
                Some(q::condition::ConditionOneOf::Field(f)) => {
                    (f.key, f.r#match.and_then(|m| m.match_value))
                }
                other => panic!("not a field condition: {other:?}"),
            })
            .collect();
        let keyword = |v: &str| Some(MatchValue::Keyword(v.into()));
        assert_eq!(
            matches,
            [
                ("customer_id".to_owned(), keyword("alice")),
                ("title".to_owned(), keyword("two words")),
            ]
        );
    }

    #[test]
    fn a_point_carries_its_uuid_and_named_sparse_and_dense_vectors() {
        let stored = to_point(Point {
            id: point_id("a#1"),
            sparse: SparseVector::from_pairs([(3, 0.5), (1, 2.0)]),
            dense: Some(vec![0.6, 0.8]),
            payload: Map::new(),
        });

        assert_eq!(stored.id, Some(point_id("a#1").to_string().into()));
        let Some(q::vectors::VectorsOptions::Vectors(named)) =
            stored.vectors.and_then(|v| v.vectors_options)
        else {
            panic!("the vectors are not named");
        };
        let vector = |name: &str| named.vectors[name].vector.clone();
        let Some(q::vector::Vector::Sparse(sparse)) = vector(SPARSE) else {
            panic!("no sparse vector named {SPARSE}");
        };
        assert_eq!(
            (sparse.indices, sparse.values),
            (vec![1, 3], vec![2.0, 0.5])
        );
        let Some(q::vector::Vector::Dense(dense)) = vector(DENSE) else {
            panic!("no dense vector named {DENSE}");
        };
        assert_eq!(dense.data, [0.6, 0.8]);
    }

    #[test]
    fn a_search_names_its_vector_and_carries_its_filter() {
        let bob = Filter::default().and("customer_id", "bob");
        let search = dense([1.0, 0.0, 0.0], bob.clone());
        let request = query_request("passages", &search).map(q::QueryPoints::from);
        let request = request.expect("a dense query is sent");
        assert_eq!(request.using.as_deref(), Some(DENSE));
        assert_eq!(request.limit, Some(10));
        assert_eq!(request.filter, Some(to_filter(&bob)));
        let query = request.query.and_then(|q| q.variant);
        assert!(
            matches!(query, Some(q::query::Variant::Nearest(_))),
            "{query:?}"
        );

        let search = sparse(&[2], Filter::default());
        let request = query_request("passages", &search).map(q::QueryPoints::from);
        let request = request.expect("a sparse query is sent");
        assert_eq!(request.using.as_deref(), Some(SPARSE));
        assert_eq!(request.filter, None);
    }

    #[test]
    fn a_search_that_cannot_match_asks_the_server_nothing() {
        assert!(query_request("passages", &sparse(&[], Filter::default())).is_none());
        let none_wanted = Search {
            limit: 0,
            ..sparse(&[1], Filter::default())
        };
        assert!(query_request("passages", &none_wanted).is_none());
    }

    #[test]
    fn a_new_collection_has_the_embedded_stores_layout() {
        let created = q::CreateCollection::from(create_request(&spec("passages")));
        let Some(vectors_config::Config::ParamsMap(named)) =
            created.vectors_config.and_then(|v| v.config)
        else {
            panic!("the dense vector is not named");
        };
        assert_eq!(named.map[DENSE].size, 3);
        assert_eq!(named.map[DENSE].distance, Distance::Cosine as i32);
        let sparse = created.sparse_vectors_config.expect("a sparse vector");
        assert_eq!(sparse.map[SPARSE].modifier, Some(Modifier::Idf as i32));

        let created = q::CreateCollection::from(create_request(&lexical("passages")));
        assert_eq!(created.vectors_config, None);
        assert!(created.sparse_vectors_config.is_some());
    }

    #[test]
    fn a_collection_of_another_dense_size_must_be_rebuilt() {
        assert!(check_layout(&spec("p"), &info_for(&spec("p"))).is_ok());
        assert!(check_layout(&lexical("p"), &info_for(&lexical("p"))).is_ok());

        let cases = [
            (
                spec("p"),
                lexical("p"),
                "it holds no dense vectors but 3-d are wanted",
            ),
            (
                lexical("p"),
                spec("p"),
                "it holds 3-d but no dense vectors are wanted",
            ),
        ];
        for (wanted, existing, message) in cases {
            let error = check_layout(&wanted, &info_for(&existing)).expect_err(message);
            let error = error.to_string();
            assert!(error.contains(message), "{message}: {error}");
            assert!(error.contains("index again"), "{message}: {error}");
        }
    }

    #[test]
    fn a_collection_without_the_idf_modifier_is_refused() {
        let mut info = info_for(&spec("p"));
        let params = info.config.as_mut().and_then(|c| c.params.as_mut());
        let sparse = params.and_then(|p| p.sparse_vectors_config.as_mut());
        sparse
            .expect("a sparse vector")
            .map
            .insert(SPARSE.into(), Default::default());

        let error = check_layout(&spec("p"), &info).expect_err("no IDF");
        assert!(error.to_string().contains("IDF modifier"), "{error}");
    }

    #[test]
    fn server_errors_say_what_a_person_can_do() {
        use tonic::Status;

        let url = "http://127.0.0.1:6334";
        let cases = [
            (
                Status::not_found("Collection `p` doesn't exist!"),
                "collection p does not exist",
            ),
            (
                Status::unavailable("tcp connect error"),
                "cannot reach the Qdrant server at",
            ),
            (
                Status::internal("Failed to connect to x: refused"),
                "is it running",
            ),
            (
                Status::cancelled("Timeout expired"),
                "did not answer within 10s",
            ),
            (
                Status::deadline_exceeded("deadline"),
                "did not answer within 10s",
            ),
            (
                Status::unauthenticated("Invalid api-key"),
                "check the API key",
            ),
            (
                Status::invalid_argument("Wrong input: dim 2"),
                "collection p: Wrong input",
            ),
            (Status::internal("disk full"), "failed on collection \"p\""),
        ];
        for (status, expected) in cases {
            let shown = format!("{}: {}", status.code(), status.message());
            let error = store_error(url, "p", QdrantError::ResponseError { status });
            let error = error.to_string();
            assert!(error.contains(expected), "{shown} gave {error:?}");
        }

        let missing = store_error(url, "p", Status::not_found("gone").into());
        assert!(matches!(missing, VectorStoreError::NoCollection(name) if name == "p"));
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_reported_as_unreachable() {
        // A port that was free a moment ago: nothing listens on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);

        let url = format!("http://127.0.0.1:{port}");
        let error = QdrantStore::connect(&url, Some("secret-key")).await;
        let error = error.expect_err("nothing listens there").to_string();
        assert!(error.contains("cannot reach the Qdrant server"), "{error}");
        assert!(!error.contains("secret-key"), "{error}");
    }

    // The tests below need a Qdrant server; each makes its own collection and deletes
    // it afterwards.

    /// The test server, or `None`, having said so, when none is configured.
    async fn test_server() -> Option<QdrantStore> {
        let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
            eprintln!("skipped: {URL_VAR} is not set");
            return None;
        };
        let key = std::env::var(KEY_VAR).ok();
        let store = QdrantStore::connect(&url, key.as_deref()).await;
        Some(store.expect("the test server answers"))
    }

    /// Runs `test` with the test server and a collection name no one else uses, then
    /// deletes that collection whether the test passed or not.
    async fn on_server<F, Fut>(label: &str, test: F)
    where
        F: FnOnce(QdrantStore, String) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(store) = test_server().await else {
            return;
        };
        let name = format!("frontdesk-test-{label}-{}", uuid::Uuid::now_v7().simple());

        let outcome = tokio::spawn(test(store.clone(), name.clone())).await;
        let _ = store.client.delete_collection(name.as_str()).await;
        if let Err(failure) = outcome {
            std::panic::resume_unwind(failure.into_panic());
        }
    }

    async fn fill(store: &QdrantStore, name: &str) {
        store
            .ensure_collection(&spec(name))
            .await
            .expect("collection opens");
        let points = vec![
            point("a1", "alice", &[1, 2], [1.0, 0.0, 0.0]),
            point("a2", "alice", &[3], [0.0, 1.0, 0.0]),
            point("b1", "bob", &[1, 2], [1.0, 0.0, 0.0]),
        ];
        store.upsert(name, points).await.expect("points are stored");
    }

    #[tokio::test]
    async fn a_customer_filter_never_returns_another_customers_points() {
        on_server("filter", |store, name| async move {
            fill(&store, &name).await;
            let info = store.info(&name).await.expect("info");
            assert!(info.payload_schema.contains_key("customer_id"));

            let alice = Filter::default().and("customer_id", "alice");
            let hits = store.search(&name, sparse(&[1, 2], alice)).await;
            assert_eq!(keys(&hits.expect("search")), ["a1"]);

            let bob = Filter::default().and("customer_id", "bob");
            let hits = store.search(&name, dense([1.0, 0.0, 0.0], bob)).await;
            assert_eq!(keys(&hits.expect("search")), ["b1"]);
        })
        .await;
    }

    #[tokio::test]
    async fn dense_search_ranks_by_cosine_and_sparse_by_shared_terms() {
        on_server("rank", |store, name| async move {
            fill(&store, &name).await;
            let search = Search {
                limit: 2,
                ..dense([0.1, 0.9, 0.0], Filter::default())
            };
            let hits = store.search(&name, search).await.expect("search");
            assert_eq!(hits.len(), 2);
            assert_eq!(keys(&hits)[0], "a2");
            assert_eq!(hits[0].id, point_id("a2"));
            assert_eq!(hits[0].payload["customer_id"], "alice");
            assert!(hits[0].score > hits[1].score);

            let hits = store.search(&name, sparse(&[3], Filter::default())).await;
            assert_eq!(keys(&hits.expect("search")), ["a2"]);
            let empty = store.search(&name, sparse(&[], Filter::default())).await;
            assert!(empty.expect("an empty query is no error").is_empty());
        })
        .await;
    }

    #[tokio::test]
    async fn deleting_by_filter_leaves_no_points_and_data_survives_a_reopen() {
        on_server("delete", |store, name| async move {
            fill(&store, &name).await;
            let alice = Filter::default().and("customer_id", "alice");
            store.delete(&name, alice.clone()).await.expect("delete");
            assert_eq!(store.count(&name).await.expect("count"), 1);
            let hits = store.search(&name, sparse(&[1, 2, 3], alice)).await;
            assert!(hits.expect("search").is_empty());

            store
                .ensure_collection(&spec(&name))
                .await
                .expect("reopens");
            assert_eq!(store.count(&name).await.expect("count"), 1);
            let hits = store
                .search(&name, sparse(&[1, 2], Filter::default()))
                .await;
            assert_eq!(keys(&hits.expect("search")), ["b1"]);
        })
        .await;
    }

    #[tokio::test]
    async fn storing_a_point_again_replaces_it() {
        on_server("replace", |store, name| async move {
            fill(&store, &name).await;
            let moved = point("a1", "carol", &[1, 2], [1.0, 0.0, 0.0]);
            store.upsert(&name, vec![moved]).await.expect("stored");
            assert_eq!(store.count(&name).await.expect("count"), 3);

            let carol = Filter::default().and("customer_id", "carol");
            let hits = store.search(&name, sparse(&[1], carol)).await;
            assert_eq!(keys(&hits.expect("search")), ["a1"]);
        })
        .await;
    }

    #[tokio::test]
    async fn reopening_with_another_dense_size_says_how_to_rebuild() {
        on_server("resize", |store, name| async move {
            store
                .ensure_collection(&lexical(&name))
                .await
                .expect("created");
            let error = store.ensure_collection(&spec(&name)).await;
            let error = error.expect_err("size differs");
            assert!(matches!(error, VectorStoreError::Invalid { .. }), "{error}");
            assert!(error.to_string().contains("index again"), "{error}");
        })
        .await;
    }

    #[tokio::test]
    async fn an_unknown_collection_is_a_clear_error() {
        on_server("unknown", |store, name| async move {
            let error = store.count(&name).await.expect_err("no such collection");
            assert!(matches!(error, VectorStoreError::NoCollection(n) if n == name));
            let error = store.search(&name, sparse(&[1], Filter::default())).await;
            let error = error.expect_err("no such collection");
            assert!(
                matches!(error, VectorStoreError::NoCollection(_)),
                "{error}"
            );
        })
        .await;
    }
}
