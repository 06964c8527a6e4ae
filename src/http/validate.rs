//! Checks shared by the routes that take people's input.

use super::error::ApiError;

/// Control characters other than tab and line breaks (NUL included).
pub fn has_control_chars(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

pub fn check_field(name: &str, value: Option<&String>, max: usize) -> Result<(), ApiError> {
    let Some(value) = value else { return Ok(()) };
    if value.chars().count() > max || has_control_chars(value) {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("{name} must have at most {max} characters and no control characters"),
        ));
    }
    Ok(())
}

pub fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !value.chars().any(char::is_whitespace)
}

/// A BCP 47-shaped tag: letters, then optional subtags of letters or digits.
pub fn is_language_tag(value: &str) -> bool {
    let mut parts = value.split('-');
    let primary = parts.next().unwrap_or_default();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The page size a client asked for, or `default`; at least 1 and at most `max`.
pub fn page_limit(requested: Option<i64>, default: i64, max: u32) -> Result<i64, ApiError> {
    let max = i64::from(max);
    let limit = requested.unwrap_or(default);
    if (1..=max).contains(&limit) {
        return Ok(limit);
    }
    Err(ApiError::invalid(
        "invalid_limit",
        format!("limit must be between 1 and {max}"),
    ))
}

/// A message someone writes: not blank, not longer than `max_chars`, no control
/// characters.
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::invalid(
            "empty_message",
            "the message has no text",
        ));
    }
    if text.chars().count() > max_chars {
        return Err(ApiError::invalid(
            "message_too_long",
            format!("the message is longer than {max_chars} characters"),
        ));
    }
    if has_control_chars(text) {
        return Err(ApiError::invalid(
            "invalid_text",
            "the message contains control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_are_checked_for_shape() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "gsw"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "en-", "12"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
