//! Splitting an article into passages that are retrieved, embedded and cited on their
//! own.
//!
//! An article is first cut at its headings into sections, each with its heading path
//! and anchor. A section that fits `max_tokens` is one chunk. A longer one is cut at the
//! best boundary near the limit (a paragraph break, else a line or sentence end, else
//! between words) and the next chunk repeats up to `overlap_tokens` of the previous one,
//! starting at a sentence when it can. A chunk never starts or ends inside a word, so
//! a single word longer than the limit is the only way to exceed it.

use serde::{Deserialize, Serialize};

use super::article::Article;
use super::citation::{Anchors, article_url};
use super::tokens::TokenCounter;

/// How big chunks are. [`Default`] gives 200 tokens with 40 of overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkSettings {
    /// Upper bound on the tokens of a chunk's `text`. The title and headings added for
    /// embedding come on top, so leave the encoder that much room.
    pub max_tokens: usize,
    /// Tokens a chunk repeats from the end of the previous chunk of the same section.
    pub overlap_tokens: usize,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        Self {
            max_tokens: 200,
            overlap_tokens: 40,
        }
    }
}

/// Why chunk settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkSettingsError {
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
    #[error("overlap_tokens ({overlap}) must be at most half of max_tokens ({max})")]
    OverlapTooLarge { overlap: usize, max: usize },
}

impl ChunkSettings {
    /// Checks the settings, for configuration loading; [`chunk_article`] itself clamps
    /// bad values instead of failing.
    pub fn validate(&self) -> Result<(), ChunkSettingsError> {
        if self.max_tokens == 0 {
            return Err(ChunkSettingsError::ZeroMaxTokens);
        }
        if self.overlap_tokens > self.max_tokens / 2 {
            return Err(ChunkSettingsError::OverlapTooLarge {
                overlap: self.overlap_tokens,
                max: self.max_tokens,
            });
        }
        Ok(())
    }

    /// The limits actually used: at least one token, overlap at most half of it, so
    /// every chunk moves the cut forward.
    fn clamped(&self) -> (usize, usize) {
        let max = self.max_tokens.max(1);
        (max, self.overlap_tokens.min(max / 2))
    }
}

/// One passage of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub article_id: String,
    /// Position in the article, counting from 0 without gaps.
    pub index: usize,
    /// Headings above the passage, outermost first; empty before the first heading.
    pub heading_path: Vec<String>,
    /// The passage as written in the article, shown to customers.
    pub text: String,
    /// The title and headings, then the passage: what the encoders read.
    pub embed_text: String,
    /// Citation URL, anchored at the nearest heading below the title.
    pub url: String,
    /// Tokens in `text` by the counter used to chunk.
    pub tokens: usize,
}

/// Splits an article's body into chunks in document order. An empty body gives none.
pub fn chunk_article(
    article: &Article,
    settings: &ChunkSettings,
    counter: &dyn TokenCounter,
) -> Vec<Chunk> {
    let (max, overlap) = settings.clamped();
    let mut chunks = Vec::new();
    for section in sections(&article.body) {
        for (text, tokens) in split_section(&section.text, max, overlap, counter) {
            chunks.push(Chunk {
                article_id: article.id.clone(),
                index: chunks.len(),
                embed_text: embed_text(&article.title, &section.path, &text),
                heading_path: section.path.clone(),
                text,
                url: article_url(&article.id, section.anchor.as_deref()),
                tokens,
            });
        }
    }
    chunks
}

/// The title, then the headings that differ from it joined by ` > `, then the text.
fn embed_text(title: &str, path: &[String], text: &str) -> String {
    let same_as_title = |h: &&String| h.trim().eq_ignore_ascii_case(title.trim());
    let headings: Vec<&str> = path
        .iter()
        .filter(|h| !same_as_title(h))
        .map(String::as_str)
        .collect();
    if headings.is_empty() {
        format!("{title}\n\n{text}")
    } else {
        format!("{title}\n{}\n\n{text}", headings.join(" > "))
    }
}

/// Text under one heading, up to the next heading of any level.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    path: Vec<String>,
    /// Anchor of the deepest heading, unless that is the level-1 title.
    anchor: Option<String>,
    text: String,
}

/// Walks the body's lines, keeping the heading stack and the current section's lines.
#[derive(Default)]
struct SectionReader<'a> {
    stack: Vec<(usize, String)>,
    anchors: Anchors,
    anchor: Option<String>,
    lines: Vec<&'a str>,
    /// The marker of the open code fence, if inside one; `#` lines there are code.
    fence: Option<&'static str>,
    done: Vec<Section>,
}

fn sections(body: &str) -> Vec<Section> {
    let mut reader = SectionReader::default();
    for line in body.lines() {
        reader.line(line);
    }
    reader.flush();
    reader.done
}

impl<'a> SectionReader<'a> {
    fn line(&mut self, line: &'a str) {
        self.track_fence(line);
        match heading(line).filter(|_| self.fence.is_none()) {
            Some((level, text)) => self.heading(level, text),
            None => self.lines.push(line),
        }
    }

    fn track_fence(&mut self, line: &str) {
        self.fence = fence_after(self.fence, line);
    }

    fn heading(&mut self, level: usize, text: &str) {
        self.flush();
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        self.stack.push((level, text.to_owned()));

        // Every heading takes its anchor so repeated slugs are numbered like the
        // renderer numbers them, but the title's anchor would only point at the top.
        let anchor = self.anchors.next(text);
        self.anchor = (level > 1).then_some(anchor);
    }

    fn flush(&mut self) {
        let text = self.lines.join("\n").trim().to_owned();
        self.lines.clear();
        if text.is_empty() {
            return;
        }
        self.done.push(Section {
            path: self.stack.iter().map(|(_, h)| h.clone()).collect(),
            anchor: self.anchor.clone(),
            text,
        });
    }
}

/// The code fence open after `line`, given the one open before it: a line starting
/// with ```` ``` ```` or `~~~` opens a fence, and the same marker closes it. The help
/// page renderer follows the same rule, so both agree on which lines are headings.
pub(super) fn fence_after(open: Option<&'static str>, line: &str) -> Option<&'static str> {
    let trimmed = line.trim_start();
    let mut fence = open;
    for marker in ["```", "~~~"] {
        if trimmed.starts_with(marker) {
            fence = match fence {
                None => Some(marker),
                Some(open) if open == marker => None,
                other => other,
            };
        }
    }
    fence
}

/// An ATX heading (`#` to `######`, then a space): its level and text.
pub(super) fn heading(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let trimmed = line.trim_start_matches(' ');
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    let rest = &trimmed[level..];
    if indent > 3 || !(1..=6).contains(&level) {
        return None;
    }
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim();
    (!text.is_empty()).then_some((level, text))
}

/// How strong the boundary after a word is; a cut prefers the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    Word,
    /// A sentence end or a line break (list items and table rows are lines).
    Sentence,
    Paragraph,
}

/// A whitespace-separated word of a section: its byte span, tokens and the boundary
/// after it.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    after: Break,
}

/// The words of one section with a running token total.
struct Words<'a> {
    text: &'a str,
    words: Vec<Word>,
    /// `prefix[i]` is the tokens of the first `i` words, counted word by word.
    prefix: Vec<usize>,
}

fn split_section(
    text: &str,
    max: usize,
    overlap: usize,
    counter: &dyn TokenCounter,
) -> Vec<(String, usize)> {
    let total = counter.count(text);
    if total <= max {
        return vec![(text.to_owned(), total)];
    }

    let words = Words::new(text, counter);
    let mut pieces = Vec::new();
    let (mut start, mut last_end) = (0, 0);
    loop {
        let mut end = words.cut(start, max, counter);
        if end <= last_end {
            // The overlap left no room for a new word (the next one is very long), so
            // this chunk starts fresh instead of repeating a shorter copy.
            start = last_end;
            end = words.cut(start, max, counter);
        }
        last_end = end;
        let piece = words.slice(start, end);
        pieces.push((piece.to_owned(), counter.count(piece)));
        if end == words.len() {
            return pieces;
        }
        start = words.overlap_start(start, end, overlap);
    }
}

impl<'a> Words<'a> {
    fn new(text: &'a str, counter: &dyn TokenCounter) -> Self {
        let words = word_spans(text);
        let mut prefix = vec![0];
        for word in &words {
            let total = prefix.last().copied().unwrap_or(0);
            prefix.push(total + counter.count(&text[word.start..word.end]));
        }
        Self {
            text,
            words,
            prefix,
        }
    }

    fn len(&self) -> usize {
        self.words.len()
    }

    /// Words `start..end` with the text between them as written.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        &self.text[self.words[start].start..self.words[end - 1].end]
    }

    fn tokens(&self, start: usize, end: usize) -> usize {
        self.prefix[end] - self.prefix[start]
    }

    /// Where the chunk starting at word `start` ends (exclusive): always at least one
    /// word, and within `max` by the counter unless that one word is longer.
    fn cut(&self, start: usize, max: usize, counter: &dyn TokenCounter) -> usize {
        let mut end = start;
        while end < self.len() && self.tokens(start, end + 1) <= max {
            end += 1;
        }
        if end == start {
            return start + 1;
        }
        if end < self.len() {
            end = self.best_break(start, end, max);
        }

        // Word-by-word counts add up for the estimate, but a real tokenizer may count
        // the joined text differently; its count of the piece is what must hold.
        while end > start + 1 && counter.count(self.slice(start, end)) > max {
            end -= 1;
        }
        end
    }

    /// The latest strongest boundary in `start..=limit` that keeps at least half of
    /// `max` in the chunk, so a paragraph break near the start does not waste a chunk.
    fn best_break(&self, start: usize, limit: usize, max: usize) -> usize {
        let long_enough = |end: usize| self.tokens(start, end) * 2 >= max;
        let candidates = (start + 1..=limit).filter(|&end| long_enough(end));
        candidates
            .max_by_key(|&end| (self.words[end - 1].after, end))
            .unwrap_or(limit)
    }

    /// Where the chunk after `start..end` begins: as far back as `overlap` tokens
    /// allow, moved forward to a sentence start inside that span if there is one,
    /// and always after `start`.
    fn overlap_start(&self, start: usize, end: usize, overlap: usize) -> usize {
        let mut from = end;
        while from > start + 1 && self.tokens(from - 1, end) <= overlap {
            from -= 1;
        }
        let sentence_start = (from..end).find(|&i| self.words[i - 1].after >= Break::Sentence);
        sentence_start.unwrap_or(from)
    }
}

/// Whitespace-separated words with the boundary after each; the last word ends a
/// paragraph.
fn word_spans(text: &str) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                words.push(Word {
                    start: s,
                    end: i,
                    after: Break::Paragraph,
                });
                start = None;
            }
            _ => {}
        }
    }
    for i in 1..words.len() {
        let gap = &text[words[i - 1].end..words[i].start];
        let word = &text[words[i - 1].start..words[i - 1].end];
        words[i - 1].after = boundary(word, gap);
    }
    words
}

fn boundary(word: &str, gap: &str) -> Break {
    match gap.matches('\n').count() {
        0 if ends_sentence(word) => Break::Sentence,
        0 => Break::Word,
        1 => Break::Sentence,
        _ => Break::Paragraph,
    }
}

/// A word ending in `.`, `!`, `?` or `…`, perhaps followed by closing quotes,
/// brackets or Markdown emphasis.
fn ends_sentence(word: &str) -> bool {
    let closers: &[char] = &['"', '\'', ')', ']', '*', '_', '”', '’', '»'];
    let core = word.trim_end_matches(closers);
    core.ends_with(['.', '!', '?', '…', '。', '！', '？'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::knowledge::tokens::WordPieceEstimate;

    fn article(body: &str) -> Article {
        Article {
            id: "card-lost".into(),
            title: "Lost card".into(),
            tags: Vec::new(),
            language: "en".into(),
            updated: None,
            body: body.into(),
            content_hash: String::new(),
            file: "card-lost.md".into(),
        }
    }

    fn chunks(body: &str, max_tokens: usize, overlap_tokens: usize) -> Vec<Chunk> {
        let settings = ChunkSettings {
            max_tokens,
            overlap_tokens,
        };
        chunk_article(&article(body), &settings, &WordPieceEstimate)
    }

    /// `count` distinct words, `w0 w1 …`, each one token by the estimate.
    fn numbered_words(count: usize) -> String {
        let words: Vec<String> = (0..count).map(|i| format!("w{i}")).collect();
        words.join(" ")
    }

    #[test]
    fn sections_keep_their_heading_path_and_anchor() {
        let body = "# Lost card\n\nIntro.\n\n## Step 1: Freeze\n\nTap Freeze.\n\n\
            ### By phone\n\nCall us.\n\n## Step 2\n\nCheck.\n";
        let got: Vec<(Vec<String>, String, String)> = chunks(body, 200, 40)
            .into_iter()
            .map(|c| (c.heading_path, c.text, c.url))
            .collect();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [
                (
                    path(&["Lost card"]),
                    "Intro.".into(),
                    "/help/card-lost".into()
                ),
                (
                    path(&["Lost card", "Step 1: Freeze"]),
                    "Tap Freeze.".into(),
                    "/help/card-lost#step-1-freeze".into()
                ),
                (
                    path(&["Lost card", "Step 1: Freeze", "By phone"]),
                    "Call us.".into(),
                    "/help/card-lost#by-phone".into()
                ),
                (
                    path(&["Lost card", "Step 2"]),
                    "Check.".into(),
                    "/help/card-lost#step-2".into()
                ),
            ]
        );
    }

    #[test]
    fn indexes_count_from_zero_without_gaps() {
        let body = format!("## A\n\n{}\n\n## B\n\nShort.", numbered_words(500));
        let got = chunks(&body, 100, 20);
        assert!(got.len() > 5, "{}", got.len());
        for (i, chunk) in got.iter().enumerate() {
            assert_eq!(chunk.index, i);
        }
    }

    #[test]
    fn a_section_that_fits_stays_whole() {
        let body = "## Fees\n\nFirst paragraph.\n\nSecond paragraph.\n\n- a list\n- of items";
        let got = chunks(body, 200, 40);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].text,
            "First paragraph.\n\nSecond paragraph.\n\n- a list\n- of items"
        );
    }

    #[test]
    fn the_embedding_text_leads_with_the_title_and_headings() {
        let got = chunks("# Lost card\n\n## Step 1\n\nTap Freeze.", 200, 40);
        assert_eq!(got[0].embed_text, "Lost card\nStep 1\n\nTap Freeze.");
        assert_eq!(got[0].text, "Tap Freeze.");
        let untitled = chunks("Just text.", 200, 40);
        assert_eq!(untitled[0].embed_text, "Lost card\n\nJust text.");
    }

    #[test]
    fn consecutive_chunks_overlap_by_at_most_the_overlap() {
        let got = chunks(&numbered_words(1_000), 100, 20);
        for pair in got.windows(2) {
            let first_next = pair[1].text.split(' ').next().expect("a word");
            let prev_words: Vec<&str> = pair[0].text.split(' ').collect();
            let at = prev_words
                .iter()
                .position(|w| *w == first_next)
                .expect("the next chunk starts inside the previous one");
            let repeated = prev_words.len() - at;
            assert!((1..=20).contains(&repeated), "repeated {repeated}");
            assert!(pair[1].text.starts_with(&prev_words[at..].join(" ")));
        }
        assert!(got.iter().all(|c| c.tokens <= 100));
        assert!(got.last().expect("chunks").text.ends_with("w999"));
    }

    #[test]
    fn no_overlap_means_chunks_partition_the_text() {
        let text = numbered_words(450);
        let got = chunks(&text, 100, 0);
        let joined: Vec<&str> = got.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined.join(" "), text);
    }

    #[test]
    fn a_cut_prefers_a_paragraph_then_a_sentence_boundary() {
        // 60 words, a paragraph break, 60 words: one chunk per paragraph at a limit of 100.
        let body = format!("{}\n\n{}", numbered_words(60), numbered_words(60));
        let got = chunks(&body, 100, 0);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].text, numbered_words(60));

        let sentences = format!(
            "{}. {}. {}.",
            numbered_words(40),
            numbered_words(40),
            numbered_words(40)
        );
        let got = chunks(&sentences, 100, 0);
        assert!(got[0].text.ends_with('.'), "{:?}", got[0].text);
        assert_eq!(got[0].tokens, 82);
    }

    #[test]
    fn the_overlap_starts_at_a_sentence_when_one_is_near() {
        // The cut falls at the paragraph break; the overlap then begins at "Again".
        let text = format!(
            "{}. Again {}\n\n{}",
            numbered_words(60),
            numbered_words(30),
            numbered_words(60)
        );
        let got = chunks(&text, 100, 40);
        assert!(got[1].text.starts_with("Again"), "{:?}", &got[1].text[..20]);
    }

    #[test]
    fn a_word_longer_than_the_limit_is_its_own_chunk() {
        let long = "x".repeat(1_000);
        let body = format!("before {long} after");
        let got = chunks(&body, 50, 10);
        let texts: Vec<&str> = got.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["before", long.as_str(), "after"]);
    }

    #[test]
    fn hostile_bodies_are_chunked_within_bounds() {
        let huge = numbered_words(5_000);
        let emoji = "😀".repeat(50);
        let spaced_emoji = "😀 ".repeat(500);
        let cases = [
            ("empty body", "", 0),
            ("only whitespace", " \n\n\t ", 0),
            ("headings only", "# A\n## B\n### C", 0),
            ("no headings", "Just a line.\n\nAnd another.", 1),
            ("emoji only", emoji.as_str(), 1),
            ("many spaced emoji", spaced_emoji.as_str(), 3),
            ("one 5,000-word paragraph", huge.as_str(), 31),
            ("crlf line endings", "## A\r\n\r\nText.\r\n## B\r\nMore.", 2),
            (
                "hash inside a code fence",
                "## A\n```\n# not a heading\n```",
                1,
            ),
        ];
        for (what, body, expected) in cases {
            let got = chunks(body, 200, 40);
            assert_eq!(got.len(), expected, "case {what}");
            for chunk in &got {
                assert!(chunk.tokens <= 200, "case {what}: {} tokens", chunk.tokens);
                assert!(!chunk.text.trim().is_empty(), "case {what}");
                assert!(!chunk.text.contains('\r'), "case {what}");
            }
        }
    }

    #[test]
    fn a_repeated_heading_gets_its_own_anchor() {
        let body = "## Fees\n\nA.\n\n## Limits\n\nB.\n\n## Fees\n\nC.";
        let urls: Vec<String> = chunks(body, 200, 40).into_iter().map(|c| c.url).collect();
        assert_eq!(
            urls,
            [
                "/help/card-lost#fees",
                "/help/card-lost#limits",
                "/help/card-lost#fees-1"
            ]
        );
    }

    #[test]
    fn settings_are_validated_and_clamped() {
        let bad = |max_tokens, overlap_tokens| ChunkSettings {
            max_tokens,
            overlap_tokens,
        };
        assert_eq!(ChunkSettings::default().validate(), Ok(()));
        assert_eq!(bad(0, 0).validate(), Err(ChunkSettingsError::ZeroMaxTokens));
        assert!(bad(100, 60).validate().is_err());
        assert_eq!(bad(0, 10).clamped(), (1, 0));
        assert_eq!(bad(100, 80).clamped(), (100, 50));
    }
}
