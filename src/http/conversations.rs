//! Customer routes: start a conversation, post messages, read the transcript.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, extract::State};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::{CustomerAccess, hash_token, new_customer_token};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::validate::{check_field, is_language_tag, looks_like_email, page_limit, validate_text};
use crate::clients::event_bus::BusEvent;
use crate::pipeline::publish;
use crate::storage::{AcceptedMessage, NewCustomer, NewMessage, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conversations", post(create_conversation))
        .route("/conversations/{id}", get(get_conversation))
        .route(
            "/conversations/{id}/messages",
            post(post_message).get(list_messages),
        )
        .route("/conversations/{id}/typing", post(post_typing))
}

/// Body of `POST /conversations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub customer: CustomerInput,
}

/// The customer as the embedding site knows them; only `external_id` is required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub tier: Option<String>,
    pub attributes: Option<Map<String, Value>>,
}

/// Body of `POST /conversations/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessageBody {
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Return messages with a `seq` greater than this.
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

const DEFAULT_PAGE: i64 = 50;
const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

#[tracing::instrument(skip_all, fields(conversation.id))]
async fn create_conversation(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewConversation>,
) -> Result<Response, ApiError> {
    let customer = validate_customer(body.customer)?;
    let token = new_customer_token();
    let (conversation, event) = state
        .store
        .create_conversation(&customer, &hash_token(&token))
        .await?;
    tracing::Span::current().record("conversation.id", &conversation.id);
    publish(state.bus.as_ref(), &[event]);

    let body = json!({
        "conversation_id": conversation.id,
        "customer_token": token,
        "state": conversation.state,
        "created_at": rfc3339(conversation.created_at),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[tracing::instrument(skip_all, fields(conversation.id = %access.0.id))]
async fn get_conversation(access: CustomerAccess) -> Json<Value> {
    let c = access.0;
    Json(json!({
        "conversation_id": c.id,
        "state": c.state,
        "queue": c.queue,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    }))
}

#[tracing::instrument(skip_all, fields(conversation.id = %access.0.id, message.id))]
async fn post_message(
    State(state): State<AppState>,
    access: CustomerAccess,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewMessageBody>,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    validate_text(&body.text, state.settings.limits.max_message_chars)?;
    let new = NewMessage {
        conversation_id: access.0.id.clone(),
        request_hash: hex_sha256(&body.text),
        text: body.text,
        idempotency_key,
    };

    let (message, replayed) = match state.store.accept_message(&new).await? {
        AcceptedMessage::Created(message, event) => {
            state.metrics.message_accepted();
            publish(state.bus.as_ref(), &[event]);
            state
                .pipeline
                .submit(&message.conversation_id, message.id.clone())
                .await;
            (message, false)
        }
        AcceptedMessage::Replayed(message) => (message, true),
        AcceptedMessage::KeyReused => {
            return Err(ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this idempotency key was already used for a different message".into(),
            });
        }
    };
    tracing::Span::current().record("message.id", &message.id);

    let mut response = (StatusCode::CREATED, Json(message.view())).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[tracing::instrument(skip_all, fields(conversation.id = %access.0.id))]
async fn list_messages(
    State(state): State<AppState>,
    access: CustomerAccess,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page_limit(
        page.limit,
        DEFAULT_PAGE,
        state.settings.limits.max_page_size,
    )?;

    let messages = state
        .store
        .messages(&access.0.id, page.after, limit)
        .await?;
    let next_after = (messages.len() as i64 == limit)
        .then(|| messages.last().map(|m| m.seq))
        .flatten();
    let views: Vec<Value> = messages.iter().map(|m| m.view()).collect();
    Ok(Json(json!({ "messages": views, "next_after": next_after })))
}

#[tracing::instrument(skip_all, fields(conversation.id = %access.0.id))]
async fn post_typing(State(state): State<AppState>, access: CustomerAccess) -> StatusCode {
    state.bus.publish(BusEvent {
        conversation_id: access.0.id,
        seq: None,
        kind: "typing".into(),
        data: json!({ "author": { "kind": "customer" } }),
    });
    StatusCode::NO_CONTENT
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest {
        code: "invalid_idempotency_key",
        message: "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
    };
    let key = value.to_str().map_err(|_| bad())?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > 255 || !visible {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// Rejects empty, oversized and control-character text.
fn validate_customer(input: CustomerInput) -> Result<NewCustomer, ApiError> {
    let external_id = input.external_id.trim().to_owned();
    if external_id.is_empty() || external_id.chars().count() > 200 {
        return Err(ApiError::invalid(
            "invalid_external_id",
            "customer.external_id must have 1 to 200 characters",
        ));
    }
    let fields = [
        ("customer.external_id", Some(&external_id), 200),
        ("customer.name", input.name.as_ref(), 200),
        ("customer.email", input.email.as_ref(), 320),
        ("customer.tier", input.tier.as_ref(), 50),
    ];
    for (name, value, max) in fields {
        check_field(name, value, max)?;
    }
    if let Some(email) = &input.email
        && !looks_like_email(email)
    {
        return Err(ApiError::invalid(
            "invalid_email",
            "customer.email is not an e-mail address",
        ));
    }
    if let Some(language) = &input.language
        && !is_language_tag(language)
    {
        return Err(ApiError::invalid(
            "invalid_language",
            "customer.language must be a language tag such as \"en\" or \"pt-BR\"",
        ));
    }
    let attributes = input.attributes.map(Value::Object);
    if attributes
        .as_ref()
        .is_some_and(|a| a.to_string().len() > MAX_ATTRIBUTES_BYTES)
    {
        return Err(ApiError::invalid(
            "invalid_attributes",
            "customer.attributes is larger than 16 KiB",
        ));
    }

    Ok(NewCustomer {
        external_id,
        name: input.name,
        email: input.email,
        language: input.language.map(|l| l.to_ascii_lowercase()),
        tier: input.tier,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_validation_names_each_problem() {
        let cases = [
            ("hello", 10, None),
            ("  \n ", 10, Some("empty_message")),
            ("", 10, Some("empty_message")),
            ("a\0b", 10, Some("invalid_text")),
            ("bell\u{7}", 10, Some("invalid_text")),
            ("tab\tand\nnewline", 20, None),
            ("ünïcødé 👋", 9, None),
            ("abcdef", 5, Some("message_too_long")),
        ];
        for (text, max, expected) in cases {
            let code = match validate_text(text, max) {
                Ok(()) => None,
                Err(ApiError::Unprocessable { code, .. }) => Some(code),
                Err(other) => panic!("{text:?}: unexpected {other:?}"),
            };
            assert_eq!(code, expected, "case {text:?}");
        }
    }
}
