//! Line differences between two versions of a rules document, for supervisors to read
//! before they publish.

use serde::Serialize;

/// One line of a difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `+` added, `-` removed.
    pub op: char,
    /// Line number in the old document (removed lines) or the new one (added lines),
    /// counting from 1.
    pub line: usize,
    pub text: String,
}

/// Documents longer than this many lines are compared as wholly replaced, which keeps
/// the quadratic table small.
const MAX_LINES: usize = 5_000;

/// The lines removed from `old` and added in `new`, in document order, from a longest
/// common subsequence of lines.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return replaced(&a, &b);
    }
    // common[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut common = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i * width + j] = if a[i] == b[j] {
                common[(i + 1) * width + j + 1] + 1
            } else {
                common[(i + 1) * width + j].max(common[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len()
            && (j == b.len() || common[(i + 1) * width + j] >= common[i * width + j + 1])
        {
            out.push(line('-', i, a[i]));
            i += 1;
        } else {
            out.push(line('+', j, b[j]));
            j += 1;
        }
    }
    out
}

fn replaced(a: &[&str], b: &[&str]) -> Vec<DiffLine> {
    let removed = a.iter().enumerate().map(|(i, t)| line('-', i, t));
    let added = b.iter().enumerate().map(|(j, t)| line('+', j, t));
    removed.chain(added).collect()
}

fn line(op: char, index: usize, text: &str) -> DiffLine {
    DiffLine {
        op,
        line: index + 1,
        text: text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(old: &str, new: &str) -> Vec<String> {
        line_diff(old, new)
            .into_iter()
            .map(|d| format!("{}{}:{}", d.op, d.line, d.text))
            .collect()
    }

    #[test]
    fn differences_are_the_changed_lines_only() {
        let cases: [(&str, &str, &[&str]); 5] = [
            ("a\nb\nc", "a\nb\nc", &[]),
            ("a\nb\nc", "a\nx\nc", &["-2:b", "+2:x"]),
            ("a\nc", "a\nb\nc", &["+2:b"]),
            ("a\nb\nc", "a\nc", &["-2:b"]),
            ("", "a", &["+1:a"]),
        ];
        for (old, new, expected) in cases {
            assert_eq!(ops(old, new), expected, "{old:?} -> {new:?}");
        }
    }
}
