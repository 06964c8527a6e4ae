//! One help-centre article: its front matter, its body and a hash of the file.
//!
//! Parsing is pure and works on text the caller has read. [`load_dir`] is the one
//! function here that touches the file system, and it only reads: it hands every file
//! to the same pure parser, so a test of the parser is a test of the loader.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A parsed article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Stable kebab-case identifier, used in citations and URLs.
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    /// ISO 639-1 code, two lowercase letters.
    pub language: String,
    /// Date of the last review as written, `YYYY-MM-DD`, when the article has one.
    pub updated: Option<String>,
    /// Markdown after the front matter, with line endings turned into `\n`.
    pub body: String,
    /// SHA-256 of the whole file text as read, in lowercase hex. Any change to the
    /// file, front matter included, changes it; re-indexing compares it to skip work.
    pub content_hash: String,
    /// Name of the file the article came from, for error messages and reports.
    pub file: String,
}

/// Why one file is not a usable article.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ParseArticleError {
    pub file: String,
    pub problem: ArticleProblem,
}

/// What is missing or malformed in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArticleProblem {
    #[error("no front matter: the file must start with a line of three dashes")]
    NoFrontMatter,
    #[error("the front matter is never closed by a line of three dashes")]
    UnclosedFrontMatter,
    #[error("line {line}: {reason}")]
    MalformedLine { line: usize, reason: String },
    #[error("field {0} appears more than once")]
    DuplicateField(String),
    #[error("the front matter has no {0}")]
    MissingField(&'static str),
    #[error("id {0:?} is not kebab-case (lowercase letters and digits joined by dashes)")]
    IdNotKebabCase(String),
    #[error("language {0:?} is not a two-letter ISO 639-1 code")]
    BadLanguage(String),
    #[error("updated {0:?} is not a date written YYYY-MM-DD")]
    BadDate(String),
    #[error("tags {0:?} is not a list like [cards, security]")]
    BadTags(String),
    #[error("id {id} is also used by {other_file}")]
    DuplicateId { id: String, other_file: String },
}

/// Why a directory of articles could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadArticlesError {
    #[error("cannot read {path}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} bad article(s): {}", .0.len(), join_errors(.0))]
    Invalid(Vec<ParseArticleError>),
}

fn join_errors(errors: &[ParseArticleError]) -> String {
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Parses one article file. `file` is only used to name the file in errors.
pub fn parse_article(file: &str, text: &str) -> Result<Article, ParseArticleError> {
    parse(file, text).map_err(|problem| ParseArticleError {
        file: file.to_owned(),
        problem,
    })
}

/// Parses a set of `(file name, text)` pairs in file-name order, and reports every bad
/// file and every id used twice rather than stopping at the first.
pub fn parse_articles(files: &[(String, String)]) -> Result<Vec<Article>, Vec<ParseArticleError>> {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));

    let mut articles = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in sorted {
        match parse_article(file, text) {
            Ok(article) => articles.push(article),
            Err(error) => errors.push(error),
        }
    }

    errors.extend(duplicate_ids(&articles));
    if errors.is_empty() {
        Ok(articles)
    } else {
        Err(errors)
    }
}

fn duplicate_ids(articles: &[Article]) -> Vec<ParseArticleError> {
    let mut first_file: HashMap<&str, &str> = HashMap::new();
    let mut errors = Vec::new();
    for article in articles {
        match first_file.entry(&article.id) {
            Entry::Vacant(slot) => {
                slot.insert(&article.file);
            }
            Entry::Occupied(first) => errors.push(ParseArticleError {
                file: article.file.clone(),
                problem: ArticleProblem::DuplicateId {
                    id: article.id.clone(),
                    other_file: (*first.get()).to_owned(),
                },
            }),
        }
    }
    errors
}

/// Reads every `*.md` file in `dir` except `README.md`, sorted by file name.
///
/// This is the module's only I/O. It reads and never writes, and it returns every bad
/// article at once so an author can fix them in one pass.
pub fn load_dir(dir: &Path) -> Result<Vec<Article>, LoadArticlesError> {
    let mut files = Vec::new();
    for path in markdown_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|source| unreadable(&path, source))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        files.push((name.unwrap_or_default(), text));
    }
    parse_articles(&files).map_err(LoadArticlesError::Invalid)
}

fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>, LoadArticlesError> {
    let entries = std::fs::read_dir(dir).map_err(|source| unreadable(dir, source))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| unreadable(dir, source))?.path();
        if is_article_file(&path) {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn is_article_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with(".md") && !name.eq_ignore_ascii_case("README.md") && path.is_file()
}

fn unreadable(path: &Path, source: std::io::Error) -> LoadArticlesError {
    LoadArticlesError::Unreadable {
        path: path.to_owned(),
        source,
    }
}

fn parse(file: &str, text: &str) -> Result<Article, ArticleProblem> {
    let normalised = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let (front, body) = split_front_matter(&normalised)?;
    let fields = parse_fields(front)?;
    Ok(Article {
        id: id_field(&fields)?,
        title: required(&fields, "title")?.to_owned(),
        tags: tags_field(&fields)?,
        language: language_field(&fields)?,
        updated: updated_field(&fields)?,
        body: body.trim_start_matches('\n').to_owned(),
        content_hash: sha256_hex(text),
        file: file.to_owned(),
    })
}

/// Splits normalised text into the front matter between the two `---` lines and the
/// body after them.
fn split_front_matter(text: &str) -> Result<(&str, &str), ArticleProblem> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err(ArticleProblem::NoFrontMatter);
    }

    let start = first.len();
    let mut pos = start;
    for line in lines {
        if line.trim_end() == "---" {
            return Ok((&text[start..pos], &text[pos + line.len()..]));
        }
        pos += line.len();
    }
    Err(ArticleProblem::UnclosedFrontMatter)
}

/// Reads `key: value` lines. Only the flat subset of YAML the articles use is
/// understood; nested values are reported as malformed rather than misread.
fn parse_fields(front: &str) -> Result<HashMap<&str, &str>, ArticleProblem> {
    let mut fields = HashMap::new();
    for (index, line) in front.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // The opening `---` is line 1 of the file.
        let (key, value) = field_line(trimmed, index + 2)?;
        if fields.insert(key, value).is_some() {
            return Err(ArticleProblem::DuplicateField(key.to_owned()));
        }
    }
    Ok(fields)
}

fn field_line(line: &str, number: usize) -> Result<(&str, &str), ArticleProblem> {
    let malformed = |reason: &str| ArticleProblem::MalformedLine {
        line: number,
        reason: reason.to_owned(),
    };
    let (key, value) = line
        .split_once(':')
        .ok_or_else(|| malformed("expected `key: value` (nested YAML is not supported)"))?;
    let key = key.trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if key.is_empty() || !key.chars().all(plain) {
        return Err(malformed("the key is not a plain name"));
    }
    Ok((key, unquote(value.trim())))
}

/// Strips one pair of matching single or double quotes; YAML escapes are not decoded.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        let inner = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote));
        if let Some(inner) = inner {
            return inner;
        }
    }
    value
}

fn required<'a>(
    fields: &HashMap<&str, &'a str>,
    key: &'static str,
) -> Result<&'a str, ArticleProblem> {
    match fields.get(key) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ArticleProblem::MissingField(key)),
    }
}

fn id_field(fields: &HashMap<&str, &str>) -> Result<String, ArticleProblem> {
    let id = required(fields, "id")?;
    if is_kebab_case(id) {
        Ok(id.to_owned())
    } else {
        Err(ArticleProblem::IdNotKebabCase(id.to_owned()))
    }
}

/// Lowercase ASCII letters and digits in groups joined by single dashes.
pub fn is_kebab_case(id: &str) -> bool {
    let group = |g: &str| {
        !g.is_empty()
            && g.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    id.split('-').all(group)
}

fn language_field(fields: &HashMap<&str, &str>) -> Result<String, ArticleProblem> {
    let language = required(fields, "language")?;
    if language.len() == 2 && language.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(language.to_owned())
    } else {
        Err(ArticleProblem::BadLanguage(language.to_owned()))
    }
}

fn updated_field(fields: &HashMap<&str, &str>) -> Result<Option<String>, ArticleProblem> {
    match fields.get("updated") {
        None => Ok(None),
        Some(date) if is_date(date) => Ok(Some((*date).to_owned())),
        Some(date) => Err(ArticleProblem::BadDate((*date).to_owned())),
    }
}

/// `YYYY-MM-DD` with a month of 1 to 12 and a day of 1 to 31; the calendar is not
/// checked further, so 2026-02-31 passes.
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    let [year, month, day] = parts[..] else {
        return false;
    };
    let in_range = |s: &str, max: u32| s.parse::<u32>().is_ok_and(|v| (1..=max).contains(&v));
    digits(year, 4)
        && digits(month, 2)
        && digits(day, 2)
        && in_range(month, 12)
        && in_range(day, 31)
}

fn tags_field(fields: &HashMap<&str, &str>) -> Result<Vec<String>, ArticleProblem> {
    let Some(raw) = fields.get("tags") else {
        return Ok(Vec::new());
    };
    let list = match raw.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| ArticleProblem::BadTags((*raw).to_owned()))?,
        None => raw,
    };
    let tags = list.split(',').map(|t| unquote(t.trim()).trim());
    Ok(tags.filter(|t| !t.is_empty()).map(str::to_owned).collect())
}

fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: card-lost\ntitle: \"Lost card: what now\"\n\
        tags: [cards, security]\nlanguage: en\nupdated: 2026-12-03\n---\n\n# Lost card\n\nText.\n";

    fn problem(text: &str) -> ArticleProblem {
        parse_article("x.md", text)
            .expect_err("the text is bad")
            .problem
    }

    #[test]
    fn a_well_formed_article_parses_every_field() {
        let article = parse_article("card-lost.md", GOOD).expect("parses");
        assert_eq!(article.id, "card-lost");
        assert_eq!(article.title, "Lost card: what now");
        assert_eq!(article.tags, ["cards", "security"]);
        assert_eq!(article.language, "en");
        assert_eq!(article.updated.as_deref(), Some("2026-12-03"));
        assert_eq!(article.body, "# Lost card\n\nText.\n");
        assert_eq!(article.content_hash.len(), 64);
    }

    #[test]
    fn a_file_without_closed_front_matter_is_rejected() {
        let cases = [
            ("# Just a heading", ArticleProblem::NoFrontMatter),
            ("", ArticleProblem::NoFrontMatter),
            (
                "---\nid: a\ntitle: T\n",
                ArticleProblem::UnclosedFrontMatter,
            ),
            ("---", ArticleProblem::UnclosedFrontMatter),
        ];
        for (text, expected) in cases {
            assert_eq!(problem(text), expected, "case {text:?}");
        }
    }

    #[test]
    fn bad_fields_are_reported_with_what_is_wrong() {
        use ArticleProblem as P;
        let only = |lines: &str| format!("---\n{lines}\n---\nbody");
        let extra = |lines: &str| only(&format!("id: a\ntitle: T\nlanguage: en\n{lines}"));
        let nested = "expected `key: value` (nested YAML is not supported)";
        let cases = [
            (only("title: T\nlanguage: en"), P::MissingField("id")),
            (only("id: a\nlanguage: en"), P::MissingField("title")),
            (
                only("id: a\ntitle: \"\"\nlanguage: en"),
                P::MissingField("title"),
            ),
            (only("id: a\ntitle: T"), P::MissingField("language")),
            (
                only("id: Card_Lost\ntitle: T\nlanguage: en"),
                P::IdNotKebabCase("Card_Lost".into()),
            ),
            (
                only("id: a--b\ntitle: T\nlanguage: en"),
                P::IdNotKebabCase("a--b".into()),
            ),
            (
                only("id: a\ntitle: T\nlanguage: English"),
                P::BadLanguage("English".into()),
            ),
            (
                extra("updated: 3 Dec 2026"),
                P::BadDate("3 Dec 2026".into()),
            ),
            (
                extra("updated: 2026-13-01"),
                P::BadDate("2026-13-01".into()),
            ),
            (
                extra("tags: [cards, security"),
                P::BadTags("[cards, security".into()),
            ),
            (extra("id: b"), P::DuplicateField("id".into())),
            (
                extra("tags:\n  - cards"),
                P::MalformedLine {
                    line: 6,
                    reason: nested.into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(problem(&text), expected, "case {text:?}");
        }
    }

    #[test]
    fn the_error_message_names_the_file_and_the_problem() {
        let error = parse_article("lost.md", "---\nid: lost\n").expect_err("unclosed");
        assert_eq!(
            error.to_string(),
            "lost.md: the front matter is never closed by a line of three dashes"
        );
    }

    #[test]
    fn crlf_line_endings_parse_like_lf_but_hash_differently() {
        let crlf = GOOD.replace('\n', "\r\n");
        let lf = parse_article("a.md", GOOD).expect("lf parses");
        let from_crlf = parse_article("a.md", &crlf).expect("crlf parses");
        assert_eq!(from_crlf.body, lf.body);
        assert_eq!(from_crlf.title, lf.title);
        assert_ne!(from_crlf.content_hash, lf.content_hash);
    }

    #[test]
    fn an_id_may_differ_from_the_file_name() {
        let article = parse_article("something-else.md", GOOD).expect("parses");
        assert_eq!(article.id, "card-lost");
        assert_eq!(article.file, "something-else.md");
    }

    #[test]
    fn the_hash_changes_with_any_byte_of_the_file() {
        let a = parse_article("a.md", GOOD).expect("parses");
        let b = parse_article("a.md", &GOOD.replace("Text.", "Text!")).expect("parses");
        let again = parse_article("other.md", GOOD).expect("parses");
        assert_ne!(a.content_hash, b.content_hash);
        assert_eq!(a.content_hash, again.content_hash);
    }

    #[test]
    fn kebab_case_accepts_only_dash_joined_lowercase_groups() {
        let cases = [
            ("card-lost-or-stolen", true),
            ("top-up-by-card-de", true),
            ("a1-b2", true),
            ("", false),
            ("-card", false),
            ("card-", false),
            ("Card", false),
            ("card_lost", false),
            ("carte-volée", false),
        ];
        for (id, expected) in cases {
            assert_eq!(is_kebab_case(id), expected, "case {id:?}");
        }
    }

    #[test]
    fn a_set_of_files_reports_every_bad_file_and_duplicate_ids() {
        let other = GOOD.replace("card-lost", "card-found");
        let files = vec![
            ("b.md".to_owned(), GOOD.to_owned()),
            ("a.md".to_owned(), GOOD.to_owned()),
            ("c.md".to_owned(), "no front matter".to_owned()),
            ("d.md".to_owned(), other),
        ];
        let errors = parse_articles(&files).expect_err("two problems");
        let described: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            described,
            [
                "c.md: no front matter: the file must start with a line of three dashes",
                "b.md: id card-lost is also used by a.md",
            ]
        );
    }

    #[test]
    fn a_good_set_comes_back_in_file_name_order() {
        let files = vec![
            ("b.md".to_owned(), GOOD.replace("card-lost", "bee")),
            ("a.md".to_owned(), GOOD.replace("card-lost", "ant")),
        ];
        let articles = parse_articles(&files).expect("parses");
        let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["ant", "bee"]);
    }
}
