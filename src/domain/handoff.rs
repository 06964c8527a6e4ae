//! The handoff packet: everything an agent needs to pick a conversation up without
//! asking the customer to repeat themselves.
//!
//! Built from the transcript with its stored triage, the customer's profile and the
//! routing decision, by extraction only: every sentence in the summary is either a
//! quotation of the customer (with personal data masked) or a statement of a stored
//! fact. It must never carry unmasked card numbers, e-mail addresses or other personal
//! data found by triage, and never invent what the customer said.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::conversation::AuthorKind;
use super::triage::{SentimentLabel, Triage, UrgencyLevel, redact};

/// Longest quotation taken from one customer message, in characters.
const QUOTE_CHARS: usize = 240;
/// Customer messages quoted in the summary at most.
const KEY_MESSAGES: usize = 3;

/// One message of the transcript, as the packet builder reads it.
#[derive(Debug, Clone)]
pub struct TranscriptEntry {
    pub author: AuthorKind,
    pub text: String,
    /// Stored triage, for customer messages that have it.
    pub triage: Option<Triage>,
    /// Articles a bot reply cited, by id and title.
    pub citations: Vec<(String, String)>,
}

/// What is known of the customer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CustomerProfile {
    pub name: Option<String>,
    pub tier: Option<String>,
    pub language: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    /// Earlier conversations of this customer.
    pub past_conversations: i64,
    /// The main intent of each recent earlier conversation, newest first.
    pub recent_topics: Vec<String>,
}

/// Why the conversation is with a person, as routing recorded it.
#[derive(Debug, Clone, Default)]
pub struct HandoffContext {
    pub reason: Option<String>,
    pub queue: Option<String>,
    pub rule: Option<String>,
}

/// The packet an agent reads first.
#[derive(Debug, Clone, Serialize)]
pub struct HandoffPacket {
    /// A few sentences: what the customer wants, how they feel, key quotations.
    pub summary: String,
    /// How the summary was made: `extractive` here.
    pub summary_method: &'static str,
    pub reason: Option<String>,
    pub queue: Option<String>,
    pub rule: Option<String>,
    /// The main intent across the conversation.
    pub main_intent: Option<String>,
    /// Intent of each customer message, oldest first.
    pub intent_trend: Vec<TrendPoint>,
    /// Sentiment score (-1 to 1) of each customer message, oldest first.
    pub sentiment_trend: Vec<f32>,
    /// Whether sentiment is improving, steady or worsening.
    pub sentiment_direction: &'static str,
    pub urgency: Option<UrgencyLevel>,
    /// Why urgency was raised, without repeats.
    pub urgency_reasons: Vec<String>,
    /// Kinds of personal data the customer shared (masked everywhere in the packet).
    pub personal_data_shared: Vec<String>,
    /// What the bot said or tried, and which articles it cited.
    pub bot_attempts: Vec<BotAttempt>,
    pub customer: CustomerProfile,
    pub next_best_action: String,
    pub suggested_reply: String,
}

/// The intent of one customer message.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    pub intent: String,
    pub confidence: f32,
    pub out_of_scope: bool,
}

/// One reply of the bot.
#[derive(Debug, Clone, Serialize)]
pub struct BotAttempt {
    pub text: String,
    pub citations: Vec<Citation>,
}

/// An article a bot reply cited.
#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub id: String,
    pub title: String,
}

/// Builds the packet for a conversation.
pub fn build_packet(
    transcript: &[TranscriptEntry],
    customer: CustomerProfile,
    handoff: HandoffContext,
) -> HandoffPacket {
    let customer_messages: Vec<(&str, Option<&Triage>)> = transcript
        .iter()
        .filter(|e| e.author == AuthorKind::Customer)
        .map(|e| (e.text.as_str(), e.triage.as_ref()))
        .collect();
    let triaged: Vec<&Triage> = customer_messages.iter().filter_map(|(_, t)| *t).collect();

    let intent_trend: Vec<TrendPoint> = triaged
        .iter()
        .map(|t| TrendPoint {
            intent: t.intent.label.clone(),
            confidence: t.intent.confidence,
            out_of_scope: t.intent.out_of_scope,
        })
        .collect();
    let main_intent = main_intent(&triaged);
    let sentiment_trend: Vec<f32> = triaged.iter().map(|t| t.sentiment.score).collect();
    let sentiment_direction = direction(&sentiment_trend);
    let urgency = triaged.iter().map(|t| t.urgency.level).max();
    let mut urgency_reasons: Vec<String> = Vec::new();
    for reason in triaged.iter().flat_map(|t| &t.urgency.reasons) {
        if !urgency_reasons.contains(reason) {
            urgency_reasons.push(reason.clone());
        }
    }
    let mut personal_data_shared: Vec<String> = triaged
        .iter()
        .flat_map(|t| &t.pii)
        .filter_map(|span| serde_json::to_value(span.kind).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    personal_data_shared.sort();
    personal_data_shared.dedup();

    let bot_attempts = transcript
        .iter()
        .filter(|e| e.author == AuthorKind::Bot)
        .map(|e| BotAttempt {
            text: e.text.clone(),
            citations: (e.citations.iter())
                .map(|(id, title)| Citation {
                    id: id.clone(),
                    title: title.clone(),
                })
                .collect(),
        })
        .collect::<Vec<_>>();

    let quotes = key_quotes(&customer_messages);
    let worst = triaged
        .iter()
        .map(|t| t.sentiment.label)
        .min_by_key(|l| sentiment_rank(*l));
    let summary = summarise(
        customer_messages.len(),
        main_intent.as_deref(),
        worst,
        sentiment_direction,
        &urgency_reasons,
        &quotes,
        bot_attempts.len(),
    );
    let next_best_action = next_best_action(main_intent.as_deref(), urgency, &handoff);
    let suggested_reply = suggested_reply(
        customer.name.as_deref(),
        main_intent.as_deref(),
        worst,
        urgency,
    );
    HandoffPacket {
        summary,
        summary_method: "extractive",
        reason: handoff.reason,
        queue: handoff.queue,
        rule: handoff.rule,
        main_intent,
        intent_trend,
        sentiment_trend,
        sentiment_direction,
        urgency,
        urgency_reasons,
        personal_data_shared,
        bot_attempts,
        customer,
        next_best_action,
        suggested_reply,
    }
}

/// The in-scope intent seen most often, weighted by confidence; the latest wins ties.
fn main_intent(triaged: &[&Triage]) -> Option<String> {
    let mut weight: BTreeMap<&str, (f32, usize)> = BTreeMap::new();
    for (position, triage) in triaged.iter().enumerate() {
        if triage.intent.out_of_scope || is_small_talk(&triage.intent.label) {
            continue;
        }
        let entry = weight.entry(&triage.intent.label).or_insert((0.0, 0));
        entry.0 += triage.intent.confidence;
        entry.1 = position;
    }
    weight
        .into_iter()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0).then(a.1.1.cmp(&b.1.1)))
        .map(|(label, _)| label.to_owned())
}

fn is_small_talk(label: &str) -> bool {
    matches!(label, "greeting" | "thanks" | "goodbye" | "talk_to_human")
}

fn sentiment_rank(label: SentimentLabel) -> u8 {
    match label {
        SentimentLabel::Negative => 0,
        SentimentLabel::Neutral => 1,
        SentimentLabel::Positive => 2,
    }
}

/// Compares the mean of the later half of the scores with the earlier half.
fn direction(scores: &[f32]) -> &'static str {
    if scores.len() < 2 {
        return "steady";
    }
    let half = scores.len() / 2;
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let change = mean(&scores[half..]) - mean(&scores[..half]);
    if change <= -0.2 {
        "worsening"
    } else if change >= 0.2 {
        "improving"
    } else {
        "steady"
    }
}

/// Up to three customer messages worth quoting, in the order they were written: the
/// first, the most negative and the most confidently classified, masked and shortened.
fn key_quotes(messages: &[(&str, Option<&Triage>)]) -> Vec<String> {
    let mut picked: Vec<usize> = Vec::new();
    let mut pick = |index: Option<usize>| {
        if let Some(index) = index
            && !picked.contains(&index)
            && picked.len() < KEY_MESSAGES
        {
            picked.push(index);
        }
    };
    let informative =
        |(_, (text, _)): &(usize, &(&str, Option<&Triage>))| text.split_whitespace().count() >= 3;
    pick(
        messages
            .iter()
            .enumerate()
            .find(informative)
            .map(|(i, _)| i),
    );
    let scored = || {
        messages
            .iter()
            .enumerate()
            .filter(informative)
            .filter_map(|(i, (_, t))| t.map(|t| (i, t)))
    };
    pick(
        scored()
            .min_by(|a, b| a.1.sentiment.score.total_cmp(&b.1.sentiment.score))
            .map(|(i, _)| i),
    );
    pick(
        scored()
            .max_by(|a, b| a.1.intent.confidence.total_cmp(&b.1.intent.confidence))
            .map(|(i, _)| i),
    );
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|i| {
            let (text, triage) = messages[i];
            let masked = match triage {
                Some(t) => redact(text, &t.pii),
                None => text.to_owned(),
            };
            shorten(masked.trim(), QUOTE_CHARS)
        })
        .collect()
}

fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text.chars().take(limit).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

/// An intent label as words: `lost_or_stolen_card` becomes "lost or stolen card".
pub fn intent_words(label: &str) -> String {
    label.replace('_', " ")
}

fn summarise(
    messages: usize,
    intent: Option<&str>,
    worst: Option<SentimentLabel>,
    direction: &str,
    urgency_reasons: &[String],
    quotes: &[String],
    bot_replies: usize,
) -> String {
    let mut parts = Vec::new();
    let topic = intent.map_or_else(|| "no clear topic".to_owned(), intent_words);
    parts.push(format!(
        "The customer wrote {messages} message{} about {topic}.",
        if messages == 1 { "" } else { "s" }
    ));
    match worst {
        Some(SentimentLabel::Negative) => parts.push(format!(
            "They are unhappy; sentiment is {direction} over the conversation."
        )),
        Some(_) if direction != "steady" => parts.push(format!("Sentiment is {direction}.")),
        _ => {}
    }
    if !urgency_reasons.is_empty() {
        parts.push(format!("Urgent because: {}.", urgency_reasons.join("; ")));
    }
    if bot_replies > 0 {
        parts.push(format!(
            "The bot replied {bot_replies} time{} before the handoff.",
            if bot_replies == 1 { "" } else { "s" }
        ));
    }
    for quote in quotes {
        parts.push(format!("They wrote: \u{201c}{quote}\u{201d}"));
    }
    parts.join(" ")
}

/// What the agent should most likely do first, by the kind of problem.
fn next_best_action(
    intent: Option<&str>,
    urgency: Option<UrgencyLevel>,
    handoff: &HandoffContext,
) -> String {
    let intent = intent.unwrap_or_default();
    let action = if intent.contains("stolen")
        || intent.contains("compromised")
        || intent.contains("not_recognised")
        || intent == "card_swallowed"
    {
        "Verify the customer's identity, block the affected card at once, then review recent \
         transactions with them and order a replacement."
    } else if intent.contains("refund") || intent.contains("dispute") || intent == "complaint" {
        "Acknowledge the problem, confirm the transaction or event in question, and explain \
         the dispute or complaint process with its time frame."
    } else if intent.contains("transfer") || intent.contains("top_up") {
        "Look up the transfer or top-up in question, confirm its status and tell the customer \
         when the money will arrive or be returned."
    } else if intent.contains("identity") || intent.contains("verify") {
        "Check where the identity verification stands and tell the customer exactly which \
         document or step is missing."
    } else if intent.contains("card") {
        "Look up the customer's card and its recent activity, then resolve the card issue \
         they describe."
    } else {
        "Read the key messages above, confirm what the customer needs in one question, and \
         resolve it or route it to the right team."
    };
    match urgency {
        Some(UrgencyLevel::Critical) => format!("Act now. {action}"),
        _ if handoff.reason.as_deref() == Some("customer asked for a person") => {
            format!("The customer asked for a person: introduce yourself first. {action}")
        }
        _ => action.to_owned(),
    }
}

/// A first reply the agent may send as is or edit.
fn suggested_reply(
    name: Option<&str>,
    intent: Option<&str>,
    worst: Option<SentimentLabel>,
    urgency: Option<UrgencyLevel>,
) -> String {
    let greeting = match name.and_then(|n| n.split_whitespace().next()) {
        Some(first) => format!("Hi {first},"),
        None => "Hi,".to_owned(),
    };
    let empathy = match worst {
        Some(SentimentLabel::Negative) => " I'm sorry for the trouble this has caused.",
        _ => "",
    };
    let topic = intent
        .filter(|i| !is_small_talk(i))
        .map(|i| format!(" I've read your messages about your {}.", intent_words(i)))
        .unwrap_or_else(|| " I've read your messages.".to_owned());
    let pace = match urgency {
        Some(UrgencyLevel::Critical | UrgencyLevel::High) => {
            " I'm on it right now and will keep you updated as I go."
        }
        _ => " I'll take it from here.",
    };
    format!("{greeting} thanks for waiting.{empathy}{topic}{pace}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::triage::{TriageContext, Triager};
    use std::sync::OnceLock;

    fn triager() -> &'static Triager {
        static MODEL: OnceLock<Triager> = OnceLock::new();
        MODEL.get_or_init(|| Triager::default_model().expect("the shipped model trains"))
    }

    fn customer(text: &str) -> TranscriptEntry {
        TranscriptEntry {
            author: AuthorKind::Customer,
            text: text.into(),
            triage: Some(triager().triage(text, &TriageContext::default())),
            citations: Vec::new(),
        }
    }

    fn packet(texts: &[&str]) -> HandoffPacket {
        let transcript: Vec<_> = texts.iter().map(|t| customer(t)).collect();
        let profile = CustomerProfile {
            name: Some("Ada Lovelace".into()),
            ..CustomerProfile::default()
        };
        build_packet(&transcript, profile, HandoffContext::default())
    }

    #[test]
    fn a_stolen_card_packet_says_what_and_what_to_do() {
        let packet = packet(&["Hello", "My card was stolen, block it now!"]);
        assert_eq!(packet.main_intent.as_deref(), Some("lost_or_stolen_card"));
        assert!(
            packet.summary.contains("lost or stolen card"),
            "{}",
            packet.summary
        );
        assert!(
            packet.summary.contains("My card was stolen"),
            "{}",
            packet.summary
        );
        assert!(packet.next_best_action.contains("block"));
        assert!(packet.suggested_reply.starts_with("Hi Ada,"));
        assert_eq!(packet.intent_trend.len(), 2);
    }

    #[test]
    fn personal_data_is_masked_in_quotes() {
        let packet =
            packet(&["my card 4111 1111 1111 1111 was charged twice, mail me at ada@example.com"]);
        assert!(!packet.summary.contains("4111 1111"), "{}", packet.summary);
        assert!(
            !packet.summary.contains("ada@example.com"),
            "{}",
            packet.summary
        );
        assert!(
            packet.personal_data_shared.len() >= 2,
            "{:?}",
            packet.personal_data_shared
        );
    }

    #[test]
    fn hostile_and_empty_transcripts_still_give_a_packet() {
        let long = "a".repeat(10_000);
        for texts in [vec![], vec![""], vec!["🙂🙂🙂"], vec![long.as_str()]] {
            let packet = packet(&texts);
            assert!(packet.summary.chars().count() < 2_000);
            assert!(!packet.suggested_reply.is_empty());
        }
    }

    #[test]
    fn sentiment_direction_follows_the_scores() {
        let cases: [(&[f32], &str); 4] = [
            (&[], "steady"),
            (&[0.5, 0.4], "steady"),
            (&[0.5, -0.5], "worsening"),
            (&[-0.6, -0.5, 0.2, 0.4], "improving"),
        ];
        for (scores, expected) in cases {
            assert_eq!(direction(scores), expected, "{scores:?}");
        }
    }

    #[test]
    fn long_quotes_are_cut_at_a_word() {
        let text = "word ".repeat(100);
        let short = shorten(text.trim(), 30);
        assert!(
            short.ends_with('…') && short.chars().count() <= 31,
            "{short}"
        );
    }
}
