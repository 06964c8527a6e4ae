//! Checks over the articles shipped in `knowledge-base/`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

use super::*;

fn shipped() -> &'static [Article] {
    static ARTICLES: OnceLock<Vec<Article>> = OnceLock::new();
    ARTICLES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge-base");
        load_dir(&dir).expect("every shipped article parses")
    })
}

#[test]
fn every_shipped_article_parses_and_there_are_at_least_forty() {
    let articles = shipped();
    assert!(articles.len() >= 40, "only {} articles", articles.len());
    assert!(articles.iter().all(|a| a.file != "README.md"));
    for article in articles {
        assert_eq!(
            format!("{}.md", article.id),
            article.file,
            "{}",
            article.file
        );
        assert!(["en", "de", "fr"].contains(&article.language.as_str()));
        assert!(!article.tags.is_empty(), "{} has no tags", article.id);
    }
}

#[test]
fn shipped_article_ids_are_unique_and_in_file_name_order() {
    let articles = shipped();
    let ids: HashSet<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), articles.len());
    let files: Vec<&str> = articles.iter().map(|a| a.file.as_str()).collect();
    assert!(files.is_sorted(), "{files:?}");
}

#[test]
fn every_shipped_article_chunks_within_bounds() {
    let settings = ChunkSettings::default();
    for article in shipped() {
        let chunks = chunk_article(article, &settings, &WordPieceEstimate);
        assert!(!chunks.is_empty(), "{} has no chunks", article.id);
        for chunk in &chunks {
            let one_word = !chunk.text.contains(char::is_whitespace);
            assert!(
                chunk.tokens <= settings.max_tokens || one_word,
                "{} chunk {} has {} tokens",
                article.id,
                chunk.index,
                chunk.tokens
            );
            assert!(
                !chunk.heading_path.is_empty(),
                "{} chunk {}",
                article.id,
                chunk.index
            );
            assert!(chunk.url.starts_with(&format!("/help/{}", article.id)));
            assert!(chunk.embed_text.starts_with(&article.title));
        }
    }
}

#[test]
fn the_lost_card_article_keeps_its_headings() {
    let article = shipped()
        .iter()
        .find(|a| a.id == "card-lost-or-stolen")
        .expect("shipped");
    let chunks = chunk_article(article, &ChunkSettings::default(), &WordPieceEstimate);
    let freeze = chunks
        .iter()
        .find(|c| c.text.contains("Freeze card"))
        .expect("a chunk about freezing");
    assert_eq!(
        freeze.heading_path,
        [
            "What to do if your card is lost or stolen",
            "Step 1: Freeze the card"
        ]
    );
    assert_eq!(
        freeze.url,
        "/help/card-lost-or-stolen#step-1-freeze-the-card"
    );
}

#[test]
fn a_missing_directory_is_reported_by_path() {
    let error = load_dir(Path::new("/nonexistent/knowledge")).expect_err("no such directory");
    assert!(
        error.to_string().contains("/nonexistent/knowledge"),
        "{error}"
    );
}

#[test]
fn every_shipped_chunk_gets_a_clean_sparse_vector() {
    let chunks: Vec<Chunk> = shipped()
        .iter()
        .flat_map(|a| chunk_article(a, &ChunkSettings::default(), &WordPieceEstimate))
        .collect();
    let average = sparse::average_length(chunks.iter().map(|c| c.embed_text.as_str()));
    assert!(average > 10.0, "{average}");

    let encoder = SparseEncoder::new(average);
    for chunk in &chunks {
        let vector = encoder.encode_document(&chunk.embed_text);
        let sorted = vector.indices.windows(2).all(|w| w[0] < w[1]);
        assert!(sorted, "{} chunk {}", chunk.article_id, chunk.index);
        assert_eq!(vector.indices.len(), vector.values.len());
        assert!(
            !vector.is_empty(),
            "{} chunk {}",
            chunk.article_id,
            chunk.index
        );
    }
}

#[test]
fn every_shipped_citation_anchor_is_a_heading_of_the_rendered_page() {
    let mut anchors = 0;
    for article in shipped() {
        let html = render_markdown(&article.body);
        for chunk in chunk_article(article, &ChunkSettings::default(), &WordPieceEstimate) {
            let Some((_, anchor)) = chunk.url.split_once('#') else {
                continue;
            };
            let target = format!(" id=\"{anchor}\"");
            assert!(html.contains(&target), "{} has no {target}", article.id);
            anchors += 1;
        }
    }
    assert!(anchors > 100, "only {anchors} anchored citations checked");
}

#[test]
fn shipped_articles_render_without_leftover_markers() {
    for article in shipped() {
        let html = render_markdown(&article.body);
        for marker in ["**", "](", "<p>|", "<p>- ", "<p>1. "] {
            assert!(!html.contains(marker), "{} shows {marker:?}", article.id);
        }
    }
}
