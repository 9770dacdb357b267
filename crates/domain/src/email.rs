use std::fmt;

use serde::{Serialize, Serializer};

use crate::ValidationError;

/// An e-mail address, trimmed and lower-cased so that look-ups and uniqueness ignore case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim().to_lowercase();
        let invalid = || ValidationError::new(field, "must be a valid e-mail address");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse("email", "  Ana@Tienda.CL ").unwrap().as_str(),
            "ana@tienda.cl"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@tienda.cl",
            "ana@tienda",
            "a b@c.cl",
            "a@@b.cl",
            "a@b..cl",
            "a@.b.cl",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad} should be rejected");
        }
    }
}
