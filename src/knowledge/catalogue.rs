//! The help centre in force: the shipped article files, overridden by what supervisors
//! saved through the API, kept in step with the vector store.
//!
//! Re-indexing is by content hash. The database records which version of each article
//! the store holds (`kb_index`); a sync indexes only articles whose hash differs and
//! removes every passage of an article that is gone. If the store is empty while the
//! record says otherwise (a fresh data directory beside an old database), the record is
//! dropped and everything is indexed again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::{KnowledgeError, KnowledgeIndex};
use crate::domain::knowledge::{
    Article, ChunkSettings, LoadArticlesError, ParseArticleError, TokenCounter, load_dir,
    parse_article,
};
use crate::storage::{Actor, StorageError, Store};

/// What went wrong with the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Index(#[from] KnowledgeError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the shipped articles cannot be read: {0}")]
    Files(#[from] LoadArticlesError),
    /// A document sent through the API does not parse.
    #[error(transparent)]
    Invalid(#[from] ParseArticleError),
    /// The document's front matter names another article than the URL.
    #[error("the document's id is {found}, but it was sent for {expected}")]
    IdMismatch { expected: String, found: String },
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Articles in force.
    pub articles: usize,
    /// Articles (re-)indexed because they were new or changed.
    pub indexed: usize,
    /// Their passages.
    pub chunks: usize,
    /// Articles whose indexed version was already current.
    pub unchanged: usize,
    /// Articles removed from the store.
    pub removed: usize,
}

/// What saving one article did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaveOutcome {
    pub article_id: String,
    /// `created`, `updated` or `unchanged` (same content hash: nothing re-indexed).
    pub status: &'static str,
    pub content_hash: String,
    /// Passages the store now holds for the article.
    pub chunks: usize,
}

type Articles = BTreeMap<String, Article>;
type Documents = BTreeMap<String, String>;

/// The articles in force and their index.
pub struct Catalogue {
    index: Arc<KnowledgeIndex>,
    store: Store,
    dir: PathBuf,
    counter: Arc<dyn TokenCounter + Send + Sync>,
    chunking: ChunkSettings,
    in_force: RwLock<BTreeMap<String, Article>>,
    /// The Markdown document of each article in force, as written.
    documents: RwLock<BTreeMap<String, String>>,
    /// One edit or sync at a time, so two saves cannot interleave their re-indexing.
    edits: tokio::sync::Mutex<()>,
}

impl Catalogue {
    pub fn new(
        index: Arc<KnowledgeIndex>,
        store: Store,
        dir: &Path,
        counter: Arc<dyn TokenCounter + Send + Sync>,
        chunking: ChunkSettings,
    ) -> Self {
        Self {
            index,
            store,
            dir: dir.to_owned(),
            counter,
            chunking,
            in_force: RwLock::new(BTreeMap::new()),
            documents: RwLock::new(BTreeMap::new()),
            edits: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads the articles in force and brings the store up to date. `progress` hears
    /// (articles indexed so far, articles to index).
    pub async fn sync(
        &self,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<SyncReport, CatalogueError> {
        let _edit = self.edits.lock().await;
        let (articles, documents) = self.load().await?;
        let mut indexed = self.store.indexed_articles().await?;
        if !indexed.is_empty() && self.index.count().await? == 0 {
            tracing::warn!("the vector store is empty; indexing every article again");
            self.store.unmark_indexed(None).await?;
            indexed.clear();
        }

        let mut report = SyncReport {
            articles: articles.len(),
            ..SyncReport::default()
        };
        for id in indexed.keys().filter(|id| !articles.contains_key(*id)) {
            self.index.remove_article(id).await?;
            self.store.unmark_indexed(Some(id)).await?;
            report.removed += 1;
        }
        let corpus: Vec<Article> = articles.values().cloned().collect();
        let changed: Vec<&Article> = corpus
            .iter()
            .filter(|a| indexed.get(&a.id) != Some(&a.content_hash))
            .collect();
        report.unchanged = corpus.len() - changed.len();
        let total = changed.len();
        progress(0, total);
        let mut done = Vec::new();
        let mut hear = |article: &Article, chunks: usize, n: usize| {
            done.push((article.id.clone(), article.content_hash.clone(), chunks));
            progress(n, total);
        };
        let indexed_now = self
            .index
            .index_within(
                &corpus,
                &changed,
                &self.chunking,
                self.counter.as_ref(),
                &mut hear,
            )
            .await?;
        for (id, hash, chunks) in done {
            self.store.mark_indexed(&id, &hash, chunks).await?;
        }
        report.indexed = indexed_now.articles;
        report.chunks = indexed_now.chunks;
        *self.in_force.write().expect("no writer panics") = articles;
        *self.documents.write().expect("no writer panics") = documents;
        Ok(report)
    }

    /// The shipped files with the database's saved and deleted articles applied.
    async fn load(&self) -> Result<(Articles, Documents), CatalogueError> {
        let mut articles = BTreeMap::new();
        let mut documents = BTreeMap::new();
        if self.dir.is_dir() {
            for article in load_dir(&self.dir)? {
                let path = self.dir.join(&article.file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| LoadArticlesError::Unreadable { path, source })?;
                documents.insert(article.id.clone(), text);
                articles.insert(article.id.clone(), article);
            }
        } else {
            tracing::warn!(dir = %self.dir.display(), "no articles folder; only saved articles are in force");
        }
        for row in self.store.article_rows().await? {
            match row.document {
                Some(document) => {
                    let article = parse_article(&format!("{}.md", row.id), &document)?;
                    articles.insert(row.id.clone(), article);
                    documents.insert(row.id, document);
                }
                None => {
                    articles.remove(&row.id);
                    documents.remove(&row.id);
                }
            }
        }
        Ok((articles, documents))
    }

    /// The Markdown document of an article in force.
    pub fn document(&self, id: &str) -> Option<String> {
        let documents = self.documents.read().expect("no writer panics");
        documents.get(id).cloned()
    }

    /// Every article in force, by id.
    pub fn list(&self) -> Vec<Article> {
        let articles = self.in_force.read().expect("no writer panics");
        articles.values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Article> {
        let articles = self.in_force.read().expect("no writer panics");
        articles.get(id).cloned()
    }

    /// Saves an article's whole Markdown document and re-indexes it when its content
    /// changed.
    pub async fn save(
        &self,
        id: &str,
        document: &str,
        actor: &Actor,
    ) -> Result<SaveOutcome, CatalogueError> {
        let article = parse_article(&format!("{id}.md"), document)?;
        if article.id != id {
            return Err(CatalogueError::IdMismatch {
                expected: id.to_owned(),
                found: article.id,
            });
        }
        let _edit = self.edits.lock().await;
        let previous = self.get(id);
        let indexed = self.store.indexed_articles().await?;
        if previous.as_ref().map(|a| &a.content_hash) == Some(&article.content_hash)
            && indexed.get(id) == Some(&article.content_hash)
        {
            return Ok(SaveOutcome {
                article_id: id.to_owned(),
                status: "unchanged",
                content_hash: article.content_hash,
                chunks: 0,
            });
        }
        self.store
            .put_article(id, Some((document, &article.content_hash)), actor)
            .await?;

        let mut corpus = self.list();
        corpus.retain(|a| a.id != id);
        corpus.push(article.clone());
        let mut chunks = 0;
        let mut hear = |_: &Article, n: usize, _: usize| chunks = n;
        self.index
            .index_within(
                &corpus,
                &[&article],
                &self.chunking,
                self.counter.as_ref(),
                &mut hear,
            )
            .await?;
        self.store
            .mark_indexed(id, &article.content_hash, chunks)
            .await?;
        let status = if previous.is_some() {
            "updated"
        } else {
            "created"
        };
        let hash = article.content_hash.clone();
        self.in_force
            .write()
            .expect("no writer panics")
            .insert(id.to_owned(), article);
        self.documents
            .write()
            .expect("no writer panics")
            .insert(id.to_owned(), document.to_owned());
        Ok(SaveOutcome {
            article_id: id.to_owned(),
            status,
            content_hash: hash,
            chunks,
        })
    }

    /// Deletes an article and every passage of it; `false` when there was none.
    pub async fn delete(&self, id: &str, actor: &Actor) -> Result<bool, CatalogueError> {
        let _edit = self.edits.lock().await;
        if self.get(id).is_none() {
            return Ok(false);
        }
        self.store.put_article(id, None, actor).await?;
        self.index.remove_article(id).await?;
        self.store.unmark_indexed(Some(id)).await?;
        self.in_force.write().expect("no writer panics").remove(id);
        self.documents.write().expect("no writer panics").remove(id);
        Ok(true)
    }
}
