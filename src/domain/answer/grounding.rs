//! Whether retrieval found something that answers the question.
//!
//! Fused scores only order passages within one retrieval; they say nothing about whether
//! the best one is any good. The gate therefore reads absolute measures: the dense
//! cosine similarity between question and passage when an encoder ranked them, and
//! otherwise the share of the question's content words the passage contains. Only help-
//! centre articles can ground an answer; the customer's history is context, never the
//! source of a fact about the bank.

use serde::{Deserialize, Serialize};

use super::{Evidence, content_words};

/// The bars a passage must clear.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroundingThresholds {
    /// Least dense cosine similarity of the best article passage.
    pub min_dense_similarity: f32,
    /// Without dense scores: least share of the question's content words found in the
    /// best passage (title and headings included).
    pub min_term_coverage: f32,
}

/// The gate's verdict, kept with the reply's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grounding {
    pub confident: bool,
    /// Index into the passages of the one an extractive reply would quote.
    pub best: Option<usize>,
    /// `dense` or `lexical`: which measure decided.
    pub measure: String,
    /// The deciding measure's value for `best` (or the best value seen).
    pub value: f32,
    pub threshold: f32,
    /// Why, in words a supervisor reads.
    pub reason: String,
}

/// Decides whether `passages` (best first) answer `question`.
pub fn assess(
    question: &str,
    passages: &[Evidence],
    thresholds: &GroundingThresholds,
) -> Grounding {
    let asked = content_words(question);
    let articles = passages.iter().enumerate().filter(|(_, p)| p.is_article());
    let dense = passages.iter().any(|p| p.dense_similarity.is_some());

    let not_confident = |measure: &str, value: f32, threshold: f32, reason: String| Grounding {
        confident: false,
        best: None,
        measure: measure.to_owned(),
        value,
        threshold,
        reason,
    };
    if asked.is_empty() {
        return not_confident(
            "lexical",
            0.0,
            thresholds.min_term_coverage,
            "the message asks nothing the help centre could answer".into(),
        );
    }

    let (measure, threshold, best) = if dense {
        let best = articles
            .filter_map(|(i, p)| p.dense_similarity.map(|s| (i, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        ("dense", thresholds.min_dense_similarity, best)
    } else {
        // Among the top few only: coverage alone would favour long passages that
        // happen to hold every word.
        let best = articles
            .take(3)
            .map(|(i, p)| (i, coverage(&asked, p)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        ("lexical", thresholds.min_term_coverage, best)
    };
    let Some((index, value)) = best else {
        return not_confident(
            measure,
            0.0,
            threshold,
            "no help-centre passage matched".into(),
        );
    };
    if value < threshold {
        return not_confident(
            measure,
            value,
            threshold,
            format!("the best passage scored {value:.2}, below the bar of {threshold:.2}"),
        );
    }
    Grounding {
        confident: true,
        best: Some(index),
        measure: measure.to_owned(),
        value,
        threshold,
        reason: format!("the best passage scored {value:.2}, at or above {threshold:.2}"),
    }
}

/// Share of the asked words (repeats counted once) found in the passage.
fn coverage(asked: &[String], passage: &Evidence) -> f32 {
    let mut asked: Vec<&String> = asked.iter().collect();
    asked.sort();
    asked.dedup();
    let mut text = content_words(&passage.text);
    text.extend(content_words(&passage.title));
    for heading in &passage.heading_path {
        text.extend(content_words(heading));
    }
    let found = asked.iter().filter(|w| text.contains(w)).count();
    found as f32 / asked.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARS: GroundingThresholds = GroundingThresholds {
        min_dense_similarity: 0.55,
        min_term_coverage: 0.6,
    };

    fn passage(source: &str, text: &str, dense: Option<f32>) -> Evidence {
        Evidence {
            source: source.into(),
            id: "card-delivery".into(),
            title: "Card delivery".into(),
            url: "/help/card-delivery".into(),
            heading_path: vec!["How long delivery takes".into()],
            text: text.into(),
            score: 0.1,
            dense_similarity: dense,
        }
    }

    #[test]
    fn lexical_gate_table() {
        let delivery = "A new card arrives within five working days of your order.";
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case<'_>] = &[
            (
                "When will my new card arrive?",
                &[("article", delivery)],
                true,
            ),
            (
                "How long does card delivery take?",
                &[("article", delivery)],
                true,
            ),
            (
                "Can I buy bitcoin futures?",
                &[("article", delivery)],
                false,
            ),
            ("", &[("article", delivery)], false),
            ("🙂🙂🙂", &[("article", delivery)], false),
            ("hello", &[("article", delivery)], false),
            ("When will my new card arrive?", &[], false),
            // The customer's own history never grounds an answer.
            (
                "When will my new card arrive?",
                &[("history", delivery)],
                false,
            ),
        ];
        for (question, passages, expected) in cases {
            let passages: Vec<_> = passages.iter().map(|(s, t)| passage(s, t, None)).collect();
            let verdict = assess(question, &passages, &BARS);
            assert_eq!(verdict.confident, *expected, "{question:?}: {verdict:?}");
            assert_eq!(verdict.best.is_some(), *expected);
        }
    }

    #[test]
    fn dense_gate_reads_the_best_article_similarity() {
        let passages = vec![
            passage("history", "I asked about my card before", Some(0.9)),
            passage("article", "unrelated", Some(0.40)),
            passage("article", "close", Some(0.61)),
        ];
        let verdict = assess("where is my card", &passages, &BARS);
        assert!(verdict.confident);
        assert_eq!(verdict.best, Some(2));
        assert_eq!(verdict.measure, "dense");

        let weak = vec![passage("article", "far", Some(0.3))];
        let verdict = assess("where is my card", &weak, &BARS);
        assert!(!verdict.confident);
        assert!(verdict.reason.contains("below"), "{}", verdict.reason);
    }

    #[test]
    fn very_long_questions_do_not_break_the_gate() {
        let question = "card ".repeat(10_000);
        let passages = vec![passage("article", "card", None)];
        assert!(assess(&question, &passages, &BARS).confident);
    }
}
