//! The public help centre: each article in force as a page at `/help/{id}`, where bot
//! citations point, and an index of them all at `/help`.
//!
//! Pages are rendered from the catalogue on every request, so a saved article shows at
//! once. Article text is written by staff but read by anyone, so it is rendered by the
//! escaping renderer in `domain::knowledge::render` and never passed through as
//! markup. The pages carry no script; their policy forbids scripts, inline styles and
//! framing, and their one stylesheet is `/help.css`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiPath;
use crate::domain::knowledge::{Article, article_url, escape_html, render_markdown};

const HELP_CSS: &str = include_str!("../../static/help.css");

/// Stricter than the staff pages' policy: no script at all and no inline style, since
/// nothing on these pages needs either.
pub const HELP_POLICY: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/help", get(show_index))
        .route("/help/{id}", get(show_article))
        .route("/help.css", get(stylesheet))
}

async fn show_index(State(state): State<AppState>) -> Response {
    let articles = state.answers.knowledge.catalogue.list();
    help_response(StatusCode::OK, index_page(&articles))
}

async fn show_article(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Response {
    match state.answers.knowledge.catalogue.get(&id) {
        Some(article) => help_response(StatusCode::OK, article_page(&article)),
        None => help_response(StatusCode::NOT_FOUND, not_found_page()),
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        HELP_CSS,
    )
}

fn help_response(status: StatusCode, html: String) -> Response {
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (CACHE_CONTROL, "no-cache"),
        (CONTENT_SECURITY_POLICY, HELP_POLICY),
        (REFERRER_POLICY, "no-referrer"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (status, headers, html).into_response()
}

/// An article's page. The body's own level-1 heading is its title; a body without one
/// gets the title on top, with no anchor, so the body's anchors stay as cited.
pub fn article_page(article: &Article) -> String {
    let body = render_markdown(&article.body);
    let title = escape_html(&article.title);
    let mut main = String::from("<article>\n");
    if !body.starts_with("<h1") {
        main.push_str(&format!("<h1>{title}</h1>\n"));
    }
    main.push_str(&body);
    if let Some(updated) = &article.updated {
        let updated = escape_html(updated);
        main.push_str(&format!(
            "<p class=\"updated\">Last reviewed {updated}</p>\n"
        ));
    }
    main.push_str("</article>\n");
    page(&article.language, &article.title, &main)
}

/// Every article, by title, each marked with its language.
pub fn index_page(articles: &[Article]) -> String {
    let mut sorted: Vec<&Article> = articles.iter().collect();
    sorted.sort_by(|a, b| a.title.cmp(&b.title).then(a.id.cmp(&b.id)));
    let mut main = String::from("<h1>Help centre</h1>\n<ul class=\"articles\">\n");
    for article in sorted {
        main.push_str(&format!(
            "<li lang=\"{lang}\"><a href=\"{href}\">{title}</a> <span class=\"lang\">{lang}</span></li>\n",
            lang = escape_html(&article.language),
            href = escape_html(&article_url(&article.id, None)),
            title = escape_html(&article.title),
        ));
    }
    main.push_str("</ul>\n");
    page("en", "Help centre", &main)
}

pub fn not_found_page() -> String {
    let main = "<h1>No such article</h1>\n\
        <p>This article does not exist or was removed. \
        <a href=\"/help\">See all articles</a>.</p>\n";
    page("en", "Article not found", main)
}

/// The document around a page's main content. `title` is text; `main` is HTML.
fn page(language: &str, title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Help centre</title>\n\
         <link rel=\"stylesheet\" href=\"/help.css\">\n</head>\n<body>\n\
         <header><a href=\"/help\">Help centre</a></header>\n\
         <main>\n{main}</main>\n</body>\n</html>\n",
        lang = escape_html(language),
        title = escape_html(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(title: &str, body: &str) -> Article {
        Article {
            id: "card-fees".into(),
            title: title.into(),
            tags: vec!["cards".into()],
            language: "de".into(),
            updated: Some("2026-12-01".into()),
            body: body.into(),
            content_hash: String::new(),
            file: "card-fees.md".into(),
        }
    }

    #[test]
    fn an_article_page_shows_its_body_language_and_review_date() {
        let html = article_page(&article("Card fees", "# Card fees\n\n## At ATMs\n\nFree."));
        let cases = [
            ("language", "<html lang=\"de\">"),
            ("title", "<title>Card fees · Help centre</title>"),
            ("stylesheet", "<link rel=\"stylesheet\" href=\"/help.css\">"),
            ("anchor", "<h2 id=\"at-atms\">At ATMs</h2>"),
            ("review date", "Last reviewed 2026-12-01"),
        ];
        for (case, expected) in cases {
            assert!(html.contains(expected), "case {case}: {html}");
        }
        assert_eq!(html.matches("<h1").count(), 1, "{html}");
    }

    #[test]
    fn a_body_without_a_title_heading_gets_the_title_on_top() {
        let html = article_page(&article("Card fees", "Free at ATMs."));
        assert!(html.contains("<article>\n<h1>Card fees</h1>\n<p>Free at ATMs.</p>"));
    }

    #[test]
    fn titles_are_text_wherever_they_appear() {
        let hostile = "<script>x</script>";
        for html in [
            article_page(&article(hostile, "")),
            index_page(&[article(hostile, "")]),
        ] {
            assert!(!html.contains("<script"), "{html}");
            assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
        }
    }

    #[test]
    fn the_index_links_every_article_sorted_by_title() {
        let mut second = article("Another", "");
        second.id = "another".into();
        let html = index_page(&[article("Card fees", ""), second]);
        let another = html.find("href=\"/help/another\"").expect("linked");
        let fees = html.find("href=\"/help/card-fees\"").expect("linked");
        assert!(another < fees, "{html}");
        assert!(html.contains("<li lang=\"de\">"), "{html}");
    }
}
