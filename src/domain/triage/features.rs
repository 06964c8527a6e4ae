//! Text to sparse TF-IDF vectors for the intent model.
//!
//! The vocabulary is keyed by a 64-bit hash of each term, so the hot path never allocates a
//! string per term; names are rebuilt only when an explanation asks for them. This module
//! must never look at labels: it only knows text.

use std::collections::HashMap;

/// How many characters of a message are looked at; longer text adds cost, not meaning.
pub(crate) const MAX_CHARS: usize = 2_000;

/// One sparse vector: parallel arrays of strictly increasing feature indices and values.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseVec {
    pub(crate) idx: Vec<u32>,
    pub(crate) val: Vec<f32>,
}

impl SparseVec {
    /// Sum of squared values, used by the solver's step size.
    pub(crate) fn norm_sq(&self) -> f32 {
        self.val.iter().map(|v| v * v).sum()
    }
}

/// Which families of terms are extracted, and how heavily word terms count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    pub word_bigrams: bool,
    pub char_min: usize,
    pub char_max: usize,
    /// Multiplier on word terms before normalisation (char terms count 1).
    pub word_weight: f32,
    /// Terms seen in fewer training texts than this are dropped.
    pub min_df: u32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            word_bigrams: true,
            char_min: 2,
            char_max: 5,
            word_weight: 2.0,
            min_df: 1,
        }
    }
}

/// Lower-cases, maps every decimal digit to `0` and spells out common English contractions,
/// so "can't pay 50" and "cannot pay 20" share most of their terms.
pub(crate) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4) + 8);
    for ch in text.chars().take(MAX_CHARS) {
        match ch {
            '\u{2019}' | '\u{2018}' | '`' => out.push('\''),
            c if c.is_numeric() => out.push('0'),
            c => out.extend(c.to_lowercase()),
        }
    }
    expand_contractions(&out)
}

fn expand_contractions(text: &str) -> String {
    const PAIRS: [(&str, &str); 7] = [
        ("won't", "will not"),
        ("n't", " not"),
        ("'m", " am"),
        ("'re", " are"),
        ("'ve", " have"),
        ("'ll", " will"),
        ("'d", " would"),
    ];
    if !text.contains('\'') {
        return text.to_owned();
    }
    PAIRS
        .iter()
        .fold(text.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

/// Splits normalised text into word tokens (runs of letters and digits).
pub(crate) fn tokens(normalised: &str) -> impl Iterator<Item = &str> {
    normalised
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// Calls `emit(term, is_word_term)` for every term of the text: words, word bigrams and
/// character n-grams taken inside each space-padded word.
pub(crate) fn for_each_term(text: &str, cfg: &FeatureConfig, emit: &mut impl FnMut(&str, bool)) {
    let norm = normalise(text);
    let toks: Vec<&str> = tokens(&norm).collect();
    let mut buf = String::with_capacity(64);
    for (i, tok) in toks.iter().enumerate() {
        buf.clear();
        buf.push_str("w:");
        buf.push_str(tok);
        emit(&buf, true);
        if cfg.word_bigrams && i + 1 < toks.len() {
            buf.clear();
            buf.push_str("b:");
            buf.push_str(tok);
            buf.push(' ');
            buf.push_str(toks[i + 1]);
            emit(&buf, true);
        }
        char_ngrams(tok, cfg, &mut buf, emit);
    }
}

fn char_ngrams(
    tok: &str,
    cfg: &FeatureConfig,
    buf: &mut String,
    emit: &mut impl FnMut(&str, bool),
) {
    let mut chars: Vec<char> = Vec::with_capacity(tok.len() + 2);
    chars.push(' ');
    chars.extend(tok.chars());
    chars.push(' ');
    for n in cfg.char_min..=cfg.char_max {
        for window in chars.windows(n) {
            buf.clear();
            buf.push_str("c:");
            buf.extend(window.iter());
            emit(buf, false);
        }
    }
}

/// FNV-1a: tiny, stable across builds and platforms, good enough for a vocabulary key.
pub(crate) fn hash_term(term: &str) -> u64 {
    term.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A fitted vocabulary: term hash to feature index, and each feature's IDF weight.
#[derive(Debug, Clone)]
pub(crate) struct Vectorizer {
    cfg: FeatureConfig,
    index: HashMap<u64, u32>,
    idf: Vec<f32>,
}

impl Vectorizer {
    /// Learns the vocabulary and IDF weights from the training texts.
    pub(crate) fn fit(texts: &[&str], cfg: FeatureConfig) -> Self {
        let df = document_frequencies(texts, &cfg);
        let n_docs = texts.len() as f32;
        let mut kept: Vec<(u64, u32)> = df.into_iter().filter(|(_, d)| *d >= cfg.min_df).collect();
        // Sorting makes the feature order, and so training, reproducible run to run.
        kept.sort_unstable();
        let mut index = HashMap::with_capacity(kept.len());
        let mut idf = Vec::with_capacity(kept.len());
        for (i, (hash, d)) in kept.into_iter().enumerate() {
            index.insert(hash, i as u32);
            idf.push(((1.0 + n_docs) / (1.0 + d as f32)).ln() + 1.0);
        }
        Self { cfg, index, idf }
    }

    /// Number of features in the vocabulary.
    pub(crate) fn len(&self) -> usize {
        self.idf.len()
    }

    /// The feature configuration this vocabulary was fitted with.
    pub(crate) fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Feature index of one term string, if the term was seen in training.
    pub(crate) fn lookup(&self, term: &str) -> Option<u32> {
        self.index.get(&hash_term(term)).copied()
    }

    /// Sublinear-TF times IDF, L2-normalised; unknown terms are ignored.
    pub(crate) fn transform(&self, text: &str) -> SparseVec {
        let mut hits: Vec<(u32, bool)> = Vec::with_capacity(text.len() * 4);
        for_each_term(text, &self.cfg, &mut |term, is_word| {
            if let Some(&i) = self.index.get(&hash_term(term)) {
                hits.push((i, is_word));
            }
        });
        hits.sort_unstable();
        let mut out = self.weigh(&hits);
        normalise_l2(&mut out.val);
        out
    }

    fn weigh(&self, hits: &[(u32, bool)]) -> SparseVec {
        let mut out = SparseVec::default();
        let mut start = 0;
        while start < hits.len() {
            let (feature, is_word) = hits[start];
            let run = hits[start..].iter().take_while(|h| h.0 == feature).count();
            let tf = 1.0 + (run as f32).ln();
            let block = if is_word { self.cfg.word_weight } else { 1.0 };
            out.idx.push(feature);
            out.val.push(tf * self.idf[feature as usize] * block);
            start += run;
        }
        out
    }
}

fn document_frequencies(texts: &[&str], cfg: &FeatureConfig) -> HashMap<u64, u32> {
    let mut df: HashMap<u64, u32> = HashMap::new();
    let mut seen: Vec<u64> = Vec::new();
    for text in texts {
        seen.clear();
        for_each_term(text, cfg, &mut |term, _| seen.push(hash_term(term)));
        seen.sort_unstable();
        seen.dedup();
        for h in &seen {
            *df.entry(*h).or_insert(0) += 1;
        }
    }
    df
}

fn normalise_l2(values: &mut [f32]) {
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        values.iter_mut().for_each(|v| *v /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_folds_case_digits_and_contractions() {
        assert_eq!(normalise("I CAN'T pay £25"), "i ca not pay £00");
        assert_eq!(normalise("won\u{2019}t"), "will not");
        assert_eq!(normalise("pay \u{ff15}"), "pay 0");
    }

    #[test]
    fn vectors_are_unit_length_sorted_and_ignore_unknown_terms() {
        let v = Vectorizer::fit(
            &["my card is lost", "top up failed"],
            FeatureConfig::default(),
        );
        let x = v.transform("my card failed");
        let norm: f32 = x.norm_sq();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        assert!(x.idx.windows(2).all(|w| w[0] < w[1]));
        assert!(
            v.transform("😀 zzzz").idx.len() <= 2,
            "only edge n-grams can match"
        );
        assert!(v.transform("").idx.is_empty());
    }
}
