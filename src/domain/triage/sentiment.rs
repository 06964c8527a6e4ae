//! Lexicon sentiment: a hand-written valence list with rules for negation, intensifiers,
//! contrast ("but"), shouting, emoji and ASCII faces, stretched words ("sooo") and "why"
//! questions.
//!
//! Chosen over a trained model because no sentiment data we may ship exists here, and a
//! lexicon is easy for a supervisor to read and correct. It must never depend on the
//! intent model, so sentiment stays the same when intents are retrained.

use std::collections::HashMap;

use super::{FeatureWeight, Sentiment, SentimentLabel};

const SHIPPED_LEXICON: &str = include_str!("../../../triage/sentiment/lexicon.tsv");

/// Words that flip the valence of what follows them within a few tokens of the same clause.
const NEGATORS: [&str; 29] = [
    "not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without", "hardly",
    "barely", "cannot", "dont", "didnt", "isnt", "wasnt", "doesnt", "cant", "wont", "aint",
    "arent", "werent", "havent", "hasnt", "hadnt", "couldnt", "wouldnt", "shouldnt", "nothin",
];
/// Words that strengthen the valence of the next word. A booster that is also a lexicon
/// word ("super", "damn") counts only as a booster when a lexicon word follows it.
const BOOSTERS: [&str; 26] = [
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
    "such",
    "quite",
    "especially",
    "seriously",
    "insanely",
    "ridiculously",
    "mega",
    "hella",
    "fucking",
    "freaking",
    "damn",
    "bloody",
];
/// Words that soften the valence of the next word; "kind of" and "sort of" do too.
const DAMPENERS: [&str; 7] = [
    "slightly", "somewhat", "kinda", "kind", "bit", "little", "fairly",
];
/// After one of these, "like" means liking; elsewhere it is a preposition or a filler, and
/// after "would" it makes a request ("I would like to change my address").
const LIKERS: [&str; 11] = [
    "i", "we", "you", "they", "really", "totally", "also", "still", "do", "does", "just",
];
/// Faces written in ASCII, matched on a whole whitespace-separated chunk.
const EMOTICONS: [&str; 36] = [
    ":)", ":-)", ":D", ":-D", ";)", ";-)", "<3", ":P", ":p", "xD", "XD", ":(", ":-(", ":'(", ">:(",
    ":/", ":-/", "D:", ":|", ":-|", ":]", "=)", "=D", "(:", "^_^", "^^", ":3", ";D", "<33", "=(",
    ":[", ":'-(", ":@", "-_-", "</3", ":S",
];

/// How far back (in tokens) a negator still reaches.
const NEGATION_WINDOW: usize = 3;
/// A negated word keeps some of its strength in the opposite direction ("not great" is mildly
/// negative, not as negative as "awful").
const NEGATION_FACTOR: f32 = -0.6;
/// Added once to a message that asks "why" (but not "why not"): such questions are mostly
/// complaints ("why was I charged twice"). Chosen by cross-validation, see docs/triage.md.
const WHY_QUESTION: f32 = -1.0;
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
        let mut tokens = tokenize(text);
        self.normalise(&mut tokens);
        let mut terms = self.contributions(&tokens);
        apply_contrast(&tokens, &mut terms);
        let emphasis = 1.0 + 0.1 * text.matches('!').count().min(3) as f32;
        let mut total: f32 = terms.iter().map(|t| t.1).sum::<f32>() * emphasis;
        if let Some(i) = asks_why(&tokens) {
            total += WHY_QUESTION;
            terms.push((i, WHY_QUESTION));
        }
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

    /// Rewrites stretched words ("sooo", "gooood") and laughter ("hahahaha") to the form
    /// the lexicon knows, so one entry covers every spelling.
    fn normalise(&self, tokens: &mut [Token]) {
        for t in tokens.iter_mut() {
            if let Some(laugh) = laughter(&t.lower) {
                t.lower = laugh.to_owned();
            } else if has_stretch(&t.lower) && !self.valence.contains_key(&t.lower) {
                let twice = squeeze(&t.lower, 2);
                t.lower = if self.valence.contains_key(&twice) {
                    twice
                } else {
                    squeeze(&t.lower, 1)
                };
            }
        }
    }

    /// `(token index, contribution)` for every token that carries valence.
    fn contributions(&self, tokens: &[Token]) -> Vec<(usize, f32)> {
        let mut out = Vec::new();
        let mut pair = String::new();
        let mut i = 0;
        while i < tokens.len() {
            let (valence, width) = self.lookup(tokens, i, &mut pair);
            if let Some(v) = valence.filter(|v| *v != 0.0) {
                out.push((i, v * modifier(tokens, i)));
            }
            i += width;
        }
        out
    }

    /// Valence at position `i`, preferring a two-word entry; returns the tokens consumed.
    /// `pair` is scratch space for the two-word key, kept across calls.
    fn lookup(&self, tokens: &[Token], i: usize, pair: &mut String) -> (Option<f32>, usize) {
        if let Some(next) = tokens.get(i + 1) {
            pair.clear();
            pair.push_str(&tokens[i].lower);
            pair.push('_');
            pair.push_str(&next.lower);
            if let Some(v) = self.valence.get(pair.as_str()) {
                return (Some(*v), 2);
            }
        }
        let word = tokens[i].lower.as_str();
        let boosts_next = BOOSTERS.contains(&word)
            && tokens
                .get(i + 1)
                .is_some_and(|n| self.valence.contains_key(&n.lower));
        let likes = word != "like" || (i > 0 && LIKERS.contains(&tokens[i - 1].lower.as_str()));
        if boosts_next || !likes {
            return (None, 1);
        }
        (self.valence.get(word).copied(), 1)
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
        let hedged =
            i > 1 && prev == "of" && matches!(tokens[i - 2].lower.as_str(), "kind" | "sort");
        if BOOSTERS.contains(&prev) {
            m *= 1.4;
        } else if DAMPENERS.contains(&prev) || hedged {
            m *= 0.6;
        }
    }
    // A negator reaches across a few words but not across punctuation: in "no, it's great"
    // the "no" answers something else.
    let clause = tokens[i].clause;
    let window = tokens[i.saturating_sub(NEGATION_WINDOW)..i].iter();
    let negators = window
        .filter(|t| t.clause == clause && is_negator(&t.lower))
        .count();
    if negators % 2 == 1 {
        m *= NEGATION_FACTOR;
    }
    if tokens[i].shouted {
        m *= 1.3;
    }
    m
}

/// Position of a "why" that is not "why not".
fn asks_why(tokens: &[Token]) -> Option<usize> {
    (0..tokens.len()).find(|&i| {
        tokens[i].lower == "why" && tokens.get(i + 1).is_none_or(|next| next.lower != "not")
    })
}

fn is_negator(word: &str) -> bool {
    NEGATORS.contains(&word) || word.ends_with("n't")
}

/// After "but" or "however" the second clause carries the message: weigh it up and the
/// first clause down. A contrast word with nothing after it ("nice though") is no pivot.
fn apply_contrast(tokens: &[Token], terms: &mut [(usize, f32)]) {
    let last = tokens.len().saturating_sub(1);
    let Some(pivot) = tokens[..last]
        .iter()
        .rposition(|t| matches!(t.lower.as_str(), "but" | "however" | "although" | "though"))
    else {
        return;
    };
    for (i, w) in terms.iter_mut() {
        *w *= if *i < pivot { 0.5 } else { 1.5 };
    }
}

/// "hahaha", "ahahah" and "hehehe" of any length, as the lexicon spells them.
fn laughter(word: &str) -> Option<&'static str> {
    let repeats = |unit: &str| {
        let body = word.strip_suffix(&unit[..1]).unwrap_or(word);
        body.len() >= 2 * unit.len()
            && body.len().is_multiple_of(unit.len())
            && body
                .as_bytes()
                .chunks(unit.len())
                .all(|c| c == unit.as_bytes())
    };
    if repeats("ha") || repeats("ah") {
        Some("haha")
    } else if repeats("he") {
        Some("hehe")
    } else {
        None
    }
}

/// A letter written three or more times in a row.
fn has_stretch(word: &str) -> bool {
    let (mut prev, mut run) = ('\0', 0);
    for c in word.chars() {
        run = if c == prev { run + 1 } else { 1 };
        if run == 3 {
            return true;
        }
        prev = c;
    }
    false
}

/// Cuts every run of three or more equal characters down to `keep`.
fn squeeze(word: &str, keep: usize) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.next_if_eq(&c).is_some() {
            run += 1;
        }
        let n = if run >= 3 { keep } else { run };
        out.extend(std::iter::repeat_n(c, n));
    }
    out
}

/// A token: lower-cased word, emoticon or single emoji.
struct Token {
    lower: String,
    /// Written in capitals (at least two letters) inside a message that is not all capitals.
    shouted: bool,
    /// Index of the clause, counted by the punctuation before the token.
    clause: usize,
}

impl Token {
    fn symbol(lower: &str, clause: usize) -> Self {
        Self {
            lower: lower.to_owned(),
            shouted: false,
            clause,
        }
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mostly_caps = super::frustration::caps_ratio(text) > 0.8;
    let mut out = Vec::new();
    let mut clause = 0;
    for raw in text.split_whitespace().take(2_000) {
        if let Some(face) = emoticon(raw) {
            out.push(Token::symbol(face, clause));
            continue;
        }
        let (word, face) = split_trailing_face(raw);
        split_word(word, mostly_caps, &mut clause, &mut out);
        if let Some(face) = face {
            out.push(Token::symbol(face, clause));
        }
    }
    out
}

/// Lower-cased tokens of the text, as the scorer sees them.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    tokenize(text).into_iter().map(|t| t.lower).collect()
}

/// The face a chunk stands for, allowing trailing punctuation (":)." ) and a repeated last
/// stroke (":)))", "<333").
fn emoticon(raw: &str) -> Option<&'static str> {
    let known = |s: &str| EMOTICONS.iter().copied().find(|e| *e == s);
    let bare = raw.trim_end_matches(['.', ',', '!', '?', '"']);
    let last = bare.chars().last()?;
    if !matches!(last, ')' | '(' | ']' | '[' | 'D' | 'P' | 'p' | '3') {
        return known(raw).or_else(|| known(bare));
    }
    // Every stroke is one ASCII byte, so the stem plus one byte keeps a single stroke.
    let single = &bare[..bare.trim_end_matches(last).len() + 1];
    known(raw).or_else(|| known(bare)).or_else(|| known(single))
}

/// Splits a face glued to the end of a word ("thanks:)") from the word.
fn split_trailing_face(raw: &str) -> (&str, Option<&'static str>) {
    for k in (2..=4).rev() {
        let Some(cut) = raw
            .len()
            .checked_sub(k)
            .filter(|&c| raw.is_char_boundary(c))
        else {
            continue;
        };
        let (word, tail) = raw.split_at(cut);
        let glued = word.chars().last().is_some_and(char::is_alphanumeric);
        if let (true, Some(face)) = (glued, emoticon(tail)) {
            return (word, Some(face));
        }
    }
    (raw, None)
}

/// Splits a whitespace chunk into words (letters, digits, apostrophes) and emoji; clause
/// punctuation moves the clause counter on.
fn split_word(raw: &str, mostly_caps: bool, clause: &mut usize, out: &mut Vec<Token>) {
    let mut word = String::new();
    for c in raw.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '\u{2019}' {
            word.push(if c == '\u{2019}' { '\'' } else { c });
            continue;
        }
        flush_word(&mut word, mostly_caps, *clause, out);
        if is_pictograph(c) {
            out.push(Token::symbol(&c.to_string(), *clause));
        }
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?') {
            *clause += 1;
        }
    }
    flush_word(&mut word, mostly_caps, *clause, out);
}

fn flush_word(word: &mut String, mostly_caps: bool, clause: usize, out: &mut Vec<Token>) {
    let trimmed = word.trim_matches('\'');
    if !trimmed.is_empty() {
        let letters = trimmed.chars().filter(|c| c.is_alphabetic()).count();
        let upper = trimmed.chars().all(|c| !c.is_lowercase());
        out.push(Token {
            lower: trimmed.to_lowercase(),
            shouted: !mostly_caps && letters >= 2 && upper,
            clause,
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
    fn informal_and_support_wording_is_labelled() {
        let lexicon = Lexicon::shipped();
        let cases = [
            ("sooo gooood", SentimentLabel::Positive),
            ("this is the best day everrr", SentimentLabel::Positive),
            ("hahahahaha", SentimentLabel::Positive),
            ("thanks:)", SentimentLabel::Positive),
            ("see you there :)))", SentimentLabel::Positive),
            ("finally home <333", SentimentLabel::Positive),
            ("looking forward to it", SentimentLabel::Positive),
            ("#blessed", SentimentLabel::Positive),
            ("you were charged twice?", SentimentLabel::Negative),
            (
                "I was charged twice for one order",
                SentimentLabel::Negative,
            ),
            ("this is a scam", SentimentLabel::Negative),
            ("the app is not working again", SentimentLabel::Negative),
            (
                "I want a refund, the card arrived broken",
                SentimentLabel::Negative,
            ),
            ("ugh nooo", SentimentLabel::Negative),
            ("I would like to change my address", SentimentLabel::Neutral),
            (
                "it looks like my card is in the post",
                SentimentLabel::Neutral,
            ),
            ("what kind of card do I need", SentimentLabel::Neutral),
            ("I really like the new app", SentimentLabel::Positive),
            ("why is my card declined", SentimentLabel::Negative),
            ("why has nobody answered me", SentimentLabel::Negative),
            ("why not, sounds good", SentimentLabel::Positive),
            ("why not", SentimentLabel::Neutral),
        ];
        for (text, label) in cases {
            assert_eq!(lexicon.score(text).0.label, label, "case {text:?}");
        }
    }

    #[test]
    fn negation_stops_at_punctuation() {
        let lexicon = Lexicon::shipped();
        let across = lexicon.score("no, this is great").0.score;
        let within = lexicon.score("no this is great").0.score;
        assert!(
            across > 0.2,
            "a negator before a comma flipped the clause after it: {across}"
        );
        assert!(
            within < 0.0,
            "a negator in the same clause did not flip: {within}"
        );
    }

    #[test]
    fn a_booster_that_is_also_a_word_only_boosts() {
        let lexicon = Lexicon::shipped();
        let cases = [
            ("super slow", "slow"),
            ("damn good", "good"),
            ("fucking amazing", "amazing"),
        ];
        for (text, word) in cases {
            let (s, terms) = lexicon.score(text);
            let fired: Vec<&str> = terms.iter().map(|t| t.feature.as_str()).collect();
            assert_eq!(fired, [word], "case {text:?}");
            let alone = lexicon.score(word).0.score;
            assert!(
                s.score.abs() > alone.abs(),
                "case {text:?}: {} vs {alone}",
                s.score
            );
        }
    }

    #[test]
    fn contrast_word_at_the_end_is_no_pivot() {
        let lexicon = Lexicon::shipped();
        let trailing = lexicon.score("the staff were lovely though").0.score;
        let plain = lexicon.score("the staff were lovely").0.score;
        assert!((trailing - plain).abs() < 1e-6, "{trailing} vs {plain}");
    }

    #[test]
    fn stretched_words_and_laughter_are_normalised() {
        let cases = [
            ("sooooo", "so"),
            ("gooood", "good"),
            ("yesss", "yess"),
            ("hahahah", "haha"),
            ("ahahaha", "haha"),
            ("hehehehe", "hehe"),
            ("haha", "haha"),
            ("coffee", "coffee"),
            ("zzz", "z"),
            ("ééé", "é"),
        ];
        let lexicon = Lexicon::shipped();
        for (word, want) in cases {
            let mut tokens = tokenize(word);
            lexicon.normalise(&mut tokens);
            assert_eq!(tokens[0].lower, want, "case {word:?}");
        }
    }

    #[test]
    fn emoticons_are_found_inside_punctuation_and_repeats() {
        let cases = [
            (":)", Some(":)")),
            (":))))", Some(":)")),
            (":(((", Some(":(")),
            (":D!!", Some(":D")),
            ("<333", Some("<3")),
            (":)\"", Some(":)")),
            ("GOOD", None),
            ("D", None),
            ("?!", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(emoticon(raw), want, "case {raw:?}");
        }
        assert_eq!(split_trailing_face("thanks:)"), ("thanks", Some(":)")));
        assert_eq!(split_trailing_face("ok"), ("ok", None));
        assert_eq!(split_trailing_face("é:("), ("é", Some(":(")));
    }

    #[test]
    fn hostile_input_is_scored_without_panicking() {
        let lexicon = Lexicon::shipped();
        let long = "great but awful, ".repeat(50_000);
        let cases = [
            "",
            " \t\n ",
            "🙂🙂🙂😡",
            "\u{1F600}\u{200D}\u{1F600}",
            "::::)))(((",
            "'''''",
            "ça marche très bien, danke, 谢谢, спасибо",
            "ñññññ ooooooooooooooooooooooooooooooooooo",
            long.as_str(),
        ];
        for text in cases {
            let (s, _) = lexicon.score(text);
            let head: String = text.chars().take(40).collect();
            assert!(s.score.is_finite() && s.score.abs() <= 1.0, "case {head:?}");
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
