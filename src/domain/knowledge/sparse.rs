//! BM25-style sparse vectors for lexical search over chunks.
//!
//! BM25 scores a document for a query as the sum, over query terms, of the term's IDF
//! times a saturated, length-normalised term frequency. The work is split between us
//! and the vector store: a document vector carries the saturated frequency of each of
//! its terms, a query vector carries 1 for each distinct term, and the store multiplies
//! in IDF (Qdrant's `idf` modifier on the sparse vector, computed from the collection
//! at query time). The dot product the store takes is then BM25, and IDF stays right as
//! articles come and go without re-encoding anything.
//!
//! Terms are lowercase Unicode words with a small English stop list removed and a light
//! suffix stripper applied, identified by the FNV-1a hash of the term. Documents and
//! queries must go through this same code, or they will not meet; changing any step
//! (the stop list, the stemmer, the hash) means re-indexing every chunk.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// BM25 term-frequency saturation: how fast repeats of a term stop adding weight.
pub const DEFAULT_K1: f32 = 1.2;
/// BM25 length normalisation: 0 ignores document length, 1 normalises fully.
pub const DEFAULT_B: f32 = 0.75;

/// A sparse vector as the vector store takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVector {
    /// Term ids, strictly increasing: sorted with no duplicates.
    pub indices: Vec<u32>,
    /// The weight of each index, at the same position.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Builds a vector from `(index, value)` pairs in any order, adding up the values
    /// of an index that appears more than once.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, f32)>) -> Self {
        let mut merged: BTreeMap<u32, f32> = BTreeMap::new();
        for (index, value) in pairs {
            *merged.entry(index).or_insert(0.0) += value;
        }
        Self {
            indices: merged.keys().copied().collect(),
            values: merged.values().copied().collect(),
        }
    }

    /// True when the vector has no terms, as for a text of stop words only.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Encodes documents and queries. Build it with the average document length of the
/// collection, in terms as [`terms`] counts them ([`average_length`] computes it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SparseEncoder {
    pub k1: f32,
    pub b: f32,
    /// Average terms per document; a value that is not positive and finite turns
    /// length normalisation off.
    pub avg_doc_len: f32,
}

impl SparseEncoder {
    /// An encoder with the usual BM25 constants (k1 = 1.2, b = 0.75).
    pub fn new(avg_doc_len: f32) -> Self {
        Self {
            k1: DEFAULT_K1,
            b: DEFAULT_B,
            avg_doc_len,
        }
    }

    /// The document side: each term's saturated, length-normalised frequency,
    /// `tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_doc_len))`, where `len` is
    /// the document's number of terms.
    pub fn encode_document(&self, text: &str) -> SparseVector {
        let terms = terms(text);
        let frequencies = frequencies(&terms, term_id);
        let norm = self.length_norm(terms.len());
        let weights = frequencies.into_iter().map(|(id, tf)| {
            let tf = tf as f32;
            (id, tf * (self.k1 + 1.0) / (tf + self.k1 * norm))
        });
        SparseVector::from_pairs(weights)
    }

    fn length_norm(&self, doc_len: usize) -> f32 {
        if !(self.avg_doc_len.is_finite() && self.avg_doc_len > 0.0) {
            return 1.0;
        }
        1.0 - self.b + self.b * doc_len as f32 / self.avg_doc_len
    }
}

/// The query side: 1 for each distinct term; the store supplies IDF.
pub fn encode_query(text: &str) -> SparseVector {
    let frequencies = frequencies(&terms(text), term_id);
    SparseVector::from_pairs(frequencies.into_keys().map(|id| (id, 1.0)))
}

/// Average number of terms per text, the `avg_doc_len` of [`SparseEncoder`]; 0 for no
/// texts.
pub fn average_length<'a>(texts: impl IntoIterator<Item = &'a str>) -> f32 {
    let (mut total, mut count) = (0usize, 0usize);
    for text in texts {
        total += terms(text).len();
        count += 1;
    }
    if count == 0 {
        0.0
    } else {
        total as f32 / count as f32
    }
}

/// Term frequency per term id. Terms whose ids collide are counted as one term, which
/// is what keeps the vector free of duplicate indices.
fn frequencies(terms: &[String], id: impl Fn(&str) -> u32) -> BTreeMap<u32, u32> {
    let mut counts = BTreeMap::new();
    for term in terms {
        *counts.entry(id(term)).or_insert(0) += 1;
    }
    counts
}

/// The stable id of a term: 32-bit FNV-1a of its UTF-8 bytes.
pub fn term_id(term: &str) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    term.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(PRIME)
    })
}

/// The terms of a text in order: lowercase words, stop words and single letters
/// removed, each stemmed.
pub fn terms(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !is_stop_word(w) && !is_single_letter(w))
        .map(|w| stem(&w))
        .collect()
}

/// Lowercase runs of letters and digits. A `.` or `,` between two digits stays inside
/// the word, so "3,000" and "0.5" are one term each. Everything else separates words,
/// apostrophes included: "card's" gives "card" and "s", "l'argent" gives "l" and
/// "argent", and the stop list and single-letter rule drop the leftovers.
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if joins_digits(&chars, i) {
            current.push(c);
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn joins_digits(chars: &[char], i: usize) -> bool {
    let digit_at = |j: Option<usize>| {
        j.and_then(|j| chars.get(j))
            .is_some_and(char::is_ascii_digit)
    };
    matches!(chars[i], '.' | ',') && digit_at(i.checked_sub(1)) && digit_at(Some(i + 1))
}

fn is_single_letter(word: &str) -> bool {
    let mut chars = word.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if !c.is_numeric())
}

/// English function words, plus the pieces contractions leave once apostrophes split
/// them ("don", "ll", "ve"). Sorted, so lookup is a binary search.
const STOP_WORDS: &[&str] = &[
    "about", "after", "all", "also", "am", "an", "and", "any", "are", "aren", "as", "at", "be",
    "because", "been", "before", "being", "both", "but", "by", "can", "could", "couldn", "did",
    "didn", "do", "does", "doesn", "doing", "don", "each", "for", "from", "had", "has", "hasn",
    "have", "haven", "having", "he", "her", "here", "him", "his", "how", "if", "in", "into", "is",
    "isn", "it", "its", "just", "ll", "me", "more", "my", "no", "nor", "not", "of", "off", "on",
    "once", "only", "or", "other", "our", "out", "over", "re", "she", "should", "shouldn", "so",
    "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "until", "ve", "very", "was", "wasn", "we", "were",
    "weren", "what", "when", "where", "which", "while", "who", "why", "will", "with", "won",
    "would", "wouldn", "you", "your", "yours",
];

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// A light English suffix stripper, meant to make plural and inflected forms meet
/// ("cards" and "card", "charged", "charges" and "charge"), not to find linguistic
/// stems. It only touches words of lowercase ASCII letters, and every cut leaves a
/// vowel and at least three letters (two for plurals, so "ups" meets "up"). In order:
///
/// 1. plurals: `-sses` to `-ss`, `-ies` to `-y`, a final `-s` dropped (not `-ss`,
///    `-us` or `-is`);
/// 2. inflections: `-ied` to `-y`, `-ing` and `-ed` dropped, then a doubled final
///    consonant other than l, s or z undoubled ("transferred" to "transfer");
/// 3. a final `-e` dropped when four or more letters remain ("charge" to "charg").
///
/// Words in other languages pass through unchanged when they have letters outside
/// ASCII, and are cut by the same rules otherwise; both sides are cut alike, so
/// matching still works, only less generously than for English.
pub fn stem(word: &str) -> String {
    if word.len() < 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return word.to_owned();
    }
    let plural = strip_plural(word);
    let inflected = strip_inflection(&plural);
    drop_final_e(inflected)
}

fn strip_plural(word: &str) -> String {
    if let Some(stem) = cut(word, "sses", 2) {
        return format!("{stem}ss");
    }
    if let Some(stem) = cut(word, "ies", 2) {
        return format!("{stem}y");
    }
    if ["ss", "us", "is"].iter().any(|s| word.ends_with(s)) {
        return word.to_owned();
    }
    cut(word, "s", 2).map_or_else(|| word.to_owned(), str::to_owned)
}

fn strip_inflection(word: &str) -> String {
    if let Some(stem) = cut(word, "ied", 3) {
        return format!("{stem}y");
    }
    for suffix in ["ing", "ed"] {
        if let Some(stem) = cut(word, suffix, 3) {
            return undouble(stem);
        }
    }
    word.to_owned()
}

/// `word` without `suffix`, when what remains has at least `min` letters, a vowel
/// among them.
fn cut<'a>(word: &'a str, suffix: &str, min: usize) -> Option<&'a str> {
    let stem = word.strip_suffix(suffix)?;
    let has_vowel = stem.bytes().any(|b| b"aeiouy".contains(&b));
    (stem.len() >= min && has_vowel).then_some(stem)
}

fn undouble(stem: &str) -> String {
    let bytes = stem.as_bytes();
    let doubled = match bytes {
        [.., a, b] => a == b && !b"aeioulsz".contains(b),
        _ => false,
    };
    if doubled {
        stem[..stem.len() - 1].to_owned()
    } else {
        stem.to_owned()
    }
}

fn drop_final_e(word: String) -> String {
    match word.strip_suffix('e') {
        Some(stem) if stem.len() >= 3 => stem.to_owned(),
        _ => word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_sorted_without_duplicates(vector: &SparseVector) -> bool {
        vector.indices.windows(2).all(|w| w[0] < w[1])
            && vector.indices.len() == vector.values.len()
    }

    #[test]
    fn term_ids_are_fnv1a_32() {
        assert_eq!(term_id(""), 0x811c_9dc5);
        assert_eq!(term_id("a"), 0xe40c_292c);
        assert_eq!(term_id("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_stop_list_is_sorted_lowercase_and_unique() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(STOP_WORDS.iter().all(|w| *w == w.to_lowercase()));
    }

    #[test]
    fn the_stemmer_makes_common_forms_meet() {
        let cases = [
            ("cards", "card"),
            ("card", "card"),
            ("charges", "charg"),
            ("charged", "charg"),
            ("charging", "charg"),
            ("charge", "charg"),
            ("currencies", "currency"),
            ("applied", "apply"),
            ("transferred", "transfer"),
            ("transfers", "transfer"),
            ("topping", "top"),
            ("billing", "bill"),
            ("fees", "fee"),
            ("fee", "fee"),
            ("address", "address"),
            ("status", "status"),
            ("thing", "thing"),
            ("volée", "volée"),
            ("pin", "pin"),
            ("ups", "up"),
            ("boss", "boss"),
            ("classes", "class"),
        ];
        for (word, expected) in cases {
            assert_eq!(stem(word), expected, "case {word:?}");
        }
    }

    #[test]
    fn terms_are_lowercased_stop_filtered_and_stemmed() {
        let cases: [(&str, &[&str]); 6] = [
            ("My card was STOLEN!", &["card", "stolen"]),
            ("Why didn't my top-up arrive?", &["top", "up", "arriv"]),
            ("Top-ups of £3,000 or 0.5%", &["top", "up", "3,000", "0.5"]),
            ("the card's PIN", &["card", "pin"]),
            ("Carte perdue ou volée", &["cart", "perdu", "ou", "volée"]),
            ("😀 !!! …", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(terms(text), expected, "case {text:?}");
        }
    }

    #[test]
    fn vectors_are_sorted_and_deduplicated() {
        let encoder = SparseEncoder::new(20.0);
        let text = "card card card fee fee PIN frozen freeze cards Karte carte 卡 😀";
        for vector in [encoder.encode_document(text), encode_query(text)] {
            assert!(is_sorted_without_duplicates(&vector), "{vector:?}");
            assert!(vector.values.iter().all(|v| v.is_finite() && *v > 0.0));
        }
        assert!(encode_query(text).values.iter().all(|v| *v == 1.0));
    }

    #[test]
    fn the_same_text_gives_the_same_vector() {
        let encoder = SparseEncoder::new(30.0);
        let text = "How long does a SEPA transfer take? Transfers sent before 14:00 arrive today.";
        assert_eq!(encoder.encode_document(text), encoder.encode_document(text));
        assert_eq!(encode_query(text), encode_query(text));
        assert_eq!(encode_query("Card STOLEN"), encode_query("stolen cards"));
    }

    #[test]
    fn colliding_terms_are_merged_into_one_index() {
        let terms: Vec<String> = ["alpha", "beta", "alpha"].map(String::from).to_vec();
        let merged = frequencies(&terms, |_| 7);
        assert_eq!(merged.into_iter().collect::<Vec<_>>(), [(7, 3)]);

        let vector = SparseVector::from_pairs([(9, 1.0), (3, 0.5), (9, 2.0)]);
        assert_eq!(vector.indices, [3, 9]);
        assert_eq!(vector.values, [0.5, 3.0]);
    }

    #[test]
    fn document_weights_saturate_and_normalise_by_length() {
        let encoder = SparseEncoder::new(4.0);
        let weight = |text: &str| {
            let vector = encoder.encode_document(text);
            let at = vector.indices.iter().position(|i| *i == term_id("card"));
            vector.values[at.expect("card is a term")]
        };
        // Four terms, the average length: tf 1 gives exactly 1.
        assert!((weight("card fee pin freez") - 1.0).abs() < 1e-6);
        // More repeats weigh more, but never past k1 + 1.
        let (one, two, many) = (
            weight("card a"),
            weight("card card"),
            weight(&"card ".repeat(50)),
        );
        assert!(one < two && many < DEFAULT_K1 + 1.0, "{one} {two} {many}");
        // The same single mention weighs less in a longer document.
        assert!(weight("card fee pin freez atm limit top transfer") < weight("card fee"));
    }

    #[test]
    fn an_unusable_average_length_turns_normalisation_off() {
        for avg in [0.0, -3.0, f32::NAN, f32::INFINITY] {
            let vector = SparseEncoder::new(avg).encode_document("card fee pin");
            assert!(
                vector.values.iter().all(|v| (*v - 1.0).abs() < 1e-6),
                "case {avg}"
            );
        }
    }

    #[test]
    fn stop_words_and_empty_text_give_empty_vectors() {
        let encoder = SparseEncoder::new(10.0);
        for text in ["", "the and of", "😀😀", "\r\n"] {
            assert!(encoder.encode_document(text).is_empty(), "case {text:?}");
            assert!(encode_query(text).is_empty(), "case {text:?}");
        }
    }

    #[test]
    fn the_average_length_counts_terms() {
        assert_eq!(average_length(["card fee", "the card pin stolen"]), 2.5);
        assert_eq!(average_length([]), 0.0);
    }
}
