//! Who is calling: customers, agents and supervisors, each with a bearer token.
//!
//! A customer token is made when a conversation starts and opens that one conversation
//! and nothing else. Agent and supervisor tokens are issued by a supervisor or by
//! `frontdesk agents create`. Only the SHA-256 of any token is stored; a token is shown
//! once, when it is made, and must never be logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ApiPath};
use crate::storage::{Actor, AgentRecord, ConversationRecord, Role, now_ms};

/// Prefixes that make tokens recognisable, e.g. to secret scanners.
const TOKEN_PREFIX: &str = "fdc_";
const AGENT_TOKEN_PREFIX: &str = "fda_";

/// Makes a new random customer token.
pub fn new_customer_token() -> String {
    random_token(TOKEN_PREFIX)
}

/// Makes a new random agent or supervisor token.
pub fn new_agent_token() -> String {
    random_token(AGENT_TOKEN_PREFIX)
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so timing reveals nothing of a stored hash.
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A conversation the caller has proved access to.
pub struct CustomerAccess(pub ConversationRecord);

impl FromRequestParts<AppState> for CustomerAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ApiPath(id) = ApiPath::<String>::from_request_parts(parts, state).await?;
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::Unauthorized("a customer token is required (Authorization: Bearer)".into())
        })?;

        let conversation = match uuid::Uuid::parse_str(&id) {
            Ok(_) => state.store.conversation(&id).await?,
            Err(_) => None,
        };
        let conversation = conversation
            .ok_or_else(|| ApiError::NotFound("no conversation with this id".into()))?;
        if !same_hash(&conversation.token_hash, &hash_token(&token)) {
            return Err(ApiError::Unauthorized(
                "the token does not grant access to this conversation".into(),
            ));
        }
        Ok(Self(conversation))
    }
}

/// An authenticated agent or supervisor.
pub struct AgentAuth(pub AgentRecord);

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .filter(|t| t.starts_with(AGENT_TOKEN_PREFIX))
            .ok_or_else(|| {
                ApiError::Unauthorized("an agent token is required (Authorization: Bearer)".into())
            })?;
        let agent = state.store.agent_by_token(&hash_token(&token)).await?;
        let agent = agent.ok_or_else(|| {
            ApiError::Unauthorized("the token is not valid or was revoked".into())
        })?;
        // Any call counts as a heartbeat; recording one per few seconds is enough.
        let stale = agent
            .last_seen_at
            .is_none_or(|seen| now_ms() - seen > HEARTBEAT_EVERY_MS);
        if stale {
            state.store.touch_agent(&agent.id).await?;
        }
        Ok(Self(agent))
    }
}

/// How often an agent's API calls are recorded as heartbeats.
const HEARTBEAT_EVERY_MS: i64 = 5_000;

/// An authenticated supervisor.
pub struct SupervisorAuth(pub AgentRecord);

impl FromRequestParts<AppState> for SupervisorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AgentAuth(agent) = AgentAuth::from_request_parts(parts, state).await?;
        if agent.role != Role::Supervisor {
            return Err(ApiError::Forbidden("only supervisors may do this".into()));
        }
        Ok(Self(agent))
    }
}

/// The token from `Authorization: Bearer …`, or from `access_token` in the query string
/// for clients that cannot set headers (browser WebSocket and EventSource).
fn bearer_token(parts: &Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned());
    from_header.or_else(|| {
        parts.uri.query()?.split('&').find_map(|pair| {
            let value = pair.strip_prefix("access_token=")?;
            Some(value.to_owned())
        })
    })
}

/// A supervisor as the audit log records them.
pub fn supervisor_actor(supervisor: &AgentRecord) -> Actor {
    Actor {
        kind: "supervisor",
        id: Some(supervisor.id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_to_hex() {
        let a = new_customer_token();
        let b = new_customer_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(&a).len(), 64);
        assert!(same_hash(&hash_token(&a), &hash_token(&a)));
        assert!(!same_hash(&hash_token(&a), &hash_token(&b)));
    }
}
