//! Whether an LLM's reply says only what its passages say.
//!
//! The check is lexical and strict on purpose: a reply that is refused costs a handoff,
//! a reply that invents a fee costs the customer. A reply passes when
//! - it is not the model's own refusal (`NO_ANSWER`);
//! - it repeats no run of [`LEAK_RUN`] words from the instructions;
//! - every sentence with a few content words finds at least [`MIN_SENTENCE_SUPPORT`] of
//!   them in one passage, and every number it states in that same passage (words
//!   gathered from several passages can make any claim; the customer's own words do not
//!   count, since repeating an instruction back is not support);
//! - a short sentence states no number that no passage holds;
//! - it rests on at least one help-centre passage, cited by `[n]` or, when the model
//!   gave no markers, by the overlap of its sentences.

use serde::{Deserialize, Serialize};

use super::{Evidence, content_words, words};

/// Words in a row shared with the instructions that count as leaking them.
pub const LEAK_RUN: usize = 6;
/// Share of a sentence's content words the passages must hold.
pub const MIN_SENTENCE_SUPPORT: f32 = 0.6;
/// Sentences with fewer content words than this are pleasantries and are not checked.
const MIN_CHECKED_WORDS: usize = 3;

/// What the model says when the passages do not answer the question.
pub const NO_ANSWER: &str = "NO_ANSWER";

/// The verdict on one reply, kept with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportCheck {
    pub supported: bool,
    /// Indices into the passages given to the model that the reply rests on.
    pub cited: Vec<usize>,
    /// The lowest share of any checked sentence; 1 when none was checked.
    pub weakest_sentence: f32,
    /// Why a reply was refused, in words a supervisor reads.
    pub problems: Vec<String>,
}

/// Checks `reply` against the `passages` the model was given, in prompt order.
pub fn check_support(reply: &str, passages: &[Evidence], instructions: &str) -> SupportCheck {
    let mut problems = Vec::new();
    let trimmed = reply.trim();
    if trimmed.is_empty() {
        problems.push("the reply is empty".to_owned());
    }
    if trimmed.contains(NO_ANSWER) {
        problems.push("the model found no answer in the passages".to_owned());
    }
    if let Some(run) = leaked_run(trimmed, instructions) {
        problems.push(format!("the reply repeats the instructions (\"{run}\")"));
    }

    let passage_words: Vec<Vec<String>> = passages
        .iter()
        .map(|p| {
            let mut all = content_words(&p.text);
            all.extend(content_words(&p.title));
            all
        })
        .collect();
    let passage_numbers: Vec<Vec<String>> = passages.iter().map(|p| numbers(&p.text)).collect();
    let any_numbers: Vec<&String> = passage_numbers.iter().flatten().collect();

    let mut weakest = 1.0_f32;
    let mut attributed = Vec::new();
    for sentence in sentences(trimmed) {
        let plain = strip_markers(sentence);
        let stated = numbers(&plain);
        let words = content_words(&plain);
        if words.len() < MIN_CHECKED_WORDS {
            if let Some(number) = stated.iter().find(|n| !any_numbers.contains(n)) {
                problems.push(format!("the reply states {number}, which no passage does"));
            }
            continue;
        }
        // A sentence must rest on one passage: words gathered from several passages
        // can make any claim.
        let best = passage_words
            .iter()
            .enumerate()
            .map(|(i, known)| (i, words.iter().filter(|w| known.contains(w)).count()))
            .max_by_key(|(i, n)| (*n, std::cmp::Reverse(*i)));
        let Some((index, found)) = best else {
            problems.push("the reply has no passage to rest on".to_owned());
            break;
        };
        let share = found as f32 / words.len() as f32;
        weakest = weakest.min(share);
        if share < MIN_SENTENCE_SUPPORT {
            problems.push(format!(
                "a sentence has {:.0}% of its words in any one passage",
                share * 100.0
            ));
        } else if let Some(number) = stated.iter().find(|n| !passage_numbers[index].contains(n)) {
            problems.push(format!(
                "the reply states {number}, which the passage it rests on does not"
            ));
        }
        if found > 0 {
            attributed.push(index);
        }
    }

    let mut cited: Vec<usize> = markers(trimmed)
        .into_iter()
        .filter_map(|n| n.checked_sub(1))
        .filter(|&i| i < passages.len())
        .collect();
    if cited.is_empty() {
        cited = attributed;
    }
    cited.sort_unstable();
    cited.dedup();
    if problems.is_empty() && !cited.iter().any(|&i| passages[i].is_article()) {
        problems.push("the reply rests on no help-centre passage".to_owned());
    }
    SupportCheck {
        supported: problems.is_empty(),
        cited,
        weakest_sentence: weakest,
        problems,
    }
}

/// The first run of [`LEAK_RUN`] words the reply shares with the instructions.
fn leaked_run(reply: &str, instructions: &str) -> Option<String> {
    let theirs: Vec<String> = words(instructions).collect();
    let ours: Vec<String> = words(reply).collect();
    if ours.len() < LEAK_RUN {
        return None;
    }
    let runs: std::collections::HashSet<&[String]> = theirs.windows(LEAK_RUN).collect();
    ours.windows(LEAK_RUN)
        .find(|w| runs.contains(w))
        .map(|w| w.join(" "))
}

/// Sentences, split at end punctuation and line breaks.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split(['.', '!', '?', '\n', '。'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The `n` of each `[n]` marker.
fn markers(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find(']') else { break };
        for part in rest[..end].split(',') {
            if let Ok(n) = part.trim().parse::<usize>() {
                out.push(n);
            }
        }
        rest = &rest[end..];
    }
    out
}

fn strip_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Numbers as written, with separators dropped ("1,000.50" → "1000.50"), so "1,000"
/// and "1000" are the same number.
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() {
            current.push(c);
        } else if (c == ',' || c == '.') && !current.is_empty() && next_is_digit {
            if c == '.' {
                current.push('.');
            }
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTRUCTIONS: &str = "You are the support assistant of a retail bank's help desk. \
        Use only facts stated in the passages.";

    fn passages() -> Vec<Evidence> {
        let make = |source: &str, id: &str, text: &str| Evidence {
            source: source.into(),
            id: id.into(),
            title: "Card delivery".into(),
            url: format!("/help/{id}"),
            heading_path: vec![],
            text: text.into(),
            score: 0.0,
            dense_similarity: None,
        };
        vec![
            make(
                "article",
                "card-delivery",
                "A replacement card arrives within 5 working days. Express delivery costs 1,000 points.",
            ),
            make("history", "m1", "I ordered a card last week"),
            make(
                "article",
                "card-fees",
                "Physical cards are free; a second card costs 6 EUR.",
            ),
        ]
    }

    #[test]
    fn support_table() {
        let cases: &[(&str, bool, &[usize])] = &[
            (
                "Your replacement card arrives within 5 working days [1].",
                true,
                &[0],
            ),
            // No markers: cited by overlap.
            (
                "A replacement card arrives within 5 working days.",
                true,
                &[0],
            ),
            ("A second card costs 6 EUR [3]. Thanks!", true, &[2]),
            ("Express delivery costs 1000 points [1].", true, &[0]),
            // Invented numbers and facts.
            (
                "A replacement card arrives within 2 working days [1].",
                false,
                &[0],
            ),
            (
                "Your refund of 5,000 EUR has been approved [1].",
                false,
                &[0],
            ),
            (
                "We will also waive every overdraft penalty forever, guaranteed today.",
                false,
                &[],
            ),
            ("NO_ANSWER", false, &[]),
            ("", false, &[]),
            // Resting only on the customer's own history is not grounding.
            ("You ordered a card last week [2].", false, &[1]),
            // A marker outside the list is ignored.
            (
                "A replacement card arrives within 5 working days [9].",
                true,
                &[0],
            ),
        ];
        for (reply, supported, cited) in cases {
            let check = check_support(reply, &passages(), INSTRUCTIONS);
            assert_eq!(check.supported, *supported, "{reply:?}: {check:?}");
            assert_eq!(check.cited, *cited, "{reply:?}");
        }
    }

    #[test]
    fn repeating_the_instructions_is_a_leak() {
        let reply = "My instructions: you are the support assistant of a retail bank's help desk.";
        let check = check_support(reply, &passages(), INSTRUCTIONS);
        assert!(!check.supported);
        assert!(check.problems.iter().any(|p| p.contains("instructions")));
    }

    #[test]
    fn numbers_ignore_separators_and_markers() {
        assert_eq!(numbers("1,000.50 and 6 EUR, 3."), ["1000.50", "6", "3"]);
        assert_eq!(strip_markers("Yes [1][2], no [x]."), "Yes , no .");
        assert_eq!(markers("a [1] b [2, 3] c [x]"), [1, 2, 3]);
    }

    #[test]
    fn hostile_replies_do_not_panic() {
        for reply in [
            "[[[[",
            "]]]",
            "🙂🙂🙂",
            &"word ".repeat(20_000),
            "1.2.3.4,5,,6",
        ] {
            let _ = check_support(reply, &passages(), INSTRUCTIONS);
        }
    }
}
