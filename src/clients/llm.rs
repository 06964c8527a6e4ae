//! Chat completions from any OpenAI-compatible endpoint, streamed.
//!
//! [`ChatModel`] is the seam the answer stage sees; [`OpenAiChat`] is the one back end,
//! through async-openai, which fits OpenAI itself and the local servers that copy its API
//! (llama.cpp, vLLM, Ollama). Retries are not ours to make here: a failed or slow reply
//! falls back to a quoted passage, which is cheaper for the customer than a second wait.
//!
//! Neither prompts nor replies are logged here; they hold the customer's words.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::config::LlmSettings;

/// One request for a reply.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub system: String,
    pub user: String,
    pub max_tokens: u32,
    pub temperature: f32,
}

/// Pieces of the reply as they arrive.
pub type ReplyStream = BoxStream<'static, Result<String, LlmError>>;

/// Why no reply came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the LLM endpoint refused the request: {0}")]
    Refused(String),
    #[error("the LLM reply broke off: {0}")]
    Stream(String),
    #[error("the LLM endpoint sent something unreadable: {0}")]
    Unreadable(String),
}

/// A chat model that streams its reply.
pub trait ChatModel: Send + Sync + 'static {
    /// The model's name, recorded with each reply's evidence.
    fn model(&self) -> &str;

    /// Starts a reply; the stream yields its text piece by piece.
    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ReplyStream, LlmError>>;
}

/// An OpenAI-compatible chat endpoint.
pub struct OpenAiChat {
    client: Client<OpenAIConfig>,
    model: String,
}

impl OpenAiChat {
    /// A client for `settings.base_url`; `None` when no endpoint is configured.
    pub fn from_settings(settings: &LlmSettings) -> Option<Self> {
        let base = settings.base_url.as_deref()?;
        Some(Self {
            client: openai_client(base, settings.api_key.as_ref().map(|k| k.expose())),
            model: settings.model.clone(),
        })
    }
}

/// An async-openai client for `base`, with rustls on ring as its TLS.
pub fn openai_client(base: &str, key: Option<&str>) -> Client<OpenAIConfig> {
    // The process may already have a provider: either way one is in place after this.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = OpenAIConfig::new()
        .with_api_base(base.trim_end_matches('/'))
        .with_api_key(key.unwrap_or(""));
    Client::with_config(config)
}

impl ChatModel for OpenAiChat {
    fn model(&self) -> &str {
        &self.model
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ReplyStream, LlmError>> {
        Box::pin(async move {
            let body = CreateChatCompletionRequest {
                model: self.model.clone(),
                messages: vec![
                    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(
                        request.system.as_str(),
                    )),
                    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(
                        request.user.as_str(),
                    )),
                ],
                // The older field: servers that copy the API (llama.cpp, vLLM) read it,
                // and OpenAI still accepts it for chat models.
                #[allow(deprecated)]
                max_tokens: Some(request.max_tokens),
                temperature: Some(request.temperature),
                ..Default::default()
            };
            let stream = self
                .client
                .chat()
                .create_stream(body)
                .await
                .map_err(from_openai)?;
            let pieces = stream.filter_map(|item| async move {
                match item {
                    Ok(chunk) => {
                        let text: String = chunk
                            .choices
                            .into_iter()
                            .filter_map(|choice| choice.delta.content)
                            .collect();
                        (!text.is_empty()).then_some(Ok(text))
                    }
                    Err(error) => Some(Err(from_openai(error))),
                }
            });
            Ok(pieces.boxed())
        })
    }
}

/// Sorts async-openai's errors by what the caller can do about them. Messages carry
/// the endpoint's words, never the request.
pub(crate) fn from_openai(error: OpenAIError) -> LlmError {
    match error {
        OpenAIError::Reqwest(e) if e.is_connect() || e.is_timeout() => {
            LlmError::Unreachable(e.to_string())
        }
        OpenAIError::Reqwest(e) => LlmError::Refused(e.to_string()),
        OpenAIError::ApiError(e) => LlmError::Refused(e.to_string()),
        OpenAIError::JSONDeserialize(e, _) => LlmError::Unreadable(e.to_string()),
        OpenAIError::StreamError(e) => LlmError::Stream(e.to_string()),
        other => LlmError::Refused(other.to_string()),
    }
}
