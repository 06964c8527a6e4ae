//! The reply without an LLM: the best passage, quoted as written, with its citation.
//!
//! Nothing here writes a sentence about the bank: the only words added to the passage
//! are the canned opening from `prompts/replies.toml`.

use super::prompt::Replies;
use super::{Citation, Evidence};

/// Marks the fallback reply when nothing answers the question; the text itself comes
/// from the templates.
pub const DECLINE_REPLY: &str = "decline";

/// The reply text and its one citation.
pub fn extractive_reply(best: &Evidence, replies: &Replies) -> (String, Vec<Citation>) {
    let intro = replies.extractive_intro.replace("{title}", &best.title);
    let quoted: Vec<String> = best
        .text
        .trim()
        .lines()
        .map(|line| {
            if line.trim().is_empty() {
                ">".to_owned()
            } else {
                format!("> {}", line.trim_end())
            }
        })
        .collect();
    (
        format!("{intro}\n\n{}", quoted.join("\n")),
        vec![Citation::of(best)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answer::PromptTemplates;

    #[test]
    fn the_passage_is_quoted_verbatim_with_its_citation() {
        let passage = Evidence {
            source: "article".into(),
            id: "card-delivery".into(),
            title: "Card delivery".into(),
            url: "/help/card-delivery#timing".into(),
            heading_path: vec!["Timing".into()],
            text: "Cards arrive in 5 days.\n\nTrack them in the app.".into(),
            score: 0.5,
            dense_similarity: Some(0.7),
        };
        let templates = PromptTemplates::shipped();
        let (text, citations) = extractive_reply(&passage, templates.replies("en"));
        assert!(text.starts_with("Here is what our help centre says in \"Card delivery\""));
        assert!(text.contains("> Cards arrive in 5 days.\n>\n> Track them in the app."));
        assert_eq!(citations.len(), 1);
        assert_eq!(citations[0].url, "/help/card-delivery#timing");
    }
}
