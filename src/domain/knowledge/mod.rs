//! The help centre as retrieval sees it: articles, the cited passages they are cut
//! into, the sparse lexical vectors of those passages, and the fusion of ranked lists.
//!
//! This is the pure core under grounded answers. Articles are parsed from Markdown
//! with front matter ([`article`]) and cut into passages along their headings
//! ([`chunk`]), with token counts from a [`TokenCounter`] ([`tokens`]) and citation
//! URLs from [`citation`]. Passages and queries become BM25-style sparse vectors
//! ([`sparse`]), and the sparse and dense result lists are merged by reciprocal rank
//! fusion ([`fusion`]). [`render`] turns an article body into the HTML of its public
//! page, with the heading anchors citations point at.
//!
//! Nothing here talks to the vector store, an encoder or the network, reads a clock or
//! logs; [`load_dir`] is the single function that reads files, and it only reads. The
//! code must never log article or query text.

pub mod article;
pub mod chunk;
pub mod citation;
pub mod fusion;
pub mod render;
pub mod sparse;
pub mod tokens;

pub use article::{
    Article, ArticleProblem, LoadArticlesError, ParseArticleError, load_dir, parse_article,
    parse_articles,
};
pub use chunk::{Chunk, ChunkSettings, ChunkSettingsError, chunk_article};
pub use citation::{ARTICLE_URL, article_url, heading_slug};
pub use fusion::{Contribution, DEFAULT_RRF_K, Fused, RankedList, reciprocal_rank_fusion};
pub use render::{escape_html, render_markdown, safe_href};
pub use sparse::{SparseEncoder, SparseVector, encode_query};
pub use tokens::{TokenCounter, WordPieceEstimate};

#[cfg(test)]
mod tests;
