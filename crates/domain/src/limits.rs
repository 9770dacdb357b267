//! The bounds every quantity, amount and catalogue code must keep, whichever way it arrives
//! (the API, a CSV import). They keep every sum the ledger and the reports compute inside 64
//! bits: a sale, an order or a stock entry is worth at most [`MAX_TOTAL`], and a line holds at
//! most [`MAX_QUANTITY`] units (so its cost, at most `MAX_QUANTITY × MAX_AMOUNT`, fits too).

use crate::error::{required_text, ValidationError};

/// Largest quantity of one line or movement, and largest opening stock.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// Largest price or cost, in minor units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Largest total of one sale, order or stock entry, in minor units (10^12: ten billion in a
/// currency with cents). Nine million of them still sum inside 64 bits, so no report over
/// the shop's history can overflow.
pub const MAX_TOTAL: i64 = 1_000_000_000_000;

/// Longest product name, SKU and warehouse code.
pub const MAX_NAME: usize = 200;
pub const MAX_SKU: usize = 64;
pub const MAX_CODE: usize = 40;
/// Longest category name (one level of a path).
pub const MAX_CATEGORY: usize = 100;

/// A quantity of one line or movement: 1 to [`MAX_QUANTITY`].
pub fn quantity(field: &str, q: i64) -> Result<i64, ValidationError> {
    within(field, q, 1, MAX_QUANTITY)
}

/// A stock count or threshold: 0 to [`MAX_QUANTITY`].
pub fn count(field: &str, q: i64) -> Result<i64, ValidationError> {
    within(field, q, 0, MAX_QUANTITY)
}

/// A price or cost: 0 to [`MAX_AMOUNT`].
pub fn amount(field: &str, v: i64) -> Result<i64, ValidationError> {
    within(field, v, 0, MAX_AMOUNT)
}

fn within(field: &str, v: i64, min: i64, max: i64) -> Result<i64, ValidationError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ValidationError::new(field, format!("must be between {min} and {max}")))
    }
}

/// The total of lines given as `(unit price, quantity)`, refused past [`MAX_TOTAL`].
pub fn total(field: &str, lines: impl IntoIterator<Item = (i64, i64)>) -> Result<i64, ValidationError> {
    lines
        .into_iter()
        .try_fold(0i64, |sum, (price, quantity)| {
            price
                .checked_mul(quantity)
                .and_then(|line| sum.checked_add(line))
                .filter(|t| (0..=MAX_TOTAL).contains(t))
        })
        .ok_or_else(|| ValidationError::new(field, format!("the lines add up to more than {MAX_TOTAL}")))
}

/// A stock entry's worth, `quantity × unit_cost`, refused past [`MAX_TOTAL`] like a sale's.
pub fn entry_value(field: &str, quantity: i64, unit_cost: i64) -> Result<i64, ValidationError> {
    total(field, [(unit_cost, quantity)]).map_err(|_| {
        ValidationError::new(
            field,
            format!("an entry worth more than {MAX_TOTAL} (quantity × unit cost)"),
        )
    })
}

/// A product's SKU: trimmed, 1 to [`MAX_SKU`] characters; plain spaces inside are kept (codes
/// from other systems have them: Online Retail's "BANK CHARGES"), other whitespace and control
/// characters are refused.
pub fn sku(field: &str, value: &str) -> Result<String, ValidationError> {
    let sku = required_text(field, value, MAX_SKU)?;
    if sku.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(ValidationError::new(
            field,
            "must not contain tabs, line breaks or other whitespace than a space",
        ));
    }
    Ok(sku)
}

/// A category path ("Bebidas / Jugos"): every name in it 1 to [`MAX_CATEGORY`] characters.
pub fn category_path(field: &str, value: &str) -> Result<(), ValidationError> {
    for name in value.split('/').map(str::trim).filter(|n| !n.is_empty()) {
        required_text(field, name, MAX_CATEGORY)?;
    }
    Ok(())
}

/// A warehouse code: 1 to [`MAX_CODE`] letters, digits, '-' and '_'.
pub fn warehouse_code(field: &str, value: &str) -> Result<String, ValidationError> {
    let code = required_text(field, value, MAX_CODE)?;
    if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ValidationError::new(field, "use letters, digits, '-' and '_'"));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_refused_before_they_wrap() {
        assert_eq!(total("items", [(1000, 3), (250, 2)]), Ok(3500));
        let largest_line = (MAX_AMOUNT, MAX_QUANTITY);
        assert!(total("items", [largest_line]).is_err(), "10^18 is past MAX_TOTAL");
        assert!(total("items", [(MAX_AMOUNT, 1), (1, 1)]).is_err());
        assert!(total("items", [(i64::MAX, 2)]).is_err(), "the product overflows");
        assert!(total("items", [(i64::MAX, 1), (1, 1)]).is_err(), "the sum overflows");
        assert_eq!(total("items", [(MAX_TOTAL, 1)]), Ok(MAX_TOTAL));
        assert_eq!(total("items", []), Ok(0));
        assert_eq!(
            entry_value("unit_cost", MAX_QUANTITY, MAX_TOTAL / MAX_QUANTITY),
            Ok(MAX_TOTAL)
        );
        assert!(entry_value("unit_cost", MAX_QUANTITY, MAX_AMOUNT)
            .unwrap_err()
            .message
            .contains("worth"));
    }

    #[test]
    fn codes_and_bounds() {
        assert_eq!(sku("sku", " AB-1 ").unwrap(), "AB-1");
        assert_eq!(sku("sku", "BANK CHARGES").unwrap(), "BANK CHARGES");
        assert!(sku("sku", "AB\t1").is_err());
        assert!(category_path("category", "Bebidas / Jugos").is_ok());
        assert!(category_path("category", &format!("Bebidas / {}", "x".repeat(MAX_CATEGORY + 1))).is_err());
        assert!(sku("sku", &"x".repeat(MAX_SKU + 1)).is_err());
        assert!(sku("sku", "a\u{0}b").is_err());
        assert!(warehouse_code("code", "STGO_01").is_ok());
        assert!(warehouse_code("code", "STGO 01").is_err());
        assert!(quantity("q", 0).is_err() && quantity("q", MAX_QUANTITY).is_ok());
        assert!(count("stock", 0).is_ok() && count("stock", MAX_QUANTITY + 1).is_err());
        assert!(amount("price", -1).is_err() && amount("price", MAX_AMOUNT).is_ok());
    }
}
