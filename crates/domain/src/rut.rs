//! Chilean RUT (Rol Único Tributario): a body number and a modulo-11 check digit.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::ValidationError;

/// A RUT whose check digit has been verified, kept in the canonical form `12345678-5`
/// (no dots, hyphen before the check digit, `K` upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rut {
    body: u32,
    check: char,
}

impl Rut {
    /// Parses `12.345.678-5`, `12345678-5` or `123456785`. Dots, when present, must group
    /// thousands correctly; the check digit must match the body.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let malformed = || {
            ValidationError::new(
                field,
                "must be a RUT like 12.345.678-5 (digits, optional dots, check digit 0-9 or K)",
            )
        };
        let text = raw.trim();
        let mut chars: Vec<char> = text.chars().collect();
        let check = chars.pop().ok_or_else(malformed)?.to_ascii_uppercase();
        if !(check.is_ascii_digit() || check == 'K') {
            return Err(malformed());
        }
        if chars.last() == Some(&'-') {
            chars.pop();
        }
        let body_text: String = chars.iter().collect();
        if body_text.contains('.') && !dots_group_thousands(&body_text) {
            return Err(malformed());
        }
        let digits: String = body_text.chars().filter(|c| *c != '.').collect();
        if digits.is_empty() || digits.len() > 9 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(malformed());
        }
        let body: u32 = digits.parse().map_err(|_| malformed())?;
        if body == 0 {
            return Err(malformed());
        }
        let expected = check_digit(body);
        if expected != check {
            return Err(ValidationError::new(field, "check digit does not match the RUT number"));
        }
        Ok(Self { body, check })
    }

    pub fn body(&self) -> u32 {
        self.body
    }

    pub fn check_digit(&self) -> char {
        self.check
    }

    /// The RUT with thousands separators, as printed on Chilean documents: `12.345.678-5`.
    pub fn formatted(&self) -> String {
        let digits = self.body.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('.');
            }
            grouped.push(c);
        }
        format!("{grouped}-{}", self.check)
    }
}

/// The modulo-11 check digit of a RUT body: weights 2..7 from the right, `11 - sum % 11`,
/// where 11 is written `0` and 10 is written `K`.
pub fn check_digit(body: u32) -> char {
    let mut sum = 0u32;
    let mut weight = 2;
    let mut rest = body;
    while rest > 0 {
        sum += (rest % 10) * weight;
        rest /= 10;
        weight = if weight == 7 { 2 } else { weight + 1 };
    }
    match 11 - sum % 11 {
        11 => '0',
        10 => 'K',
        d => char::from_digit(d, 10).unwrap_or('0'),
    }
}

fn dots_group_thousands(text: &str) -> bool {
    let mut groups = text.split('.');
    let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
    first_ok && groups.all(|g| g.len() == 3)
}

impl fmt::Display for Rut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.body, self.check)
    }
}

impl Serialize for Rut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ruts_normalise() {
        for (raw, canonical) in [
            ("12.345.678-5", "12345678-5"),
            ("12345678-5", "12345678-5"),
            ("123456785", "12345678-5"),
            (" 11.111.111-1 ", "11111111-1"),
            ("7.654.321-6", "7654321-6"),
            ("1-9", "1-9"),
        ] {
            assert_eq!(Rut::parse("rut", raw).unwrap().to_string(), canonical, "{raw}");
        }
    }

    #[test]
    fn k_check_digit_in_either_case() {
        let body = (1..50_000_000u32).find(|b| check_digit(*b) == 'K').unwrap();
        let lower = format!("{body}-k");
        let upper = format!("{body}-K");
        assert_eq!(Rut::parse("rut", &lower).unwrap().to_string(), upper);
        assert_eq!(Rut::parse("rut", "20.000.003-K").unwrap().check_digit(), 'K');
    }

    #[test]
    fn wrong_check_digit_is_rejected_with_its_own_message() {
        let err = Rut::parse("rut", "12.345.678-9").unwrap_err();
        assert_eq!(err.field, "rut");
        assert!(err.message.contains("check digit"));
    }

    #[test]
    fn malformed_is_rejected() {
        for bad in [
            "",
            "-",
            "K",
            "12.345.6785-5",
            "12,345,678-5",
            "1234.5678-5",
            "abc-5",
            "12345678-X",
            "0-0",
            "1234567890-1",
            "12.345.678--5",
        ] {
            let err = Rut::parse("rut", bad).unwrap_err();
            assert!(!err.message.contains("check digit does not"), "{bad}: {err}");
        }
    }

    #[test]
    fn check_digit_matches_known_vectors() {
        assert_eq!(check_digit(12_345_678), '5');
        assert_eq!(check_digit(11_111_111), '1');
        assert_eq!(check_digit(20_000_003), 'K');
        assert_eq!(check_digit(76_086_428), '5');
    }

    #[test]
    fn formatted_groups_thousands() {
        assert_eq!(Rut::parse("rut", "123456785").unwrap().formatted(), "12.345.678-5");
        assert_eq!(Rut::parse("rut", "1-9").unwrap().formatted(), "1-9");
    }
}
