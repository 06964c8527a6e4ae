//! Frustration across a conversation: repeated questions, shouting, swearing, exasperated
//! wording and a sentiment trend that keeps getting worse.
//!
//! Reads only the current message and the context the caller passes in; it must never keep
//! state of its own between calls.

use std::collections::BTreeSet;

use super::sentiment::Lexicon;
use super::{Frustration, FrustrationSignal, Sentiment, SentimentLabel, TriageContext};

const PROFANITY: &str = include_str!("../../../triage/frustration/profanity.txt");

/// Phrases customers use when they have asked before or run out of patience.
const EXASPERATED: [&str; 20] = [
    "again",
    "still",
    "already told",
    "already asked",
    "how many times",
    "second time",
    "third time",
    "every time",
    "for the last time",
    "ridiculous",
    "unacceptable",
    "fed up",
    "sick of",
    "waste of time",
    "no one is",
    "nobody is",
    "keep asking",
    "seriously",
    "useless",
    "absurd",
];

/// Word-set overlap at or above which a message repeats an earlier one.
const REPEAT_OVERLAP: f32 = 0.6;
/// How many earlier messages are compared and trended.
const LOOK_BACK: usize = 5;

/// Share of letters that are capitals; 0 for text with fewer than six letters.
pub(crate) fn caps_ratio(text: &str) -> f32 {
    let (mut letters, mut upper) = (0_usize, 0_usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        upper += usize::from(c.is_uppercase());
    }
    if letters < 6 {
        0.0
    } else {
        upper as f32 / letters as f32
    }
}

/// Frustration of the current message given its sentiment and the conversation so far.
pub(crate) fn assess(
    text: &str,
    sentiment: &Sentiment,
    ctx: &TriageContext,
    lexicon: &Lexicon,
) -> Frustration {
    let lower = text.to_lowercase();
    let checks = [
        (
            FrustrationSignal::RepeatedQuestion,
            repeats_earlier(&lower, ctx),
            0.35,
        ),
        (FrustrationSignal::AllCaps, caps_ratio(text) >= 0.7, 0.25),
        (FrustrationSignal::Profanity, has_profanity(&lower), 0.35),
        (
            FrustrationSignal::NegativeTrend,
            negative_trend(sentiment, ctx, lexicon),
            0.3,
        ),
        (
            FrustrationSignal::Exclamations,
            shouty_punctuation(text),
            0.1,
        ),
        (
            FrustrationSignal::ExasperatedWording,
            exasperated(&lower),
            0.2,
        ),
    ];
    let mut score = (-sentiment.score).max(0.0) * 0.3;
    let mut signals = Vec::new();
    for (signal, fired, weight) in checks {
        if fired {
            signals.push(signal);
            score += weight;
        }
    }
    Frustration {
        score: score.min(1.0),
        signals,
    }
}

fn word_set(lower: &str) -> BTreeSet<&str> {
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .collect()
}

fn repeats_earlier(lower: &str, ctx: &TriageContext) -> bool {
    let now = word_set(lower);
    if now.len() < 3 {
        return false;
    }
    ctx.previous_messages
        .iter()
        .rev()
        .take(LOOK_BACK)
        .any(|earlier| {
            let earlier = earlier.to_lowercase();
            let then = word_set(&earlier);
            let shared = now.intersection(&then).count() as f32;
            let union = now.union(&then).count().max(1) as f32;
            shared / union >= REPEAT_OVERLAP
        })
}

fn has_profanity(lower: &str) -> bool {
    let words = word_set(lower);
    PROFANITY
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .any(|p| words.contains(p))
}

fn shouty_punctuation(text: &str) -> bool {
    text.contains("!!") || text.contains("?!") || text.contains("!?")
}

fn exasperated(lower: &str) -> bool {
    EXASPERATED.iter().any(|p| phrase_in(lower, p))
}

/// Phrase match on word edges, so "still" does not fire inside "distillery".
pub(crate) fn phrase_in(haystack: &str, phrase: &str) -> bool {
    haystack.match_indices(phrase).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The current message is negative and so were most recent ones, or scores keep falling.
fn negative_trend(now: &Sentiment, ctx: &TriageContext, lexicon: &Lexicon) -> bool {
    if now.label != SentimentLabel::Negative {
        return false;
    }
    let earlier = earlier_scores(ctx, lexicon);
    let recent: Vec<f32> = earlier.iter().rev().take(2).copied().collect();
    if recent.is_empty() {
        return false;
    }
    let negative = recent.iter().filter(|s| **s < -0.2).count();
    let falling = recent.len() == 2 && now.score < recent[0] && recent[0] < recent[1];
    negative == recent.len() || falling
}

/// Sentiment scores of earlier messages, oldest first, from stored triage when available.
fn earlier_scores(ctx: &TriageContext, lexicon: &Lexicon) -> Vec<f32> {
    if !ctx.previous_triage.is_empty() {
        return ctx
            .previous_triage
            .iter()
            .map(|t| t.sentiment.score)
            .collect();
    }
    let skip = ctx.previous_messages.len().saturating_sub(LOOK_BACK);
    ctx.previous_messages[skip..]
        .iter()
        .map(|m| lexicon.score(m).0.score)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assess_text(text: &str, ctx: &TriageContext) -> Frustration {
        let lexicon = Lexicon::shipped();
        let sentiment = lexicon.score(text).0;
        assess(text, &sentiment, ctx, &lexicon)
    }

    #[test]
    fn each_signal_fires_on_its_own_cue() {
        let repeat_ctx = TriageContext {
            previous_messages: vec!["where is my new card, it has not arrived".into()],
            ..TriageContext::default()
        };
        let trend_ctx = TriageContext {
            previous_messages: vec!["this is bad".into(), "this is terrible".into()],
            ..TriageContext::default()
        };
        let cases = [
            (
                "WHY IS MY CARD NOT WORKING",
                TriageContext::default(),
                FrustrationSignal::AllCaps,
            ),
            (
                "this is shit",
                TriageContext::default(),
                FrustrationSignal::Profanity,
            ),
            (
                "where is my new card? it has not arrived",
                repeat_ctx,
                FrustrationSignal::RepeatedQuestion,
            ),
            (
                "awful, just awful",
                trend_ctx,
                FrustrationSignal::NegativeTrend,
            ),
            (
                "hello?!",
                TriageContext::default(),
                FrustrationSignal::Exclamations,
            ),
            (
                "I asked this for the third time",
                TriageContext::default(),
                FrustrationSignal::ExasperatedWording,
            ),
        ];
        for (text, ctx, signal) in cases {
            let f = assess_text(text, &ctx);
            assert!(
                f.signals.contains(&signal),
                "case {text:?} gave {:?}",
                f.signals
            );
            assert!(f.score > 0.0 && f.score <= 1.0);
        }
    }

    #[test]
    fn a_calm_first_message_is_not_frustrated() {
        let f = assess_text("Hi, how do I order a new card?", &TriageContext::default());
        assert!(f.signals.is_empty(), "{:?}", f.signals);
        assert_eq!(f.score, 0.0);
    }

    #[test]
    fn phrases_match_whole_words_only() {
        assert!(phrase_in("i am still waiting", "still"));
        assert!(!phrase_in("a distillery tour", "still"));
        assert!(phrase_in("é still", "still"));
    }
}
