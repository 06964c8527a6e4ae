//! Intent examples supervisors add at run time, which the triage model is trained on
//! beside the shipped ones.
//!
//! Rows are inserted and deleted, never edited. A text may be a customer's own words, so
//! nothing here logs one; the audit entries carry ids, labels and counts only.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::agents::{Actor, audit};
use super::{StorageError, Store, WriteTx, now_ms, rfc3339};

/// An added intent example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentExample {
    pub id: String,
    pub label: String,
    pub text: String,
    /// The supervisor who added it; `None` for the command line.
    pub created_by: Option<String>,
    pub created_at: String,
}

/// An example to add; the caller has checked the label and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntentExample {
    pub label: String,
    pub text: String,
}

/// What became of one example given to [`Store::add_intent_examples`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedExample {
    /// The new row's id, or the id of the row that already held this label and text.
    pub id: String,
    /// The label and text were stored already (or earlier in the same call).
    pub duplicate: bool,
}

impl IntentExample {
    fn from_row(row: &AnyRow) -> Result<Self, StorageError> {
        Ok(Self {
            id: row.try_get("id")?,
            label: row.try_get("label")?,
            text: row.try_get("text")?,
            created_by: row.try_get("created_by")?,
            created_at: rfc3339(row.try_get("created_at")?),
        })
    }
}

impl Store {
    /// Stores the examples in one transaction with one audit entry. An example whose
    /// label and text are stored already is not an error: it keeps its row and comes
    /// back marked as a duplicate. The result has one entry per example, in order.
    #[tracing::instrument(skip_all, fields(examples = examples.len()))]
    pub async fn add_intent_examples(
        &self,
        examples: &[NewIntentExample],
        actor: &Actor,
    ) -> Result<Vec<AddedExample>, StorageError> {
        let now = now_ms();
        let created_by = actor.id.as_deref().filter(|_| actor.kind == "supervisor");
        let mut write = self.begin_write().await?;
        let mut added = Vec::with_capacity(examples.len());
        for example in examples {
            added.push(insert_example(&mut write, example, created_by, now).await?);
        }

        let new = added.iter().filter(|a| !a.duplicate).count();
        let labels: BTreeSet<&str> = examples.iter().map(|e| e.label.as_str()).collect();
        let detail = json!({
            "added": new,
            "duplicates": added.len() - new,
            "labels": labels,
        });
        audit(
            &mut write,
            actor,
            "intents.examples_added",
            "intent_examples",
            None,
            &detail,
        )
        .await?;
        write.commit().await?;
        Ok(added)
    }

    /// Added examples, of one label or of all, by label then age.
    #[tracing::instrument(skip_all)]
    pub async fn intent_examples(
        &self,
        label: Option<&str>,
    ) -> Result<Vec<IntentExample>, StorageError> {
        let rows = match label {
            Some(label) => {
                sqlx::query(
                    "SELECT id, label, text, created_by, created_at FROM intent_examples \
                     WHERE label = $1 ORDER BY id",
                )
                .bind(label)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, label, text, created_by, created_at FROM intent_examples \
                     ORDER BY label, id",
                )
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(IntentExample::from_row).collect()
    }

    /// Deletes one added example, with an audit entry; `None` when there is no such id.
    #[tracing::instrument(skip_all, fields(intent_example.id = id))]
    pub async fn delete_intent_example(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Option<IntentExample>, StorageError> {
        let mut write = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT id, label, text, created_by, created_at FROM intent_examples \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *write.tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let example = IntentExample::from_row(&row)?;

        sqlx::query("DELETE FROM intent_examples WHERE id = $1")
            .bind(id)
            .execute(&mut *write.tx)
            .await?;
        let detail = json!({ "label": example.label });
        audit(
            &mut write,
            actor,
            "intents.example_removed",
            "intent_example",
            Some(id),
            &detail,
        )
        .await?;
        write.commit().await?;
        Ok(Some(example))
    }
}

/// Inserts one example unless its label and text are stored already; either way, says
/// which row holds them.
async fn insert_example(
    write: &mut WriteTx<'_>,
    example: &NewIntentExample,
    created_by: Option<&str>,
    now: i64,
) -> Result<AddedExample, StorageError> {
    let id = Uuid::now_v7().to_string();
    // `ON CONFLICT DO NOTHING` names no target because the PostgreSQL index is on
    // the text's hash; the only other unique key is the fresh id.
    let inserted = sqlx::query(
        "INSERT INTO intent_examples (id, label, text, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(&example.label)
    .bind(&example.text)
    .bind(created_by)
    .bind(now)
    .execute(&mut *write.tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(AddedExample {
            id,
            duplicate: false,
        });
    }

    let row = sqlx::query("SELECT id FROM intent_examples WHERE label = $1 AND text = $2")
        .bind(&example.label)
        .bind(&example.text)
        .fetch_one(&mut *write.tx)
        .await?;
    Ok(AddedExample {
        id: row.try_get("id")?,
        duplicate: true,
    })
}
