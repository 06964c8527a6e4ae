//! The relational store: SQLite by default, PostgreSQL when the URL says so.
//!
//! One set of SQL serves both databases through sqlx's `Any` driver, which is why the
//! schema keeps to portable types (see the first migration). Every write that must be
//! durable before the client hears back commits here before the caller returns.
//!
//! Must never log message text or customer details; only identifiers and counts.

mod agents;
mod assignment;
mod conversations;
mod decisions;
mod events;
mod intents;
mod knowledge;
mod messages;
mod rules;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};
use thiserror::Error;
use tokio::sync::{Mutex, MutexGuard};

pub use agents::{Actor, AgentChanges, AgentRecord, AuditEntry, NewAgent, Presence, Role};
pub use assignment::{
    AgentLoad, Change, Deadlines, NewOffer, NoteRecord, OfferRecord, Refusal, Release, WaitingRow,
};
pub use conversations::{ConversationRecord, NewCustomer, QueueRequest};
pub use decisions::{ConversationFactsRow, CustomerRow, DecisionRecord, NewDecision};
pub use events::StoredEvent;
pub use intents::{AddedExample, IntentExample, NewIntentExample};
pub use knowledge::{ArticleRow, BotReplyRecord, NewBotReply, new_reply_id};
pub use messages::{AcceptedMessage, MessageRecord, NewMessage, PendingMessage};
pub use rules::{Publication, RuleVersion, StoredCase};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("unsupported database url: expected sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is malformed: {0}")]
    Corrupt(String),
}

/// A handle on the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time and reports contention as an error rather than
    /// waiting; taking this gate before every write transaction turns that into a queue.
    /// PostgreSQL orders writers with row locks and needs no gate.
    write_gate: Option<std::sync::Arc<Mutex<()>>>,
}

/// A write transaction, holding the SQLite write gate while it lives.
pub struct WriteTx<'a> {
    pub tx: Transaction<'static, Any>,
    _gate: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> Result<(), StorageError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Connects, creating the SQLite file and its directory when needed.
    #[tracing::instrument(skip_all, fields(db.backend))]
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        install_default_drivers();
        let backend = backend_of(url)?;
        tracing::Span::current().record("db.backend", format!("{backend:?}"));
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(url)?;
        }

        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; the mode is stored in
            // the file, so setting it once is enough.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }

        let write_gate = (backend == Backend::Sqlite).then(Default::default);
        Ok(Self {
            pool,
            backend,
            write_gate,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations of this backend that have not run yet.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; used on shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx<'_>, StorageError> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _gate: gate })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn backend_of(url: &str) -> Result<Backend, StorageError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StorageError::UnsupportedUrl)
    }
}

/// Creates the directory of a `sqlite://PATH?…` file.
fn ensure_sqlite_dir(url: &str) -> Result<(), StorageError> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    let Some(dir) = Path::new(path).parent() else {
        return Ok(());
    };
    if path.is_empty() || path == ":memory:" || dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
        path: dir.display().to_string(),
        source,
    })
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64 until year 292 million")
}

/// Formats a stored timestamp as RFC 3339 for API responses.
pub fn rfc3339(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or_default();
    let time = UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_their_backend() {
        let cases = [
            ("sqlite://data/x.db?mode=rwc", Some(Backend::Sqlite)),
            ("sqlite::memory:", Some(Backend::Sqlite)),
            (
                "postgres://postgres@127.0.0.1/test",
                Some(Backend::Postgres),
            ),
            ("postgresql://h/db", Some(Backend::Postgres)),
            ("mysql://h/db", None),
        ];
        for (url, expected) in cases {
            assert_eq!(backend_of(url).ok(), expected, "{url}");
        }
    }

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
