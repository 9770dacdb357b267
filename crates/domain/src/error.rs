use serde::Serialize;

/// A rejected input value: which field, and why. Every parse function in this crate returns
/// one so that the API can answer with `{"error":{"code":"validation","field":…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a required free-text field: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.chars().all(is_invisible) {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    optional_text(field, trimmed, max).map(|v| v.unwrap_or_default())
}

/// Characters that print nothing: a name made only of these (zero-width spaces, direction
/// marks, a byte-order mark) looks blank on every screen and in every report.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Checks an optional free-text field: blank becomes `None`, longer than `max` is rejected.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<Option<String>, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(Some(trimmed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_trims_and_rejects_blank() {
        assert_eq!(required_text("name", "  Ana ", 10).unwrap(), "Ana");
        assert_eq!(required_text("name", "   ", 10).unwrap_err().field, "name");
        assert!(required_text("name", "abcdefghijk", 10).is_err());
        assert!(required_text("name", "a\u{0}b", 10).is_err());
        assert_eq!(
            required_text("name", "\u{202e}\u{200b}", 10).unwrap_err().message,
            "must not be empty"
        );
        assert_eq!(required_text("name", "\u{200b}Ana", 10).unwrap(), "\u{200b}Ana");
    }

    #[test]
    fn optional_text_maps_blank_to_none() {
        assert_eq!(optional_text("phone", " ", 10).unwrap(), None);
        assert_eq!(optional_text("phone", "+56 9", 10).unwrap().as_deref(), Some("+56 9"));
    }
}
