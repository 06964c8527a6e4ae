//! Finding personal data in a message so later stages can redact it before it is stored,
//! logged or sent to a model.
//!
//! Detection leans towards redacting: look-alike characters (fullwidth digits, Cyrillic
//! letters in an address) still count. Check digits (Luhn, IBAN mod 97) keep long numbers
//! that are not cards or accounts out. Spans are byte offsets on char boundaries; this
//! module must never return overlapping spans.

use serde::{Deserialize, Serialize};

/// Kind of personal data found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Iban,
    Card,
    Ssn,
    UkNino,
    Phone,
}

impl PiiKind {
    /// The placeholder [`redact`] writes in place of a span of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[EMAIL]",
            Self::Iban => "[IBAN]",
            Self::Card => "[CARD]",
            Self::Ssn => "[SSN]",
            Self::UkNino => "[NINO]",
            Self::Phone => "[PHONE]",
        }
    }
}

/// One piece of personal data: `text[start..end]`, both on char boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiSpan {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

/// Replaces each span with its kind's placeholder. Spans that are out of range, not on char
/// boundaries or overlapping an earlier span are skipped rather than trusted.
pub fn redact(text: &str, spans: &[PiiSpan]) -> String {
    let mut sorted = spans.to_vec();
    sorted.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in sorted {
        let usable = span.start >= copied
            && span.start < span.end
            && text.is_char_boundary(span.start)
            && text.is_char_boundary(span.end)
            && span.end <= text.len();
        if usable {
            out.push_str(&text[copied..span.start]);
            out.push_str(span.kind.placeholder());
            copied = span.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// All personal-data spans in the text, sorted by start, not overlapping.
pub(crate) fn find(text: &str) -> Vec<PiiSpan> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut candidates = Vec::new();
    for i in 0..chars.len() {
        if starts_word(&chars, i) {
            candidates.extend(iban_at(&chars, i, text.len()));
            candidates.extend(nino_at(&chars, i, text.len()));
            candidates.extend(number_at(&chars, i, text.len()));
        }
        if is_at_sign(chars[i].1) {
            candidates.extend(email_around(&chars, i, text.len()));
        }
    }
    keep_non_overlapping(candidates)
}

/// Earlier kinds win overlaps: an IBAN's digits are not also a phone number.
fn keep_non_overlapping(mut candidates: Vec<PiiSpan>) -> Vec<PiiSpan> {
    candidates.sort_by_key(|s| (s.kind, s.start));
    let mut kept: Vec<PiiSpan> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| c.end <= k.start || c.start >= k.end) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|s| s.start);
    kept
}

fn byte_end(chars: &[(usize, char)], last: usize, text_len: usize) -> usize {
    chars.get(last + 1).map_or(text_len, |c| c.0)
}

fn starts_word(chars: &[(usize, char)], i: usize) -> bool {
    i == 0 || !chars[i - 1].1.is_alphanumeric()
}

fn ends_word(chars: &[(usize, char)], after: usize) -> bool {
    chars.get(after).is_none_or(|c| !c.1.is_alphanumeric())
}

fn is_at_sign(c: char) -> bool {
    matches!(c, '@' | '\u{ff20}' | '\u{fe6b}')
}

/// Decimal value of ASCII, fullwidth, Arabic-Indic and Devanagari digits.
fn digit_value(c: char) -> Option<u32> {
    let zero = match c {
        '0'..='9' => '0',
        '\u{ff10}'..='\u{ff19}' => '\u{ff10}',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06f0}'..='\u{06f9}' => '\u{06f0}',
        '\u{0966}'..='\u{096f}' => '\u{0966}',
        _ => return None,
    };
    Some(c as u32 - zero as u32)
}

// ---- e-mail -------------------------------------------------------------------------

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '\'')
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-')
}

fn email_around(chars: &[(usize, char)], at: usize, text_len: usize) -> Option<PiiSpan> {
    let mut start = at;
    while start > 0 && is_local_char(chars[start - 1].1) {
        start -= 1;
    }
    while start < at && !chars[start].1.is_alphanumeric() {
        start += 1;
    }
    let mut end = at + 1;
    while end < chars.len() && is_domain_char(chars[end].1) {
        end += 1;
    }
    // Trailing punctuation belongs to the sentence, not the address.
    while end > at + 1 && !chars[end - 1].1.is_alphanumeric() {
        end -= 1;
    }
    let domain: String = chars[at + 1..end].iter().map(|c| c.1).collect();
    let tld = domain.rsplit('.').next().unwrap_or("");
    let valid = start < at && domain.contains('.') && tld.chars().count() >= 2;
    let valid = valid && tld.chars().all(char::is_alphabetic);
    valid.then(|| PiiSpan {
        kind: PiiKind::Email,
        start: chars[start].0,
        end: byte_end(chars, end - 1, text_len),
    })
}

// ---- IBAN ---------------------------------------------------------------------------

const IBAN_MIN: usize = 15;
const IBAN_MAX: usize = 34;

fn iban_at(chars: &[(usize, char)], i: usize, text_len: usize) -> Option<PiiSpan> {
    let head: Vec<char> = chars.iter().skip(i).take(4).map(|c| c.1).collect();
    let shaped = head.len() == 4
        && head[..2].iter().all(char::is_ascii_alphabetic)
        && head[2..].iter().all(char::is_ascii_digit);
    if !shaped {
        return None;
    }
    // Collect up to 34 alphanumerics, allowing single spaces between groups.
    let mut picked: Vec<(usize, char)> = Vec::new();
    let mut j = i;
    while j < chars.len() && picked.len() < IBAN_MAX {
        let c = chars[j].1;
        if c.is_ascii_alphanumeric() {
            picked.push((j, c.to_ascii_uppercase()));
        } else if !(c == ' '
            && chars
                .get(j + 1)
                .is_some_and(|n| n.1.is_ascii_alphanumeric()))
        {
            break;
        }
        j += 1;
    }
    (IBAN_MIN..=picked.len()).rev().find_map(|len| {
        let last = picked[len - 1].0;
        let body: String = picked[..len].iter().map(|p| p.1).collect();
        (ends_word(chars, last + 1) || chars[last + 1].1 == ' ')
            .then_some(())
            .filter(|_| iban_checksum_ok(&body))
            .map(|_| PiiSpan {
                kind: PiiKind::Iban,
                start: chars[i].0,
                end: byte_end(chars, last, text_len),
            })
    })
}

/// ISO 13616 check: move the first four characters to the end, read letters as 10..35, and
/// the number must leave remainder 1 modulo 97.
pub(crate) fn iban_checksum_ok(iban: &str) -> bool {
    if iban.len() < IBAN_MIN || !iban.is_ascii() {
        return false;
    }
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let Some(v) = c.to_digit(36) else {
            return false;
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

// ---- UK National Insurance number ----------------------------------------------------

fn nino_at(chars: &[(usize, char)], i: usize, text_len: usize) -> Option<PiiSpan> {
    let mut picked: Vec<(usize, char)> = Vec::new();
    let mut j = i;
    while j < chars.len() && picked.len() < 9 {
        let c = chars[j].1;
        if c.is_ascii_alphanumeric() {
            picked.push((j, c.to_ascii_uppercase()));
        } else if c != ' ' || picked.len() < 2 {
            break;
        }
        j += 1;
    }
    let body: String = picked.iter().map(|p| p.1).collect();
    let last = picked.last()?.0;
    (picked.len() == 9 && nino_shape_ok(&body) && ends_word(chars, last + 1)).then(|| PiiSpan {
        kind: PiiKind::UkNino,
        start: chars[i].0,
        end: byte_end(chars, last, text_len),
    })
}

/// Two prefix letters (some never issued), six digits, suffix A to D.
pub(crate) fn nino_shape_ok(body: &str) -> bool {
    let b = body.as_bytes();
    if b.len() != 9 || !b[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    let first_ok = !b"DFIQUV".contains(&b[0]);
    let second_ok = !b"DFIOQUV".contains(&b[1]);
    let banned = ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"].contains(&&body[..2]);
    let digits_ok = b[2..8].iter().all(u8::is_ascii_digit);
    first_ok && second_ok && !banned && digits_ok && (b'A'..=b'D').contains(&b[8])
}

// ---- numbers: cards, SSNs, phones ------------------------------------------------------

/// A run of digits with the separators people type inside numbers.
struct NumberRun {
    digits: Vec<u32>,
    /// The run as typed, with digits folded to ASCII.
    shape: String,
    last: usize,
    plus: bool,
}

fn number_at(chars: &[(usize, char)], i: usize, text_len: usize) -> Option<PiiSpan> {
    // Only whole runs are judged: the tail of a failed card number is not a phone number.
    let inside_run =
        i >= 2 && is_number_separator(chars, i - 1) && digit_value(chars[i - 2].1).is_some();
    if inside_run {
        return None;
    }
    let run = number_run(chars, i)?;
    let kind = classify_number(&run)?;
    Some(PiiSpan {
        kind,
        start: chars[i].0,
        end: byte_end(chars, run.last, text_len),
    })
}

fn number_run(chars: &[(usize, char)], i: usize) -> Option<NumberRun> {
    let plus = matches!(chars[i].1, '+' | '\u{ff0b}');
    let first = if plus || chars[i].1 == '(' { i + 1 } else { i };
    digit_value(chars.get(first)?.1)?;
    let mut run = NumberRun {
        digits: Vec::new(),
        shape: String::new(),
        last: first,
        plus,
    };
    let mut j = first;
    while j < chars.len() {
        let c = chars[j].1;
        if let Some(d) = digit_value(c) {
            run.digits.push(d);
            run.shape
                .push(char::from_digit(d, 10).expect("digit below ten"));
            run.last = j;
        } else if !is_number_separator(chars, j) {
            break;
        } else {
            run.shape.push(c);
        }
        j += 1;
    }
    ends_word(chars, run.last + 1).then_some(run)
}

/// A separator counts only when a digit (or an opening bracket before one) follows it.
fn is_number_separator(chars: &[(usize, char)], j: usize) -> bool {
    let next_is_digit = |k: usize| chars.get(k).is_some_and(|c| digit_value(c.1).is_some());
    match chars[j].1 {
        ' ' | '-' | '.' | '/' => {
            next_is_digit(j + 1)
                || (chars.get(j + 1).is_some_and(|c| c.1 == '(') && next_is_digit(j + 2))
        }
        '(' => next_is_digit(j + 1),
        ')' => chars.get(j + 1).is_some_and(|c| c.1 == ' ' || c.1 == '-') || next_is_digit(j + 1),
        _ => false,
    }
}

fn classify_number(run: &NumberRun) -> Option<PiiKind> {
    let n = run.digits.len();
    if (13..=19).contains(&n) && !run.plus && luhn_ok(&run.digits) {
        return Some(PiiKind::Card);
    }
    if ssn_shape_ok(&run.shape) {
        return Some(PiiKind::Ssn);
    }
    // Without a country prefix, eight digits or fewer is more often a date or an amount.
    let phone_digits = if run.plus { 8..=15 } else { 9..=15 };
    phone_digits.contains(&n).then_some(PiiKind::Phone)
}

/// Luhn (mod 10) check over the digits, rightmost digit being the check digit.
pub(crate) fn luhn_ok(digits: &[u32]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, twice) if twice > 9 => twice - 9,
            (true, twice) => twice,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// US SSN written as AAA-GG-SSSS (dashes or spaces) with a number that can be issued:
/// area not 000, 666 or 900 to 999, group not 00, serial not 0000.
pub(crate) fn ssn_shape_ok(shape: &str) -> bool {
    let parts: Vec<&str> = shape.split(['-', ' ']).collect();
    let sizes_ok = parts.len() == 3
        && [3, 2, 4]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()));
    if !sizes_ok {
        return false;
    }
    let area: u32 = parts[0].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && parts[1] != "00" && parts[2] != "0000"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_text(text: &str) -> Vec<(PiiKind, String)> {
        find(text)
            .into_iter()
            .map(|s| (s.kind, text[s.start..s.end].to_owned()))
            .collect()
    }

    #[test]
    fn luhn_accepts_test_card_numbers_and_rejects_altered_ones() {
        let cases = [
            ("4111111111111111", true),
            ("5500005555555559", true),
            ("378282246310005", true),
            ("4111111111111112", false),
            ("1234567812345678", false),
            ("", false),
        ];
        for (number, expected) in cases {
            let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
            assert_eq!(luhn_ok(&digits), expected, "luhn case {number}");
        }
    }

    #[test]
    fn iban_checksum_accepts_valid_and_rejects_altered_numbers() {
        let cases = [
            ("GB82WEST12345698765432", true),
            ("DE89370400440532013000", true),
            ("FR1420041010050500013M02606", true),
            ("NL91ABNA0417164300", true),
            ("GB82WEST12345698765433", false),
            ("DE00370400440532013000", false),
            ("GB82", false),
        ];
        for (iban, expected) in cases {
            assert_eq!(iban_checksum_ok(iban), expected, "iban case {iban}");
        }
    }

    #[test]
    fn finds_each_kind_of_personal_data_in_context() {
        let cases: [(&str, &[(PiiKind, &str)]); 14] = [
            (
                "mail jane.doe@example.com.",
                &[(PiiKind::Email, "jane.doe@example.com")],
            ),
            (
                "card 4111 1111 1111 1111 pls",
                &[(PiiKind::Card, "4111 1111 1111 1111")],
            ),
            (
                "card 4111-1111-1111-1111",
                &[(PiiKind::Card, "4111-1111-1111-1111")],
            ),
            ("card 4111 1111 1111 1112 x", &[]),
            (
                "IBAN DE89 3704 0044 0532 0130 00 thanks",
                &[(PiiKind::Iban, "DE89 3704 0044 0532 0130 00")],
            ),
            (
                "iban GB82WEST12345698765432",
                &[(PiiKind::Iban, "GB82WEST12345698765432")],
            ),
            ("my ssn is 123-45-6789", &[(PiiKind::Ssn, "123-45-6789")]),
            ("NI AB 12 34 56 C ok", &[(PiiKind::UkNino, "AB 12 34 56 C")]),
            ("NI QQ123456C is not issued", &[]),
            (
                "call +44 7700 900123 now",
                &[(PiiKind::Phone, "+44 7700 900123")],
            ),
            ("ring (555) 123-4567", &[(PiiKind::Phone, "(555) 123-4567")]),
            ("on 2024-01-15 I paid 50.00", &[]),
            ("order ABC123456789012", &[]),
            ("a@b is not an address", &[]),
        ];
        for (text, expected) in cases {
            let expected: Vec<(PiiKind, String)> = expected
                .iter()
                .map(|(k, s)| (*k, (*s).to_owned()))
                .collect();
            assert_eq!(kinds_and_text(text), expected, "case {text:?}");
        }
    }

    #[test]
    fn invalid_social_security_numbers_are_not_reported_as_such() {
        for text in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            let kinds: Vec<PiiKind> = find(text).into_iter().map(|s| s.kind).collect();
            assert!(!kinds.contains(&PiiKind::Ssn), "case {text} gave {kinds:?}");
        }
    }

    #[test]
    fn look_alike_characters_are_still_caught() {
        let cases = [
            ("write to j\u{043e}hn@ex\u{0430}mple.com", PiiKind::Email),
            ("j.doe\u{ff20}example.org", PiiKind::Email),
            (
                "\u{ff14}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}",
                PiiKind::Card,
            ),
            ("nul\0 4111111111111111\0 end", PiiKind::Card),
        ];
        for (text, kind) in cases {
            let found = find(text);
            assert_eq!(found.len(), 1, "case {text:?} gave {found:?}");
            assert_eq!(found[0].kind, kind, "case {text:?}");
        }
    }

    #[test]
    fn spans_are_sorted_disjoint_and_on_char_boundaries_for_hostile_input() {
        let long = "héllo 4111 1111 1111 1111 jö@exämple.de 😀 ".repeat(2_500);
        let inputs = [
            String::new(),
            "😀😡🙏".to_owned(),
            "\0\0\0".to_owned(),
            "@@@ ... +++ 0000".to_owned(),
            "Grüß dich, mail an jürgen@beispiel.de oder +49 30 1234567".to_owned(),
            long,
        ];
        for text in &inputs {
            let spans = find(text);
            for pair in spans.windows(2) {
                assert!(
                    pair[0].end <= pair[1].start,
                    "overlap in {:?}",
                    &text[..text.len().min(40)]
                );
            }
            for s in &spans {
                assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
                assert!(s.start < s.end && s.end <= text.len());
            }
        }
        assert_eq!(
            find(&inputs[5]).len(),
            5_000,
            "every repeated card and address is found"
        );
    }

    #[test]
    fn redact_replaces_spans_and_ignores_bad_ones() {
        let text = "write to a.b@example.com or call +44 7700 900123";
        let redacted = redact(text, &find(text));
        assert_eq!(redacted, "write to [EMAIL] or call [PHONE]");

        let bogus = [
            PiiSpan {
                kind: PiiKind::Card,
                start: 1,
                end: 2,
            },
            PiiSpan {
                kind: PiiKind::Card,
                start: 0,
                end: 99,
            },
        ];
        assert_eq!(
            redact("é!", &bogus),
            "é!",
            "a span inside a char and one past the end"
        );
    }
}
