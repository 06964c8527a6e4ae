//! Agents, supervisors, their API tokens and the audit log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::{StorageError, Store, WriteTx, now_ms};

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
}

/// Whether an agent can take conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// A stored agent or supervisor.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRecord {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    /// Skill name to level (1 to 10).
    pub skills: BTreeMap<String, u8>,
    pub languages: Vec<String>,
    pub teams: Vec<String>,
    /// Conversations the agent can hold at once.
    pub capacity: i64,
    pub presence: Presence,
    pub last_seen_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new agent's profile.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub skills: BTreeMap<String, u8>,
    pub languages: Vec<String>,
    pub teams: Vec<String>,
    pub capacity: i64,
}

/// Changes to an agent's profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skills: Option<BTreeMap<String, u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teams: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<i64>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `supervisor`, `agent`, `cli` or `system`.
    pub kind: &'static str,
    pub id: Option<String>,
}

/// One row of the append-only audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<String>,
    pub detail: Value,
    pub created_at: i64,
}

pub(super) const AGENT_COLUMNS: &str = "a.id, a.name, a.email, a.role, a.skills, a.languages, a.teams, \
     a.capacity, a.presence, a.last_seen_at, a.created_at, a.updated_at";

fn parse_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, StorageError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StorageError::Corrupt(format!("{column}: {e}")))
}

fn parse_enum<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, StorageError> {
    let text: String = row.try_get(column)?;
    serde_json::from_value(Value::String(text))
        .map_err(|e| StorageError::Corrupt(format!("{column}: {e}")))
}

impl AgentRecord {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, StorageError> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            role: parse_enum(row, "role")?,
            skills: parse_json(row, "skills")?,
            languages: parse_json(row, "languages")?,
            teams: parse_json(row, "teams")?,
            capacity: row.try_get("capacity")?,
            presence: parse_enum(row, "presence")?,
            last_seen_at: row.try_get("last_seen_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        _ => unreachable!("unit enums serialise to strings"),
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps and lists of strings serialise")
}

impl Store {
    /// Creates an agent with a first API token, and audits it.
    #[tracing::instrument(skip_all, fields(agent.id))]
    pub async fn create_agent(
        &self,
        new: &NewAgent,
        token_hash: &str,
        actor: &Actor,
    ) -> Result<AgentRecord, StorageError> {
        let now = now_ms();
        let id = Uuid::now_v7().to_string();
        tracing::Span::current().record("agent.id", &id);
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO agents (id, name, email, role, skills, languages, teams, capacity, \
             presence, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'offline', $9, $9)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(&new.email)
        .bind(enum_text(&new.role))
        .bind(to_json(&new.skills))
        .bind(to_json(&new.languages))
        .bind(to_json(&new.teams))
        .bind(new.capacity)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        insert_token(&mut write, &id, token_hash, "initial", now).await?;
        let detail = json!({ "role": new.role, "skills": new.skills,
            "languages": new.languages, "teams": new.teams, "capacity": new.capacity });
        audit(
            &mut write,
            actor,
            "agent.created",
            "agent",
            Some(&id),
            &detail,
        )
        .await?;
        let agent = fetch_agent(&mut write, &id).await?;
        write.commit().await?;
        Ok(agent)
    }

    /// The agent holding this token, unless the token is revoked.
    pub async fn agent_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<AgentRecord>, StorageError> {
        let sql = format!(
            "SELECT {AGENT_COLUMNS} FROM agents a JOIN api_tokens t ON t.agent_id = a.id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(AgentRecord::from_row).transpose()
    }

    pub async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StorageError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(AgentRecord::from_row).transpose()
    }

    pub async fn agents(&self) -> Result<Vec<AgentRecord>, StorageError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a ORDER BY a.name, a.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(AgentRecord::from_row).collect()
    }

    /// Applies changes and audits them; `None` when there is no such agent.
    #[tracing::instrument(skip_all, fields(agent.id = id))]
    pub async fn update_agent(
        &self,
        id: &str,
        changes: &AgentChanges,
        actor: &Actor,
    ) -> Result<Option<AgentRecord>, StorageError> {
        let mut write = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE agents SET name = COALESCE($2, name), role = COALESCE($3, role), \
             skills = COALESCE($4, skills), languages = COALESCE($5, languages), \
             teams = COALESCE($6, teams), capacity = COALESCE($7, capacity), \
             updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&changes.name)
        .bind(changes.role.as_ref().map(enum_text))
        .bind(changes.skills.as_ref().map(to_json))
        .bind(changes.languages.as_ref().map(to_json))
        .bind(changes.teams.as_ref().map(to_json))
        .bind(changes.capacity)
        .bind(now_ms())
        .execute(&mut *write.tx)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(None);
        }
        let detail = serde_json::to_value(changes).expect("changes serialise");
        audit(
            &mut write,
            actor,
            "agent.updated",
            "agent",
            Some(id),
            &detail,
        )
        .await?;
        let agent = fetch_agent(&mut write, id).await?;
        write.commit().await?;
        Ok(Some(agent))
    }

    /// Issues another token for an agent and audits it; false when there is no such agent.
    pub async fn issue_token(
        &self,
        agent_id: &str,
        token_hash: &str,
        label: &str,
        actor: &Actor,
    ) -> Result<bool, StorageError> {
        let mut write = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_optional(&mut *write.tx)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }
        insert_token(&mut write, agent_id, token_hash, label, now_ms()).await?;
        let detail = json!({ "label": label });
        audit(
            &mut write,
            actor,
            "token.issued",
            "agent",
            Some(agent_id),
            &detail,
        )
        .await?;
        write.commit().await?;
        Ok(true)
    }

    /// Records presence and a heartbeat.
    pub async fn set_presence(
        &self,
        agent_id: &str,
        presence: Presence,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let mut write = self.begin_write().await?;
        sqlx::query(
            "UPDATE agents SET presence = $2, last_seen_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(agent_id)
        .bind(enum_text(&presence))
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        write.commit().await
    }

    /// Audit entries after `after_id`, oldest first.
    pub async fn audit_entries(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, actor_kind, actor_id, action, subject_kind, subject_id, detail, \
             created_at FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    actor_kind: row.try_get("actor_kind")?,
                    actor_id: row.try_get("actor_id")?,
                    action: row.try_get("action")?,
                    subject_kind: row.try_get("subject_kind")?,
                    subject_id: row.try_get("subject_id")?,
                    detail: parse_json(row, "detail")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}

async fn fetch_agent(write: &mut WriteTx<'_>, id: &str) -> Result<AgentRecord, StorageError> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut *write.tx)
        .await?;
    AgentRecord::from_row(&row)
}

async fn insert_token(
    write: &mut WriteTx<'_>,
    agent_id: &str,
    token_hash: &str,
    label: &str,
    now: i64,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO api_tokens (id, agent_id, token_hash, label, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(agent_id)
    .bind(token_hash)
    .bind(label)
    .bind(now)
    .execute(&mut *write.tx)
    .await?;
    Ok(())
}

/// Appends to the audit log inside the caller's transaction, so the change and its record
/// commit together or not at all.
pub(crate) async fn audit(
    write: &mut WriteTx<'_>,
    actor: &Actor,
    action: &str,
    subject_kind: &str,
    subject_id: Option<&str>,
    detail: &Value,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO audit_log (actor_kind, actor_id, action, subject_kind, subject_id, \
         detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(actor.kind)
    .bind(&actor.id)
    .bind(action)
    .bind(subject_kind)
    .bind(subject_id)
    .bind(detail.to_string())
    .bind(now_ms())
    .execute(&mut *write.tx)
    .await?;
    Ok(())
}
