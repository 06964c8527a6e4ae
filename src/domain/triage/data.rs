//! Reading labelled examples from CSV text: a small parser for RFC 4180 quoting.
//!
//! Only parsing lives here; reading files is the caller's job, so the shipped examples
//! compiled into the binary go through the same code as files given to the eval command.

use super::{LabeledExample, TriageError};

/// Columns tried, in order, for the message text and for its label.
const TEXT_COLUMNS: [&str; 3] = ["text", "utterance", "instruction"];
const LABEL_COLUMNS: [&str; 3] = ["intent", "label", "category"];

/// Parses CSV with a header row naming a text column and a label column.
pub(crate) fn parse_examples(csv: &str) -> Result<Vec<LabeledExample>, TriageError> {
    let mut rows = parse_rows(csv.trim_start_matches('\u{feff}'))?.into_iter();
    let header = rows.next().ok_or(TriageError::EmptyCsv)?;
    let text_col = find_column(&header, &TEXT_COLUMNS)?;
    let label_col = find_column(&header, &LABEL_COLUMNS)?;
    let mut out = Vec::new();
    for (n, row) in rows.enumerate() {
        if row.len() == 1 && row[0].is_empty() {
            continue;
        }
        let (Some(text), Some(label)) = (row.get(text_col), row.get(label_col)) else {
            return Err(TriageError::BadCsv {
                line: n + 2,
                reason: format!("expected {} fields, found {}", header.len(), row.len()),
            });
        };
        out.push(LabeledExample {
            text: text.clone(),
            label: label.trim().to_owned(),
        });
    }
    Ok(out)
}

fn find_column(header: &[String], names: &[&str]) -> Result<usize, TriageError> {
    names
        .iter()
        .find_map(|name| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| TriageError::MissingColumn(names.join(" or ")))
}

/// Splits CSV into rows of fields; quoted fields may hold commas, newlines and `""`.
pub(crate) fn parse_rows(csv: &str) -> Result<Vec<Vec<String>>, TriageError> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = csv.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => line += read_quoted(&mut chars, &mut field, line)?,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Reads a quoted field after its opening quote; returns how many newlines it held.
fn read_quoted(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    field: &mut String,
    line: usize,
) -> Result<usize, TriageError> {
    let mut newlines = 0;
    loop {
        match chars.next() {
            Some('"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            Some('"') => return Ok(newlines),
            Some(c) => {
                newlines += usize::from(c == '\n');
                field.push(c);
            }
            None => {
                return Err(TriageError::BadCsv {
                    line,
                    reason: "quoted field is never closed".into(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_escapes_newlines_crlf_and_bom() {
        let csv = "\u{feff}text,category\r\n\"hi, there\",greeting\r\n\"say \"\"hey\"\"\nnow\",greeting\nplain,other\n\n";
        let examples = parse_examples(csv).expect("valid csv");
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["hi, there", "say \"hey\"\nnow", "plain"]);
        assert_eq!(examples[2].label, "other");
    }

    #[test]
    fn prefers_the_fine_grained_intent_column() {
        let csv = "flags,utterance,category,intent\nB,cancel it,ORDER,cancel_order\n";
        let examples = parse_examples(csv).expect("valid csv");
        assert_eq!(examples[0].label, "cancel_order");
        assert_eq!(examples[0].text, "cancel it");
    }

    #[test]
    fn rejects_malformed_input() {
        let cases = [
            ("", "empty"),
            ("words,tag\nx,y\n", "missing column"),
            ("text,category\n\"never closed,x\n", "unclosed quote"),
            ("text,category\nonly one field\n", "short row"),
        ];
        for (csv, what) in cases {
            assert!(parse_examples(csv).is_err(), "case {what}");
        }
    }
}
