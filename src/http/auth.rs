//! Customer access: a bearer token, made when a conversation starts, that opens that one
//! conversation and nothing else.
//!
//! Only the SHA-256 of a token is stored; the token itself is shown once, to the client
//! that started the conversation, and must never be logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ApiPath};
use crate::storage::ConversationRecord;

/// Prefix that makes customer tokens recognisable, e.g. to secret scanners.
const TOKEN_PREFIX: &str = "fdc_";

/// Makes a new random customer token.
pub fn new_customer_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
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
