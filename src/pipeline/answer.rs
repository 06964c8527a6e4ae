//! The answer stage: retrieves passages, asks the grounding gate, writes the reply
//! (through the LLM when one is configured, by quoting otherwise), checks it, stores it
//! with its evidence and streams it to the customer.
//!
//! The decisions are `domain::answer`'s; this module only fetches, sends and stores.
//! Live pieces of an LLM reply go out as `reply.delta` events with no `seq` (they are
//! not stored); the finished reply is stored as a bot message whose id the pieces
//! carried, so a client replaces its streamed bubble with the stored message. A reply
//! that fails the support check is withdrawn with `reply.retracted`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Current, PipelineError, Stages, publish};
use crate::clients::event_bus::{BusEvent, StaffNotice};
use crate::clients::llm::{ChatModel, ChatRequest, LlmError};
use crate::clients::vector_store::Filter;
use crate::domain::answer::prompt::language_name;
use crate::domain::answer::{
    BuiltPrompt, Evidence, GroundingThresholds, PromptInput, PromptTemplates, SupportCheck, assess,
    build_prompt, check_support, citations, content_words, extractive_reply,
};
use crate::domain::triage::{Triage, redact};
use crate::knowledge::service::Knowledge;
use crate::knowledge::{HistoryEntry, Passage};
use crate::storage::{MessageRecord, NewBotReply, new_reply_id};

/// How the bot answers, from settings.
#[derive(Debug, Clone)]
pub struct AnswerSettings {
    pub passages: usize,
    /// Past messages of the customer added to the prompt.
    pub history_passages: usize,
    pub thresholds: GroundingThresholds,
    pub max_tokens: u32,
    pub temperature: f32,
    pub prompt_budget_tokens: usize,
    pub timeout: Duration,
}

/// What the answer stage uses.
pub struct Answerer {
    pub knowledge: Arc<Knowledge>,
    pub llm: Option<Arc<dyn ChatModel>>,
    pub prompts: Current<PromptTemplates>,
    pub settings: AnswerSettings,
}

/// The customer's conversation and who they are.
pub(super) struct Asker<'a> {
    pub message: &'a MessageRecord,
    pub triage: &'a Triage,
    pub customer_id: &'a str,
}

/// What one reply was, for storage.
struct Reply {
    text: String,
    outcome: &'static str,
    mode: &'static str,
    citations: Value,
}

/// Answers one customer message and stores the reply.
pub(super) async fn respond(stages: &Stages, asker: &Asker<'_>) -> Result<(), PipelineError> {
    let answerer = &stages.answers;
    let started = Instant::now();
    let message = asker.message;
    let language = match asker.triage.language.code.as_str() {
        "und" => "en",
        code => code,
    };
    let templates = answerer.prompts.get();
    let replies = templates.replies(language);
    let reply_id = new_reply_id();

    if let Some(canned) = small_talk(asker.triage, &message.text, replies) {
        let reply = Reply {
            text: canned,
            outcome: "small_talk",
            mode: "canned",
            citations: json!([]),
        };
        let evidence = json!({
            "intent": asker.triage.intent.label,
            "prompt_version": templates.version,
            "latency_ms": started.elapsed().as_millis() as u64,
        });
        return store_reply(stages, asker, &reply_id, reply, evidence).await;
    }

    let question = redact(&message.text, &asker.triage.pii);
    let retrieval_started = Instant::now();
    let (articles, history) = retrieve(answerer, &question, asker.customer_id).await;
    let retrieval_ms = retrieval_started.elapsed().as_millis() as u64;
    let grounding = assess(&question, &articles, &answerer.settings.thresholds);

    let mut evidence = json!({
        "retrieval": answerer.knowledge.mode,
        "encoder": answerer.knowledge.encoder_model,
        "passages": articles,
        "history": history,
        "grounding": grounding,
        "prompt_version": templates.version,
        "language": language,
    });

    let reply = if !grounding.confident {
        Reply {
            text: replies.decline.clone(),
            outcome: "declined",
            mode: "canned",
            citations: json!([]),
        }
    } else if let Some(llm) = &answerer.llm {
        let mut passages = articles.clone();
        passages.extend(history.iter().cloned());
        let prompt = build_prompt(
            &templates,
            &PromptInput {
                question: &question,
                language: language_name(language),
                passages: &passages,
            },
            answerer.knowledge.counter.as_ref(),
            answerer.settings.prompt_budget_tokens,
        );
        let used: Vec<Evidence> = prompt.used.iter().map(|&i| passages[i].clone()).collect();
        let generation_started = Instant::now();
        let outcome = generate(stages, llm.as_ref(), &prompt, &reply_id, message).await;
        let generation_ms = generation_started.elapsed().as_millis() as u64;
        evidence["model"] = json!(llm.model());
        evidence["prompt_tokens"] = json!(prompt.tokens);
        evidence["prompt_passages"] = json!(used.iter().map(|p| &p.id).collect::<Vec<_>>());
        evidence["generation_ms"] = json!(generation_ms);
        match outcome {
            Ok(text) => {
                let check = check_support(&text, &used, &templates.instruction_text());
                evidence["completion_tokens"] = json!(answerer.knowledge.counter.count(&text));
                evidence["support"] = json!(check);
                if !check.supported {
                    // Kept for the explanation only; the customer never sees it.
                    evidence["rejected_reply"] = json!(text);
                }
                llm_reply(stages, message, &reply_id, text, &check, &used, replies)
            }
            Err(error) => {
                // No reply came: quote the passage instead, which needs no model.
                tracing::warn!(error = %error, "the LLM gave no reply; quoting the best passage");
                evidence["llm_error"] = json!(error.to_string());
                retract(
                    stages,
                    message,
                    &reply_id,
                    "the language model did not reply",
                );
                extractive(&articles, &grounding, replies)
            }
        }
    } else {
        extractive(&articles, &grounding, replies)
    };
    evidence["retrieval_ms"] = json!(retrieval_ms);
    evidence["latency_ms"] = json!(started.elapsed().as_millis() as u64);
    store_reply(stages, asker, &reply_id, reply, evidence).await
}

/// The canned reply to a bare greeting, thanks or goodbye.
fn small_talk(
    triage: &Triage,
    text: &str,
    replies: &crate::domain::answer::prompt::Replies,
) -> Option<String> {
    let intent = &triage.intent;
    if intent.out_of_scope || intent.confidence < 0.5 || content_words(text).len() > 3 {
        return None;
    }
    match intent.label.as_str() {
        "greeting" => Some(replies.greeting.clone()),
        "thanks" => Some(replies.thanks.clone()),
        "goodbye" => Some(replies.goodbye.clone()),
        _ => None,
    }
}

/// Help-centre passages and this customer's own past messages. A failing store is
/// logged and treated as finding nothing, so the customer still gets a reply.
async fn retrieve(
    answerer: &Answerer,
    question: &str,
    customer_id: &str,
) -> (Vec<Evidence>, Vec<Evidence>) {
    let knowledge = &answerer.knowledge;
    let articles = knowledge
        .articles
        .retrieve(question, Filter::default(), answerer.settings.passages)
        .await;
    // The filter on the customer's id is what keeps one customer's history from
    // another: it is applied by the store, before any ranking.
    let mine = Filter::default().and("customer_id", customer_id);
    let history = knowledge
        .history
        .retrieve(question, mine, answerer.settings.history_passages)
        .await;
    let evidence = |result: Result<Vec<Passage>, _>, what: &str| match result {
        Ok(passages) => passages.into_iter().map(Passage::into_evidence).collect(),
        Err(error) => {
            tracing::error!(error = %error, "could not search {what}");
            Vec::new()
        }
    };
    (
        evidence(articles, "the help centre"),
        evidence(history, "the customer's history"),
    )
}

/// Streams the model's reply to the customer as it comes; the whole text at the end.
async fn generate(
    stages: &Stages,
    llm: &dyn ChatModel,
    prompt: &BuiltPrompt,
    reply_id: &str,
    message: &MessageRecord,
) -> Result<String, LlmError> {
    let settings = &stages.answers.settings;
    let request = ChatRequest {
        system: prompt.system.clone(),
        user: prompt.user.clone(),
        max_tokens: settings.max_tokens,
        temperature: settings.temperature,
    };
    let run = async {
        let mut stream = llm.stream(request).await?;
        let mut text = String::new();
        while let Some(piece) = stream.next().await {
            let piece = piece?;
            if text.is_empty() {
                live(
                    stages,
                    message,
                    "reply.started",
                    json!({ "reply_id": reply_id }),
                );
            }
            text.push_str(&piece);
            live(
                stages,
                message,
                "reply.delta",
                json!({ "reply_id": reply_id, "text": piece }),
            );
        }
        Ok(text)
    };
    match tokio::time::timeout(settings.timeout, run).await {
        Ok(result) => result,
        Err(_) => Err(LlmError::Unreachable(format!(
            "no complete reply within {} s",
            settings.timeout.as_secs()
        ))),
    }
}

/// The stored form of a model's reply, or the decline when it failed the check.
fn llm_reply(
    stages: &Stages,
    message: &MessageRecord,
    reply_id: &str,
    text: String,
    check: &SupportCheck,
    used: &[Evidence],
    replies: &crate::domain::answer::prompt::Replies,
) -> Reply {
    if !check.supported {
        tracing::info!(
            problems = check.problems.len(),
            "an LLM reply failed the support check"
        );
        retract(
            stages,
            message,
            reply_id,
            "the reply was not supported by the help centre",
        );
        return Reply {
            text: replies.decline.clone(),
            outcome: "declined",
            mode: "canned",
            citations: json!([]),
        };
    }
    let cited = citations(check.cited.iter().map(|&i| &used[i]));
    Reply {
        text: text.trim().to_owned(),
        outcome: "answered",
        mode: "llm",
        citations: json!(cited),
    }
}

fn extractive(
    articles: &[Evidence],
    grounding: &crate::domain::answer::Grounding,
    replies: &crate::domain::answer::prompt::Replies,
) -> Reply {
    let best = grounding.best.and_then(|i| articles.get(i));
    match best {
        Some(best) => {
            let (text, cited) = extractive_reply(best, replies);
            Reply {
                text,
                outcome: "answered",
                mode: "extractive",
                citations: json!(cited),
            }
        }
        None => Reply {
            text: replies.decline.clone(),
            outcome: "declined",
            mode: "canned",
            citations: json!([]),
        },
    }
}

async fn store_reply(
    stages: &Stages,
    asker: &Asker<'_>,
    reply_id: &str,
    reply: Reply,
    evidence: Value,
) -> Result<(), PipelineError> {
    let (_, event) = stages
        .store
        .save_bot_reply(&NewBotReply {
            id: reply_id,
            conversation_id: &asker.message.conversation_id,
            answers_message_id: &asker.message.id,
            text: &reply.text,
            outcome: reply.outcome,
            mode: reply.mode,
            citations: &reply.citations,
            evidence: &evidence,
        })
        .await?;
    stages.metrics.count_bot_reply(reply.outcome, reply.mode);
    publish(stages.bus.as_ref(), &[event]);
    Ok(())
}

/// Withdraws the live pieces of a reply.
fn retract(stages: &Stages, message: &MessageRecord, reply_id: &str, reason: &str) {
    live(
        stages,
        message,
        "reply.retracted",
        json!({ "reply_id": reply_id, "reason": reason }),
    );
}

/// A live, unstored event of the conversation.
fn live(stages: &Stages, message: &MessageRecord, kind: &str, data: Value) {
    let event = BusEvent {
        conversation_id: message.conversation_id.clone(),
        seq: None,
        kind: kind.to_owned(),
        data,
    };
    stages.bus.publish_staff(StaffNotice {
        agent_id: None,
        event: event.clone(),
    });
    stages.bus.publish(event);
}

/// Adds the message, personal data redacted, to the customer's history. A failure
/// costs only a little recall later, so it is logged and the reply stands.
pub(super) async fn remember(knowledge: &Knowledge, asker: &Asker<'_>) {
    let redacted = redact(&asker.message.text, &asker.triage.pii);
    let entry = HistoryEntry {
        message_id: asker.message.id.clone(),
        customer_id: asker.customer_id.to_owned(),
        conversation_id: asker.message.conversation_id.clone(),
        text: redacted,
        created_at: asker.message.created_at,
    };
    if let Err(error) = knowledge.history.index_history(&[entry]).await {
        tracing::error!(error = %error, "could not add the message to the customer's history");
    }
}
