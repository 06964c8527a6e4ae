//! Help-centre Markdown as HTML, for the public article pages.
//!
//! A small, closed subset: ATX headings, paragraphs, bullet and numbered lists, pipe
//! tables, block quotes, fenced code and rules, with bold, emphasis, code and links
//! inside them. Anything else is shown as the text it is. Every piece of text is
//! escaped and no HTML in the source passes through, so whoever saves an article
//! cannot put markup or script on the page; links go only to relative or `https`
//! addresses, and a link to anything else keeps its text and loses its target.
//!
//! Headings are found by the chunker's own rule, fenced code included, and numbered by
//! the same [`Anchors`], so the `#anchor` of every citation lands on its heading.
//!
//! Design limit: emphasis closers are found by scanning ahead, so a paragraph full of
//! unmatched markers costs time quadratic in its length. Articles are capped at 60 KB
//! by the API, which bounds it.

use super::chunk::{fence_after, heading};
use super::citation::Anchors;

/// Deepest nesting of inline markup rendered as markup; deeper text stays plain, so
/// no document can exhaust the stack.
const MAX_INLINE_DEPTH: usize = 8;

/// Renders an article body as an HTML fragment.
pub fn render_markdown(body: &str) -> String {
    let mut renderer = Renderer::default();
    for line in body.lines() {
        renderer.line(line);
    }
    renderer.flush();
    renderer.out
}

/// Escapes text for HTML content and for double- or single-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// The link target when it is safe to follow: `https`, or relative (no scheme, not
/// protocol-relative). Spaces, control characters and backslashes are refused, since
/// browsers read some of them as part of a scheme or as `/`.
pub fn safe_href(url: &str) -> Option<&str> {
    let odd = |c: char| c.is_whitespace() || c.is_control() || c == '\\';
    if url.is_empty() || url.chars().any(odd) || url.starts_with("//") {
        return None;
    }
    if let Some(rest) = url.strip_prefix("https://") {
        return (!rest.is_empty()).then_some(url);
    }
    let head = url.split(['/', '?', '#']).next().unwrap_or_default();
    (!head.contains(':')).then_some(url)
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A block being gathered line by line.
enum Block<'a> {
    Paragraph(Vec<&'a str>),
    List {
        ordered: bool,
        start: u64,
        items: Vec<String>,
    },
    Table(Vec<&'a str>),
    Quote(Vec<&'a str>),
    Code(Vec<&'a str>),
}

#[derive(Default)]
struct Renderer<'a> {
    out: String,
    anchors: Anchors,
    open: Option<Block<'a>>,
    fence: Option<&'static str>,
}

impl<'a> Renderer<'a> {
    fn line(&mut self, line: &'a str) {
        let before = self.fence;
        self.fence = fence_after(before, line);
        match (before, self.fence) {
            (None, Some(_)) => return self.start(Block::Code(Vec::new())),
            (Some(_), None) => return self.flush(),
            (Some(_), Some(_)) => return self.push_code(line),
            (None, None) => {}
        }

        let trimmed = line.trim();
        if let Some((level, text)) = heading(line) {
            self.flush();
            self.heading(level, text);
        } else if trimmed.is_empty() {
            self.flush();
        } else if is_rule(trimmed) {
            self.flush();
            self.out.push_str("<hr>\n");
        } else if let Some(item) = list_item(line) {
            self.list_item(item);
        } else if trimmed.starts_with('|') {
            self.table_row(trimmed);
        } else if let Some(text) = quote_line(trimmed) {
            self.quote_line(text);
        } else {
            self.text_line(line, trimmed);
        }
    }

    fn start(&mut self, block: Block<'a>) {
        self.flush();
        self.open = Some(block);
    }

    fn push_code(&mut self, line: &'a str) {
        match &mut self.open {
            Some(Block::Code(lines)) => lines.push(line),
            _ => self.start(Block::Code(vec![line])),
        }
    }

    fn heading(&mut self, level: usize, text: &str) {
        // Every heading takes its anchor, as in the chunker, so repeats number alike.
        let anchor = self.anchors.next(text);
        let out = &mut self.out;
        out.push_str(&format!("<h{level}"));
        if !anchor.is_empty() {
            out.push_str(&format!(" id=\"{}\"", escape_html(&anchor)));
        }
        out.push('>');
        inline(out, text, 0, false);
        out.push_str(&format!("</h{level}>\n"));
    }

    fn list_item(&mut self, item: ListItem<'a>) {
        if let Some(Block::List { ordered, items, .. }) = &mut self.open
            && *ordered == item.ordered
        {
            items.push(item.text.to_owned());
            return;
        }
        self.start(Block::List {
            ordered: item.ordered,
            start: item.number,
            items: vec![item.text.to_owned()],
        });
    }

    fn table_row(&mut self, row: &'a str) {
        match &mut self.open {
            Some(Block::Table(rows)) => rows.push(row),
            _ => self.start(Block::Table(vec![row])),
        }
    }

    fn quote_line(&mut self, text: &'a str) {
        match &mut self.open {
            Some(Block::Quote(lines)) => lines.push(text),
            _ => self.start(Block::Quote(vec![text])),
        }
    }

    /// A line of plain text: the next line of an open paragraph, the rest of a list
    /// item when indented, or a new paragraph.
    fn text_line(&mut self, line: &'a str, trimmed: &'a str) {
        match &mut self.open {
            Some(Block::Paragraph(lines)) => lines.push(trimmed),
            Some(Block::List { items, .. }) if line.starts_with([' ', '\t']) => {
                if let Some(last) = items.last_mut() {
                    last.push('\n');
                    last.push_str(trimmed);
                }
            }
            _ => self.start(Block::Paragraph(vec![trimmed])),
        }
    }

    fn flush(&mut self) {
        let Some(block) = self.open.take() else {
            return;
        };
        let out = &mut self.out;
        match block {
            Block::Paragraph(lines) => paragraph(out, &lines.join("\n")),
            Block::List {
                ordered,
                start,
                items,
            } => list(out, ordered, start, &items),
            Block::Table(rows) => table(out, &rows),
            Block::Quote(lines) => quote(out, &lines),
            Block::Code(lines) => {
                out.push_str("<pre><code>");
                push_escaped(out, &lines.join("\n"));
                out.push_str("</code></pre>\n");
            }
        }
    }
}

/// Three or more `-`, `*` or `_`, alone on the line (spaces allowed between them).
fn is_rule(trimmed: &str) -> bool {
    let marks: String = trimmed.chars().filter(|c| *c != ' ').collect();
    let Some(first) = marks.chars().next() else {
        return false;
    };
    "-*_".contains(first) && marks.len() >= 3 && marks.chars().all(|c| c == first)
}

struct ListItem<'a> {
    ordered: bool,
    number: u64,
    text: &'a str,
}

/// `- `, `* ` or `+ ` for a bullet, `1. ` or `1) ` for a number, indented at most three
/// spaces.
fn list_item(line: &str) -> Option<ListItem<'_>> {
    let rest = line.trim_start_matches(' ');
    if line.len() - rest.len() > 3 {
        return None;
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = rest.strip_prefix(bullet) {
            let text = text.trim();
            return Some(ListItem {
                ordered: false,
                number: 1,
                text,
            });
        }
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let after = &rest[digits..];
    let text = after
        .strip_prefix(". ")
        .or_else(|| after.strip_prefix(") "))?;
    let number = rest[..digits].parse().ok().filter(|_| digits <= 9)?;
    Some(ListItem {
        ordered: true,
        number,
        text: text.trim(),
    })
}

/// The text of a block-quote line: `> text`, or `>` alone for a blank line.
fn quote_line(trimmed: &str) -> Option<&str> {
    let rest = trimmed.strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

fn paragraph(out: &mut String, text: &str) {
    out.push_str("<p>");
    inline(out, text, 0, false);
    out.push_str("</p>\n");
}

fn list(out: &mut String, ordered: bool, start: u64, items: &[String]) {
    let tag = if ordered { "ol" } else { "ul" };
    out.push('<');
    out.push_str(tag);
    if ordered && start != 1 {
        out.push_str(&format!(" start=\"{start}\""));
    }
    out.push_str(">\n");
    for item in items {
        out.push_str("<li>");
        inline(out, item, 0, false);
        out.push_str("</li>\n");
    }
    out.push_str(&format!("</{tag}>\n"));
}

/// Quoted lines, blank ones splitting paragraphs. Headings and lists in a quote stay
/// text, as the chunker does not see them as headings either.
fn quote(out: &mut String, lines: &[&str]) {
    out.push_str("<blockquote>\n");
    for part in lines.split(|line| line.trim().is_empty()) {
        if !part.is_empty() {
            paragraph(out, &part.join("\n"));
        }
    }
    out.push_str("</blockquote>\n");
}

/// A pipe table needs a header row and a delimiter row under it; without them the rows
/// are shown as a paragraph.
fn table(out: &mut String, rows: &[&str]) {
    let aligns = rows.get(1).and_then(|row| delimiter_row(row));
    let Some(aligns) = aligns else {
        return paragraph(out, &rows.join("\n"));
    };
    out.push_str("<table>\n<thead>\n");
    table_row(out, "th", &cells(rows[0]), &aligns);
    out.push_str("</thead>\n<tbody>\n");
    for row in &rows[2..] {
        table_row(out, "td", &cells(row), &aligns);
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Every row has the header's number of cells: short rows are padded, long ones cut.
fn table_row(out: &mut String, tag: &str, cells: &[&str], aligns: &[Option<&str>]) {
    out.push_str("<tr>");
    for (i, align) in aligns.iter().enumerate() {
        match align {
            Some(class) => out.push_str(&format!("<{tag} class=\"{class}\">")),
            None => out.push_str(&format!("<{tag}>")),
        }
        inline(out, cells.get(i).copied().unwrap_or_default(), 0, false);
        out.push_str(&format!("</{tag}>"));
    }
    out.push_str("</tr>\n");
}

/// The cells of a row, split at pipes that are not escaped with a backslash.
fn cells(row: &str) -> Vec<&str> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = match row.strip_suffix('|') {
        Some(inner) if !inner.ends_with('\\') => inner,
        _ => row,
    };
    let mut cells = Vec::new();
    let mut start = 0;
    let bytes = row.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
            cells.push(row[start..i].trim());
            start = i + 1;
        }
    }
    cells.push(row[start..].trim());
    cells
}

/// The column alignments of a delimiter row such as `|:---|--:|`, as class names.
fn delimiter_row(row: &str) -> Option<Vec<Option<&'static str>>> {
    let cells = cells(row);
    let aligned = |cell: &str| {
        let dashes = cell.trim_start_matches(':').trim_end_matches(':');
        if dashes.is_empty() || !dashes.bytes().all(|b| b == b'-') {
            return None;
        }
        Some(match (cell.starts_with(':'), cell.ends_with(':')) {
            (true, true) => Some("center"),
            (false, true) => Some("right"),
            (true, false) => Some("left"),
            (false, false) => None,
        })
    };
    cells.into_iter().map(aligned).collect()
}

/// Renders inline markup. Markers are ASCII, so every index sliced at is a character
/// boundary; other bytes are copied through as text, escaped.
fn inline(out: &mut String, text: &str, depth: usize, in_link: bool) {
    if depth >= MAX_INLINE_DEPTH {
        return push_escaped(out, text);
    }
    let bytes = text.as_bytes();
    let (mut i, mut plain) = (0, 0);
    while i < bytes.len() {
        let found = match bytes[i] {
            b'\\' => escaped_char(text, i),
            b'`' => code_span(text, i),
            b'*' if text[i..].starts_with("**") => strong(text, i, depth),
            b'*' => emphasis(text, i, depth),
            b'[' if !in_link => link(text, i, depth),
            _ => None,
        };
        match found {
            Some((html, end)) => {
                push_escaped(out, &text[plain..i]);
                out.push_str(&html);
                (i, plain) = (end, end);
            }
            None => i += 1,
        }
    }
    push_escaped(out, &text[plain..]);
}

/// Markup found at an index: its HTML and the index just after it.
type Found = Option<(String, usize)>;

/// A backslash before ASCII punctuation shows that character as itself.
fn escaped_char(text: &str, at: usize) -> Found {
    let next = *text.as_bytes().get(at + 1)?;
    next.is_ascii_punctuation()
        .then(|| (escape_html(&char::from(next).to_string()), at + 2))
}

/// A run of backticks up to the next run of the same length; its content is literal.
fn code_span(text: &str, at: usize) -> Found {
    let ticks = |from: usize| text[from..].bytes().take_while(|b| *b == b'`').count();
    let run = ticks(at);
    let body_start = at + run;
    let mut from = body_start;
    while let Some(offset) = text[from..].find(&text[at..body_start]) {
        let close = from + offset;
        let closing = ticks(close);
        if closing == run {
            let code = text[body_start..close].trim();
            return Some((format!("<code>{}</code>", escape_html(code)), close + run));
        }
        from = close + closing;
    }
    None
}

/// `**text**` up to the next `**`, when the text does not start or end with a space.
fn strong(text: &str, at: usize, depth: usize) -> Found {
    let start = at + 2;
    let inner = &text[start..start + text[start..].find("**")?];
    if inner.is_empty()
        || inner.starts_with(char::is_whitespace)
        || inner.ends_with(char::is_whitespace)
    {
        return None;
    }
    let mut html = String::from("<strong>");
    inline(&mut html, inner, depth + 1, false);
    html.push_str("</strong>");
    Some((html, start + inner.len() + 2))
}

/// `*text*`: the closer is a lone `*` after a non-space; `**` pairs inside are skipped
/// so bold can sit inside emphasis.
fn emphasis(text: &str, at: usize, depth: usize) -> Found {
    let bytes = text.as_bytes();
    let start = at + 1;
    if bytes.get(start).is_none_or(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] != b'*' {
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'*') {
            i += 2;
        } else if bytes[i - 1].is_ascii_whitespace() {
            i += 1;
        } else {
            let mut html = String::from("<em>");
            inline(&mut html, &text[start..i], depth + 1, false);
            html.push_str("</em>");
            return Some((html, i + 1));
        }
    }
    None
}

/// `[label](target)`: a link when the target is safe, else the label alone. A title
/// after the target (`[a](b "c")`) is dropped.
fn link(text: &str, at: usize, depth: usize) -> Found {
    let close = at + text[at..].find(']')?;
    let after = text[close + 1..].strip_prefix('(')?;
    let end = after.find(')')?;
    let label = &text[at + 1..close];
    let target = after[..end].split_whitespace().next().unwrap_or_default();
    let mut html = String::new();
    if let Some(href) = safe_href(target) {
        html.push_str(&format!("<a href=\"{}\">", escape_html(href)));
        inline(&mut html, label, depth + 1, true);
        html.push_str("</a>");
    } else {
        inline(&mut html, label, depth + 1, true);
    }
    Some((html, close + 2 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_render_as_their_elements() {
        let cases = [
            (
                "paragraph",
                "One line\nand the next.",
                "<p>One line\nand the next.</p>\n",
            ),
            ("two paragraphs", "A\n\nB", "<p>A</p>\n<p>B</p>\n"),
            (
                "heading",
                "## How long?",
                "<h2 id=\"how-long\">How long?</h2>\n",
            ),
            (
                "bullets",
                "- one\n* two\n+ three",
                "<ul>\n<li>one</li>\n<li>two</li>\n<li>three</li>\n</ul>\n",
            ),
            (
                "numbers",
                "1. open\n2) tap",
                "<ol>\n<li>open</li>\n<li>tap</li>\n</ol>\n",
            ),
            (
                "numbers from three",
                "3. third",
                "<ol start=\"3\">\n<li>third</li>\n</ol>\n",
            ),
            (
                "an indented line continues the item",
                "- first\n  still first",
                "<ul>\n<li>first\nstill first</li>\n</ul>\n",
            ),
            (
                "bullets then numbers are two lists",
                "- a\n1. b",
                "<ul>\n<li>a</li>\n</ul>\n<ol>\n<li>b</li>\n</ol>\n",
            ),
            ("rule", "A\n\n---\n\nB", "<p>A</p>\n<hr>\n<p>B</p>\n"),
            (
                "quote",
                "> first\n>\n> second",
                "<blockquote>\n<p>first</p>\n<p>second</p>\n</blockquote>\n",
            ),
            (
                "code fence",
                "```\n# not a heading\n<b>\n```",
                "<pre><code># not a heading\n&lt;b&gt;</code></pre>\n",
            ),
            (
                "a heading ends a paragraph",
                "text\n# Title",
                "<p>text</p>\n<h1 id=\"title\">Title</h1>\n",
            ),
        ];
        for (case, markdown, html) in cases {
            assert_eq!(render_markdown(markdown), html, "case {case}");
        }
    }

    #[test]
    fn pipe_tables_have_a_head_a_body_and_alignments() {
        let markdown = "| Option | Cost |\n|:---|---:|\n| Express | £5 |\n| Standard |";
        let html = "<table>\n<thead>\n\
            <tr><th class=\"left\">Option</th><th class=\"right\">Cost</th></tr>\n\
            </thead>\n<tbody>\n\
            <tr><td class=\"left\">Express</td><td class=\"right\">£5</td></tr>\n\
            <tr><td class=\"left\">Standard</td><td class=\"right\"></td></tr>\n\
            </tbody>\n</table>\n";
        assert_eq!(render_markdown(markdown), html);

        let escaped_pipe = render_markdown("| a \\| b |\n|---|");
        assert!(escaped_pipe.contains("<th>a | b</th>"), "{escaped_pipe}");

        let no_delimiter = render_markdown("| a | b |\n| c | d |");
        assert_eq!(no_delimiter, "<p>| a | b |\n| c | d |</p>\n");
    }

    #[test]
    fn inline_markup_renders_inside_text() {
        let cases = [
            ("bold", "a **b** c", "a <strong>b</strong> c"),
            ("emphasis", "a *b* c", "a <em>b</em> c"),
            (
                "bold in emphasis",
                "*a **b** c*",
                "<em>a <strong>b</strong> c</em>",
            ),
            ("code", "run `ls *x*`", "run <code>ls *x*</code>"),
            ("double backticks", "``a ` b``", "<code>a ` b</code>"),
            (
                "relative link",
                "[Fees](/help/fees#atm)",
                "<a href=\"/help/fees#atm\">Fees</a>",
            ),
            (
                "https link",
                "[Site](https://example.com/a?b=1&c=2)",
                "<a href=\"https://example.com/a?b=1&amp;c=2\">Site</a>",
            ),
            (
                "bold link label",
                "[**go**](next)",
                "<a href=\"next\"><strong>go</strong></a>",
            ),
            ("a lone star", "5 * 3 = 15", "5 * 3 = 15"),
            ("unclosed bold", "**open", "**open"),
            ("spaced bold", "** a **", "** a **"),
            ("backslash", "\\*not em\\*", "*not em*"),
            ("brackets without a target", "[just text]", "[just text]"),
        ];
        for (case, markdown, inner) in cases {
            let expected = format!("<p>{inner}</p>\n");
            assert_eq!(render_markdown(markdown), expected, "case {case}");
        }
    }

    #[test]
    fn no_markup_from_the_source_reaches_the_page() {
        let cases = [
            (
                "script",
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("quotes", "\"a\" & 'b'", "&quot;a&quot; &amp; &#39;b&#39;"),
            (
                "in bold",
                "**<img src=x>**",
                "<strong>&lt;img src=x&gt;</strong>",
            ),
            ("in code", "`<b>`", "<code>&lt;b&gt;</code>"),
            ("javascript link", "[x](javascript:alert(1))", "x)"),
            ("data link", "[x](data:text/html,hi)", "x"),
            ("http link", "[x](http://example.com)", "x"),
            ("protocol-relative link", "[x](//evil.example)", "x"),
            ("backslash link", "[x](/\\evil.example)", "x"),
            (
                "quote in target",
                "[x](/a\"onclick=b)",
                "<a href=\"/a&quot;onclick=b\">x</a>",
            ),
        ];
        for (case, markdown, inner) in cases {
            let expected = format!("<p>{inner}</p>\n");
            assert_eq!(render_markdown(markdown), expected, "case {case}");
        }
        let heading = render_markdown("## <i>Fees</i>");
        assert_eq!(heading, "<h2 id=\"ifeesi\">&lt;i&gt;Fees&lt;/i&gt;</h2>\n");
    }

    #[test]
    fn only_relative_and_https_targets_are_safe() {
        let cases = [
            ("/help/a", true),
            ("other-article#fees", true),
            ("#fees", true),
            ("?q=1", true),
            ("https://example.com", true),
            ("https://", false),
            ("http://example.com", false),
            ("JavaScript:alert(1)", false),
            ("mailto:help@example.com", false),
            ("//example.com", false),
            ("/a b", false),
            ("java\tscript:x", false),
            ("", false),
        ];
        for (url, safe) in cases {
            assert_eq!(safe_href(url).is_some(), safe, "case {url:?}");
        }
    }

    #[test]
    fn repeated_headings_get_numbered_anchors_as_citations_do() {
        let html = render_markdown("# Fees\n## Fees\n### Fees\n## Limits");
        for anchor in ["fees", "fees-1", "fees-2", "limits"] {
            assert!(
                html.contains(&format!("id=\"{anchor}\"")),
                "{anchor} in {html}"
            );
        }
    }

    #[test]
    fn nesting_renders_until_the_depth_limit_then_stays_text() {
        let html = render_markdown("[*a **b** a*](x)");
        let nested = "<p><a href=\"x\"><em>a <strong>b</strong> a</em></a></p>\n";
        assert_eq!(html, nested);

        let mut out = String::new();
        inline(&mut out, "*a* <b>", MAX_INLINE_DEPTH, false);
        assert_eq!(out, "*a* &lt;b&gt;");
    }
}
