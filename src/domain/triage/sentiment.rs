//! Lexicon sentiment: a hand-written valence list with rules for negation, intensifiers,
//! contrast ("but"), shouting and emoji.
//!
//! Chosen over a trained model because no sentiment data we may ship exists here, and a
//! lexicon is easy for a supervisor to read and correct. It must never depend on the
//! intent model, so sentiment stays the same when intents are retrained.

use std::collections::HashMap;

use super::{FeatureWeight, Sentiment, SentimentLabel};

const SHIPPED_LEXICON: &str = include_str!("../../../triage/sentiment/lexicon.tsv");

/// Words that flip the valence of what follows them within a few tokens.
const NEGATORS: [&str; 16] = [
    "not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without", "hardly",
    "barely", "cannot", "dont", "didnt", "isnt", "wasnt",
];
/// Words that strengthen the valence of the next word.
const BOOSTERS: [&str; 14] = [
    "very",
    "so",
    "really",
    "extremely",
    "totally",
    "absolutely",
    "completely",
    "super",
    "too",
    "incredibly",
    "utterly",
    "truly",
    "highly",
    "most",
];
/// Words that soften the valence of the next word.
const DAMPENERS: [&str; 6] = ["slightly", "somewhat", "kinda", "kind", "bit", "little"];

/// How far back (in tokens) a negator still reaches.
const NEGATION_WINDOW: usize = 3;
/// A negated word keeps some of its strength in the opposite direction ("not great" is mildly
/// negative, not as negative as "awful").
const NEGATION_FACTOR: f32 = -0.6;
/// Scores beyond these bounds are labelled positive or negative.
const POSITIVE_ABOVE: f32 = 0.2;
const NEGATIVE_BELOW: f32 = -0.2;

/// Term valences, from -4 to 4.
#[derive(Debug, Clone)]
pub(crate) struct Lexicon {
    valence: HashMap<String, f32>,
}

impl Lexicon {
    /// The lexicon compiled into the binary.
    pub(crate) fn shipped() -> Self {
        Self {
            valence: parse_weights(SHIPPED_LEXICON),
        }
    }

    /// Scores one message; also returns the lexicon terms that fired.
    pub(crate) fn score(&self, text: &str) -> (Sentiment, Vec<FeatureWeight>) {
        let tokens = tokenize(text);
        let mut terms = self.contributions(&tokens);
        apply_contrast(&tokens, &mut terms);
        let emphasis = 1.0 + 0.1 * text.matches('!').count().min(3) as f32;
        let total: f32 = terms.iter().map(|t| t.1).sum::<f32>() * emphasis;
        // tanh keeps the score in (-1, 1) and saturates after a few strong words.
        let score = (total / 4.0).tanh();
        let label = if score > POSITIVE_ABOVE {
            SentimentLabel::Positive
        } else if score < NEGATIVE_BELOW {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        };
        let explained = terms
            .into_iter()
            .map(|(i, w)| FeatureWeight {
                feature: tokens[i].lower.clone(),
                weight: w,
            })
            .collect();
        (Sentiment { label, score }, explained)
    }

    /// `(token index, contribution)` for every token that carries valence.
    fn contributions(&self, tokens: &[Token]) -> Vec<(usize, f32)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let (valence, width) = self.lookup(tokens, i);
            if let Some(v) = valence {
                out.push((i, v * modifier(tokens, i)));
            }
            i += width;
        }
        out
    }

    /// Valence at position `i`, preferring a two-word entry; returns the tokens consumed.
    fn lookup(&self, tokens: &[Token], i: usize) -> (Option<f32>, usize) {
        if let Some(next) = tokens.get(i + 1) {
            let pair = format!("{}_{}", tokens[i].lower, next.lower);
            if let Some(v) = self.valence.get(&pair) {
                return (Some(*v), 2);
            }
        }
        (self.valence.get(&tokens[i].lower).copied(), 1)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.valence.keys().map(|k| k.len() + 48).sum()
    }
}

/// Reads `term<TAB>weight` lines; `#` starts a comment, malformed lines are skipped.
fn parse_weights(tsv: &str) -> HashMap<String, f32> {
    tsv.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (term, value) = l.split_once('\t')?;
            Some((term.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Negation, boosters, dampeners and shouting around token `i`.
fn modifier(tokens: &[Token], i: usize) -> f32 {
    let mut m = 1.0;
    if i > 0 {
        let prev = tokens[i - 1].lower.as_str();
        if BOOSTERS.contains(&prev) {
            m *= 1.4;
        } else if DAMPENERS.contains(&prev) {
            m *= 0.6;
        }
    }
    let window = tokens[i.saturating_sub(NEGATION_WINDOW)..i].iter();
    if window.filter(|t| is_negator(&t.lower)).count() % 2 == 1 {
        m *= NEGATION_FACTOR;
    }
    if tokens[i].shouted {
        m *= 1.3;
    }
    m
}

fn is_negator(word: &str) -> bool {
    NEGATORS.contains(&word) || word.ends_with("n't")
}

/// After "but" or "however" the second clause carries the message: weigh it up and the
/// first clause down.
fn apply_contrast(tokens: &[Token], terms: &mut [(usize, f32)]) {
    let Some(pivot) = tokens
        .iter()
        .rposition(|t| matches!(t.lower.as_str(), "but" | "however" | "although" | "though"))
    else {
        return;
    };
    for (i, w) in terms.iter_mut() {
        *w *= if *i < pivot { 0.5 } else { 1.5 };
    }
}

/// A token: lower-cased word, emoticon or single emoji.
struct Token {
    lower: String,
    /// Written in capitals (at least two letters) inside a message that is not all capitals.
    shouted: bool,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mostly_caps = super::frustration::caps_ratio(text) > 0.8;
    let mut out = Vec::new();
    for raw in text.split_whitespace().take(2_000) {
        if is_emoticon(raw) {
            out.push(Token {
                lower: raw.to_owned(),
                shouted: false,
            });
            continue;
        }
        split_word(raw, mostly_caps, &mut out);
    }
    out
}

/// Lower-cased tokens of the text, as the scorer sees them.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    tokenize(text).into_iter().map(|t| t.lower).collect()
}

fn is_emoticon(raw: &str) -> bool {
    const EMOTICONS: [&str; 18] = [
        ":)", ":-)", ":D", ":-D", ";)", ";-)", "<3", ":P", ":p", "xD", "XD", ":(", ":-(", ":'(",
        ">:(", ":/", ":-/", "D:",
    ];
    EMOTICONS.contains(&raw)
}

/// Splits a whitespace chunk into words (letters, digits, apostrophes) and emoji.
fn split_word(raw: &str, mostly_caps: bool, out: &mut Vec<Token>) {
    let mut word = String::new();
    for c in raw.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '\u{2019}' {
            word.push(if c == '\u{2019}' { '\'' } else { c });
        } else {
            flush_word(&mut word, mostly_caps, out);
            if is_pictograph(c) {
                out.push(Token {
                    lower: c.to_string(),
                    shouted: false,
                });
            }
        }
    }
    flush_word(&mut word, mostly_caps, out);
}

fn flush_word(word: &mut String, mostly_caps: bool, out: &mut Vec<Token>) {
    let trimmed = word.trim_matches('\'');
    if !trimmed.is_empty() {
        let letters = trimmed.chars().filter(|c| c.is_alphabetic()).count();
        let upper = trimmed.chars().all(|c| !c.is_lowercase());
        out.push(Token {
            lower: trimmed.to_lowercase(),
            shouted: !mostly_caps && letters >= 2 && upper,
        });
    }
    word.clear();
}

/// Emoji and pictographic symbols, which carry sentiment on their own.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32, 0x2600..=0x27BF | 0x1F300..=0x1FAFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_clear_cases() {
        let lexicon = Lexicon::shipped();
        let cases = [
            ("I love this, thank you so much!", SentimentLabel::Positive),
            ("this is terrible and I hate it", SentimentLabel::Negative),
            (
                "what is the exchange rate for euros",
                SentimentLabel::Neutral,
            ),
            ("the app is not good", SentimentLabel::Negative),
            ("I can't wait to use my new card", SentimentLabel::Positive),
            ("😡😡", SentimentLabel::Negative),
            ("great 👍", SentimentLabel::Positive),
            ("it was fine but now it is awful", SentimentLabel::Negative),
            ("", SentimentLabel::Neutral),
            ("\0\0", SentimentLabel::Neutral),
        ];
        for (text, label) in cases {
            assert_eq!(lexicon.score(text).0.label, label, "case {text:?}");
        }
    }

    #[test]
    fn shouting_and_boosters_make_a_word_count_more() {
        let lexicon = Lexicon::shipped();
        let plain = lexicon.score("this is bad").0.score;
        let boosted = lexicon.score("this is really bad").0.score;
        let shouted = lexicon.score("this is BAD").0.score;
        assert!(
            boosted < plain && shouted < plain,
            "{plain} {boosted} {shouted}"
        );
    }

    #[test]
    fn score_stays_in_range_for_long_text() {
        let lexicon = Lexicon::shipped();
        let (s, terms) = lexicon.score(&"awful ".repeat(20_000));
        assert!(s.score >= -1.0 && s.score < -0.99);
        assert!(!terms.is_empty());
    }
}
