//! The help centre as retrieval sees it: articles and the cited passages they are cut
//! into.
//!
//! This is the pure core under grounded answers. Articles are parsed from Markdown
//! with front matter ([`article`]) and cut into passages along their headings
//! ([`chunk`]), with token counts from a [`TokenCounter`] ([`tokens`]) and citation
//! URLs from [`citation`].
//!
//! Nothing here talks to the vector store, an encoder or the network, reads a clock or
//! logs; [`load_dir`] is the single function that reads files, and it only reads. The
//! code must never log article or query text.

pub mod article;
pub mod chunk;
pub mod citation;
pub mod tokens;

pub use article::{
    Article, ArticleProblem, LoadArticlesError, ParseArticleError, load_dir, parse_article,
    parse_articles,
};
pub use chunk::{Chunk, ChunkSettings, ChunkSettingsError, chunk_article};
pub use citation::{ARTICLE_URL, article_url, heading_slug};
pub use tokens::{TokenCounter, WordPieceEstimate};

#[cfg(test)]
mod tests;
