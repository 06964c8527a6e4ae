//! How the bot answers: plain code that takes retrieved passages and returns what to
//! say, with no I/O.
//!
//! Three steps, each its own module:
//! - [`grounding`] decides whether retrieval found something that answers the question
//!   at all, from absolute scores (not the fused ranks, which only order).
//! - [`prompt`] builds the LLM's prompt from a template, with the customer's text and the
//!   passages fenced off as data and cut to a token budget; [`extractive`] writes the
//!   reply when there is no LLM: the best passage, quoted, with its citation.
//! - [`support`] checks an LLM's reply against the passages it was given, finds what it
//!   cites, and refuses replies that leak the prompt or say what no passage says.

pub mod extractive;
pub mod grounding;
pub mod prompt;
pub mod support;

use serde::{Deserialize, Serialize};

pub use extractive::{DECLINE_REPLY, extractive_reply};
pub use grounding::{Grounding, GroundingThresholds, assess};
pub use prompt::{BuiltPrompt, PromptError, PromptInput, PromptTemplates, build_prompt};
pub use support::{SupportCheck, check_support};

/// A passage the bot may use, with what it needs to be cited and explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `article` for the help centre, `history` for the customer's own past messages.
    pub source: String,
    /// The article id, or the past message's id.
    pub id: String,
    pub title: String,
    pub url: String,
    pub heading_path: Vec<String>,
    pub text: String,
    /// Fused retrieval score; orders passages within one retrieval.
    pub score: f64,
    /// Cosine similarity to the question, when a dense encoder ranked it.
    pub dense_similarity: Option<f32>,
}

impl Evidence {
    pub fn is_article(&self) -> bool {
        self.source == "article"
    }
}

/// An article a reply cites, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub article_id: String,
    pub title: String,
    pub url: String,
}

impl Citation {
    pub fn of(evidence: &Evidence) -> Self {
        Self {
            article_id: evidence.id.clone(),
            title: evidence.title.clone(),
            url: evidence.url.clone(),
        }
    }
}

/// Citations of the given passages: articles only, each article once, in order.
pub fn citations<'a>(passages: impl IntoIterator<Item = &'a Evidence>) -> Vec<Citation> {
    let mut out: Vec<Citation> = Vec::new();
    for passage in passages.into_iter().filter(|p| p.is_article()) {
        if !out.iter().any(|c| c.article_id == passage.id) {
            out.push(Citation::of(passage));
        }
    }
    out
}

/// Lowercased words of letters and digits, for overlap measures.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Words that carry meaning: not a function word, and longer than two characters
/// unless they hold a digit ("3d", "24").
pub(crate) fn content_words(text: &str) -> Vec<String> {
    words(text)
        .filter(|w| {
            (w.chars().count() > 2 || w.chars().any(|c| c.is_ascii_digit()))
                && !STOP_WORDS.contains(&w.as_str())
        })
        .map(|w| fold(&w))
        .collect()
}

/// A crude stem so that "cards" meets "card" and "charged" meets "charge".
pub(crate) fn fold(word: &str) -> String {
    let stem = ["ing", "ed", "es", "s"]
        .iter()
        .find_map(|suffix| {
            word.strip_suffix(suffix)
                .filter(|rest| rest.chars().count() >= 3)
        })
        .unwrap_or(word);
    stem.to_owned()
}

/// English function words, plus the words of a question that say nothing of its topic.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "your", "yours", "all", "any", "can", "had",
    "has", "have", "her", "his", "how", "its", "may", "our", "out", "she", "that", "their", "them",
    "then", "there", "these", "they", "this", "those", "was", "were", "what", "when", "where",
    "which", "who", "whom", "why", "will", "with", "would", "could", "should", "from", "into",
    "about", "than", "too", "very", "just", "also", "been", "being", "did", "does", "doing",
    "done", "get", "got", "here", "him", "myself", "one", "own", "same", "some", "such", "only",
    "other", "over", "more", "most", "much", "each", "few", "both", "off", "once", "again",
    "further", "after", "before", "because", "while", "until", "during", "above", "below", "under",
    "between", "through", "please", "thanks", "thank", "hello", "need", "want", "know", "tell",
    "help", "like", "way", "there", "yes", "now", "still", "dont", "don", "cant", "isn", "didn",
    "doesn", "won", "hey", "hi", "ok", "okay", "let", "via", "per",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_words_drop_function_words_and_fold_plurals() {
        assert_eq!(
            content_words("How do I order a new card? My cards were charged twice."),
            vec!["order", "new", "card", "card", "charg", "twice"]
        );
        assert!(content_words("").is_empty());
        assert!(content_words("🙂🙂 ?!").is_empty());
        assert_eq!(content_words("3d secure"), vec!["3d", "secure"]);
    }

    #[test]
    fn citations_list_each_article_once_and_skip_history() {
        let passage = |source: &str, id: &str| Evidence {
            source: source.into(),
            id: id.into(),
            title: format!("T {id}"),
            url: format!("/help/{id}"),
            heading_path: vec![],
            text: String::new(),
            score: 0.0,
            dense_similarity: None,
        };
        let cited = citations(&[
            passage("article", "a"),
            passage("history", "m1"),
            passage("article", "b"),
            passage("article", "a"),
        ]);
        let ids: Vec<_> = cited.iter().map(|c| c.article_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
