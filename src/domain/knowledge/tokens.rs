//! Counting tokens, so chunks fit the sentence encoder's input.
//!
//! The real count comes from the encoder's own tokenizer, which is wired in later behind
//! [`TokenCounter`]. [`WordPieceEstimate`] stands in for it in tests and when no
//! tokenizer is loaded. It must stay cheap and deterministic, and it must never be
//! mistaken for the real thing: it only estimates.

/// Counts the tokens a text becomes for some encoder.
pub trait TokenCounter {
    /// Tokens in `text`, without the special tokens an encoder adds around an input.
    fn count(&self, text: &str) -> usize;
}

/// A rough WordPiece estimate: each run of letters and digits is one token per four
/// characters (at least one, and one for a word of up to six characters), and every
/// other visible character, punctuation and emoji alike, is a token of its own.
///
/// Against a BERT-style vocabulary this is honest but approximate: common long words
/// ("transactions") are one real token and are counted as three, while rare short words
/// and scripts the vocabulary lacks can be split finer than counted. On English help
/// text it tends to count high, which keeps chunks inside the real limit; when the real
/// tokenizer is available, use it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordPieceEstimate;

/// Words up to this many characters count as one token.
const WHOLE_WORD_CHARS: usize = 6;
/// Longer words count one token per this many characters.
const CHARS_PER_PIECE: usize = 4;

impl TokenCounter for WordPieceEstimate {
    fn count(&self, text: &str) -> usize {
        let mut tokens = 0;
        let mut word_chars = 0;
        for c in text.chars() {
            if c.is_alphanumeric() {
                word_chars += 1;
                continue;
            }
            tokens += word_tokens(word_chars);
            word_chars = 0;
            if !c.is_whitespace() && !c.is_control() {
                tokens += 1;
            }
        }
        tokens + word_tokens(word_chars)
    }
}

fn word_tokens(chars: usize) -> usize {
    match chars {
        0 => 0,
        n if n <= WHOLE_WORD_CHARS => 1,
        n => n.div_ceil(CHARS_PER_PIECE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_words_pieces_and_punctuation() {
        let cases = [
            ("", 0),
            ("   \n\t", 0),
            ("card", 1),
            ("the card", 2),
            ("Freeze the card.", 4),
            ("transactions", 3),
            ("£5, free", 4),
            ("😀😀😀", 3),
            ("don't", 3),
            ("Karte verloren", 3),
        ];
        for (text, expected) in cases {
            assert_eq!(WordPieceEstimate.count(text), expected, "case {text:?}");
        }
    }

    #[test]
    fn counts_add_up_across_whitespace() {
        let a = "Tap **Cards**, then Freeze card.";
        let b = "Call +44 20 7946 0321 at any hour.";
        let joined = format!("{a}\n\n{b}");
        let counter = WordPieceEstimate;
        assert_eq!(counter.count(&joined), counter.count(a) + counter.count(b));
    }
}
