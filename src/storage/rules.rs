//! Versions of the routing rules and the stored traffic drafts are replayed against.
//!
//! Saved versions are never edited; publishing appends a row, so the history of what was
//! in force when is complete and a rollback is just another publication.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::agents::{Actor, audit};
use super::{StorageError, Store, now_ms, rfc3339};

/// A saved version of the rules.
#[derive(Debug, Clone, Serialize)]
pub struct RuleVersion {
    pub version: i64,
    /// The TOML document; left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub note: String,
    pub based_on: Option<i64>,
    pub author_id: Option<String>,
    pub created_at: String,
    /// When this version was last put in force, if ever.
    pub last_published_at: Option<String>,
}

/// One entry of the publication history.
#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub version: i64,
    pub kind: String,
    pub published_by: Option<String>,
    pub published_at: String,
}

/// A stored decision as a replayable case.
#[derive(Debug, Clone)]
pub struct StoredCase {
    pub conversation_id: String,
    pub context: Value,
    pub rule_name: Option<String>,
    pub action: String,
    pub queue: Option<String>,
    pub created_at: i64,
}

impl RuleVersion {
    fn from_row(row: &AnyRow, with_document: bool) -> Result<Self, StorageError> {
        let published: Option<i64> = row.try_get("last_published_at")?;
        Ok(Self {
            version: row.try_get("version")?,
            document: if with_document {
                Some(row.try_get("document")?)
            } else {
                None
            },
            note: row.try_get("note")?,
            based_on: row.try_get("based_on")?,
            author_id: row.try_get("author_id")?,
            created_at: rfc3339(row.try_get("created_at")?),
            last_published_at: published.map(rfc3339),
        })
    }
}

const VERSION_SELECT: &str = "SELECT r.version, r.document, r.note, r.based_on, r.author_id, \
     r.created_at, (SELECT MAX(p.published_at) FROM rule_publications p \
     WHERE p.version = r.version) AS last_published_at FROM rule_sets r";

impl Store {
    /// Saves a validated document as the next version; audited.
    pub async fn save_rule_version(
        &self,
        document: &str,
        note: &str,
        based_on: Option<i64>,
        actor: &Actor,
    ) -> Result<RuleVersion, StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS latest FROM rule_sets")
            .fetch_one(&mut *write.tx)
            .await?;
        let version: i64 = row.try_get::<i64, _>("latest")? + 1;
        sqlx::query(
            "INSERT INTO rule_sets (version, document, note, based_on, author_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(version)
        .bind(document)
        .bind(note)
        .bind(based_on)
        .bind(actor.id.as_deref())
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let detail = json!({ "version": version, "based_on": based_on, "note": note });
        audit(
            &mut write,
            actor,
            "rules.drafted",
            "rules",
            Some(&version.to_string()),
            &detail,
        )
        .await?;
        write.commit().await?;
        Ok(RuleVersion {
            version,
            document: Some(document.to_owned()),
            note: note.to_owned(),
            based_on,
            author_id: actor.id.clone(),
            created_at: rfc3339(now),
            last_published_at: None,
        })
    }

    /// Every saved version, newest first, without documents.
    pub async fn rule_versions(&self) -> Result<Vec<RuleVersion>, StorageError> {
        let sql = format!("{VERSION_SELECT} ORDER BY r.version DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| RuleVersion::from_row(r, false))
            .collect()
    }

    /// One version with its document.
    pub async fn rule_version(&self, version: i64) -> Result<Option<RuleVersion>, StorageError> {
        let sql = format!("{VERSION_SELECT} WHERE r.version = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(version)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref()
            .map(|r| RuleVersion::from_row(r, true))
            .transpose()
    }

    /// The publication history, newest first.
    pub async fn publications(&self) -> Result<Vec<Publication>, StorageError> {
        let rows = sqlx::query(
            "SELECT version, kind, published_by, published_at FROM rule_publications \
             ORDER BY published_at DESC, id DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Publication {
                    version: row.try_get("version")?,
                    kind: row.try_get("kind")?,
                    published_by: row.try_get("published_by")?,
                    published_at: rfc3339(row.try_get("published_at")?),
                })
            })
            .collect()
    }

    /// The version in force, with its document; `None` before the first publication.
    pub async fn published_rules(&self) -> Result<Option<RuleVersion>, StorageError> {
        let latest = self.publications().await?;
        match latest.first() {
            Some(publication) => self.rule_version(publication.version).await,
            None => Ok(None),
        }
    }

    /// Puts a saved version in force (`kind` is `publish` or `rollback`); audited.
    pub async fn publish_rules(
        &self,
        version: i64,
        kind: &str,
        actor: &Actor,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO rule_publications (id, version, kind, published_by, published_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(version)
        .bind(kind)
        .bind(actor.id.as_deref())
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let action = if kind == "rollback" {
            "rules.rolled_back"
        } else {
            "rules.published"
        };
        let detail = json!({ "version": version });
        audit(
            &mut write,
            actor,
            action,
            "rules",
            Some(&version.to_string()),
            &detail,
        )
        .await?;
        write.commit().await
    }

    /// Stored decisions made between `from` and `to` (milliseconds, inclusive), oldest
    /// first, with the routing facts they read.
    pub async fn stored_cases(&self, from: i64, to: i64) -> Result<Vec<StoredCase>, StorageError> {
        let rows = sqlx::query(
            "SELECT conversation_id, context, rule_name, action, queue, created_at \
             FROM routing_decisions WHERE context IS NOT NULL \
             AND created_at >= $1 AND created_at <= $2 ORDER BY created_at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let context: String = row.try_get("context")?;
                Ok(StoredCase {
                    conversation_id: row.try_get("conversation_id")?,
                    context: serde_json::from_str(&context)
                        .map_err(|e| StorageError::Corrupt(format!("decision context: {e}")))?,
                    rule_name: row.try_get("rule_name")?,
                    action: row.try_get("action")?,
                    queue: row.try_get("queue")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
