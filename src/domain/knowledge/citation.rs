//! Where a citation points: the article's help-centre URL and a heading anchor.
//!
//! Anchors follow the common Markdown renderers' rule (lowercase, words joined by
//! dashes, punctuation dropped, a `-1`, `-2` suffix for a repeated heading), so a link
//! lands on the heading the help centre renders.

use std::collections::HashMap;

/// The citation URL scheme; `{id}` is the article id. A heading adds `#{anchor}`.
pub const ARTICLE_URL: &str = "/help/{id}";

/// The URL of an article, with `#anchor` when an anchor is given and not empty.
pub fn article_url(id: &str, anchor: Option<&str>) -> String {
    let base = ARTICLE_URL.replace("{id}", id);
    match anchor {
        Some(anchor) if !anchor.is_empty() => format!("{base}#{anchor}"),
        _ => base,
    }
}

/// The anchor slug of a heading: letters and digits (any script) lowercased, runs of
/// spaces, dashes and underscores turned into one dash, everything else dropped.
pub fn heading_slug(heading: &str) -> String {
    let mut slug = String::new();
    let mut pending_dash = false;
    for c in heading.chars() {
        if c.is_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.extend(c.to_lowercase());
        } else if c.is_whitespace() || c == '-' || c == '_' {
            pending_dash = true;
        }
    }
    slug
}

/// Hands out anchors for the headings of one article, in document order, adding a
/// numeric suffix to a slug already used so every anchor is unique.
#[derive(Debug, Default)]
pub struct Anchors {
    used: HashMap<String, usize>,
}

impl Anchors {
    /// The anchor of the next heading.
    pub fn next(&mut self, heading: &str) -> String {
        let slug = heading_slug(heading);
        let count = self.used.entry(slug.clone()).or_insert(0);
        *count += 1;
        match *count {
            1 => slug,
            n => format!("{slug}-{}", n - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_become_renderer_style_slugs() {
        let cases = [
            ("Step 1: Freeze the card", "step-1-freeze-the-card"),
            (
                "What to do if your card is lost or stolen",
                "what-to-do-if-your-card-is-lost-or-stolen",
            ),
            ("Fees & limits (UK)", "fees-limits-uk"),
            ("Karte verloren – was tun?", "karte-verloren-was-tun"),
            (
                "Carte perdue ou volée : que faire ?",
                "carte-perdue-ou-volée-que-faire",
            ),
            ("  **Bold**  heading  ", "bold-heading"),
            ("😀😀", ""),
        ];
        for (heading, slug) in cases {
            assert_eq!(heading_slug(heading), slug, "case {heading:?}");
        }
    }

    #[test]
    fn the_url_carries_an_anchor_only_when_there_is_one() {
        assert_eq!(article_url("card-lost", None), "/help/card-lost");
        assert_eq!(article_url("card-lost", Some("")), "/help/card-lost");
        assert_eq!(
            article_url("card-lost", Some("step-1")),
            "/help/card-lost#step-1"
        );
    }

    #[test]
    fn a_repeated_heading_gets_a_numbered_anchor() {
        let mut anchors = Anchors::default();
        assert_eq!(anchors.next("Fees"), "fees");
        assert_eq!(anchors.next("Limits"), "limits");
        assert_eq!(anchors.next("Fees"), "fees-1");
        assert_eq!(anchors.next("fees"), "fees-2");
    }
}
