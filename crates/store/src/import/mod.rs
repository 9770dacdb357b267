//! CSV import and export (products, customers, sales, sales items, canonical transactions and
//! the UCI Online Retail data set).
//!
//! An import runs in three steps and writes nothing unless every row is valid:
//! 1. parse ([`parse`]): every row is read and checked (required columns, numbers, money,
//!    timestamps, RUT, e-mail); every problem is reported with its row, field and reason.
//! 2. resolve ([`write`]): inside one transaction, references are checked against the database
//!    (unknown SKUs, customers, sales; e-mails or RUTs already taken; sales lines in another
//!    stock mode than their sale's); existing records are reported as duplicates and skipped.
//! 3. write: multi-row `INSERT` batches in that same transaction (suppliers named by a products
//!    file and not found are created), the `erp.products` / `erp.customers` event of each new
//!    product and customer (as the API's create writes), the alerts of every stock level
//!    written with their `erp.alerts` events, one summary outbox event for the rest
//!    (`erp.sales` / `import.completed`: sales are not evented one by one) and one audit row.
//!    Any error rolls everything back.
//!
//! Past sales cannot break the stock ledger: in `historical` mode they are stored with
//! `historical = true` and leave stock alone; in `ledger` mode each product × warehouse gets
//! one `opening` movement with the quantity sold, dated just before its first sale, then one
//! `sale` exit per line, so stock levels are unchanged and equal the sum of their movements.

mod alerts;
mod export;
mod parse;
mod write;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::Actor;
use crate::{Db, StoreResult};

pub use export::export;

/// A CSV layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Products,
    Customers,
    Sales,
    SalesItems,
    Transactions,
    OnlineRetail,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Products,
        Format::Customers,
        Format::Sales,
        Format::SalesItems,
        Format::Transactions,
        Format::OnlineRetail,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s.trim().to_ascii_lowercase().replace('_', "-"))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Products => "products",
            Format::Customers => "customers",
            Format::Sales => "sales",
            Format::SalesItems => "sales-items",
            Format::Transactions => "transactions",
            Format::OnlineRetail => "online-retail",
        }
    }

    /// Whether the layout records sales (and so is subject to the stock mode).
    pub fn has_sales(&self) -> bool {
        matches!(
            self,
            Format::Sales | Format::SalesItems | Format::Transactions | Format::OnlineRetail
        )
    }

    /// Minor-unit digits of money when not given: 2 for Online Retail (pounds and pence), 0
    /// (Chilean pesos) otherwise.
    pub fn default_decimals(&self) -> u32 {
        match self {
            Format::OnlineRetail => 2,
            _ => 0,
        }
    }
}

/// How imported past sales meet the stock ledger. The lines of a `sales-items` file must be
/// imported in the mode their sales were: another mode is refused row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StockMode {
    /// Stored as `historical = true`; stock untouched.
    #[default]
    Historical,
    /// An `opening` movement per product × warehouse, then `sale` exits; net zero.
    Ledger,
}

impl StockMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "historical" => Some(StockMode::Historical),
            "ledger" => Some(StockMode::Ledger),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            StockMode::Historical => "historical",
            StockMode::Ledger => "ledger",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Code of the warehouse for stock and for sales without a store (created when missing).
    pub warehouse: String,
    pub stock: StockMode,
    /// Digits of the minor currency unit; `None` takes the format's default.
    pub decimals: Option<u32>,
    /// Run everything, then roll back.
    pub dry_run: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            warehouse: "MAIN".into(),
            stock: StockMode::Historical,
            decimals: None,
            dry_run: false,
        }
    }
}

/// The phase a progress callback reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the file: `done` and `total` are bytes.
    Read,
    /// Writing: `done` and `total` are rows.
    Write,
}

/// Progress callback: phase, done, total.
pub type Progress<'a> = &'a (dyn Fn(Phase, u64, u64) + Send + Sync);

/// One rejected value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowError {
    /// Line of the file (the header is line 1).
    pub row: u64,
    pub field: String,
    pub reason: String,
}

/// What was written, per entity.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportedCounts {
    pub warehouses: u64,
    pub categories: u64,
    /// Suppliers named by a products file and not found (by name, ignoring case): created.
    pub suppliers: u64,
    pub products: u64,
    pub customers: u64,
    pub sales: u64,
    pub sale_items: u64,
    pub stock_movements: u64,
}

/// The outcome of an import.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub format: String,
    /// `historical` or `ledger` for layouts with sales; `none` otherwise.
    pub mode: String,
    /// What the mode did to the stock ledger, in words.
    pub mode_note: String,
    pub decimals: u32,
    pub warehouse: String,
    pub dry_run: bool,
    /// Whether the changes were committed (false on errors and dry runs).
    pub committed: bool,
    /// Data rows read (header excluded).
    pub rows_read: u64,
    pub imported: ImportedCounts,
    /// Rows left out on purpose, by reason (Online Retail cleaning: `cancelled`,
    /// `no_customer`, `non_positive_quantity`, `non_positive_price`).
    pub skipped: BTreeMap<String, u64>,
    /// Records already in the database (same SKU, customer id or sale id), left as they are.
    pub duplicates: u64,
    /// Amounts written with more decimals than `decimals`, rounded half up to it (Online
    /// Retail has four prices with three decimals).
    pub rounded: u64,
    /// The first 1000 errors; any error means nothing was written.
    pub errors: Vec<RowError>,
    /// Every error, including those beyond the list.
    pub errors_total: u64,
    pub seconds: f64,
}

impl ImportReport {
    pub fn ok(&self) -> bool {
        self.errors_total == 0
    }
}

/// Errors kept in a report; the rest are only counted.
pub const MAX_ERRORS: usize = 1000;

#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub list: Vec<RowError>,
    pub total: u64,
}

impl Errors {
    pub fn push(&mut self, row: u64, field: &str, reason: impl Into<String>) {
        self.total += 1;
        if self.list.len() < MAX_ERRORS {
            self.list.push(RowError {
                row,
                field: field.to_string(),
                reason: reason.into(),
            });
        }
    }
}

/// Imports `data` (a whole CSV file) in `format`. Returns the report: when it lists errors,
/// nothing was written. `Err` only for storage failures (also with nothing written).
pub async fn import(
    db: &Db,
    actor: &Actor,
    format: Format,
    data: &[u8],
    opts: &ImportOptions,
    progress: Progress<'_>,
) -> StoreResult<ImportReport> {
    let started = std::time::Instant::now();
    let decimals = opts.decimals.unwrap_or_else(|| format.default_decimals());
    let mut report = ImportReport {
        format: format.as_str().into(),
        mode: if format.has_sales() {
            opts.stock.as_str().into()
        } else {
            "none".into()
        },
        mode_note: mode_note(format, opts.stock),
        decimals,
        warehouse: opts.warehouse.clone(),
        dry_run: opts.dry_run,
        committed: false,
        rows_read: 0,
        imported: ImportedCounts::default(),
        skipped: BTreeMap::new(),
        duplicates: 0,
        rounded: 0,
        errors: Vec::new(),
        errors_total: 0,
        seconds: 0.0,
    };
    let mut parsed = parse::parse(format, data, decimals, progress);
    if let Err(e) = bodega_domain::limits::warehouse_code("warehouse", &opts.warehouse) {
        parsed.errors.push(0, &e.field, e.message);
    }
    report.rows_read = parsed.rows_read;
    report.skipped = std::mem::take(&mut parsed.skipped);
    report.rounded = parsed.rounded;
    if parsed.errors.total == 0 {
        let mut tx = db.begin().await?;
        let since = crate::now();
        let outcome = write::write(&mut tx.conn(), actor, format, &mut parsed, opts, &mut report, progress).await?;
        if outcome && parsed.errors.total == 0 && !opts.dry_run {
            if format.has_sales() {
                // Past days' report aggregates include the imported sales from the moment they
                // are committed, not from the next nightly run.
                let c = &mut tx.conn();
                if let Some((first, last)) = crate::analytics::days_touched_since(c, Some(since)).await? {
                    crate::analytics::rebuild_daily_sales(c, first.date_naive(), last.date_naive()).await?;
                }
            }
            tx.commit().await?;
            report.committed = true;
        }
        // Otherwise the transaction is dropped: rolled back.
    }
    report.errors_total = parsed.errors.total;
    report.errors = std::mem::take(&mut parsed.errors.list);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn mode_note(format: Format, mode: StockMode) -> String {
    match (format.has_sales(), mode, format) {
        (false, _, Format::Products) => {
            "products with a stock column get an entry movement in the warehouse, and a stock alert when \
             it is below their threshold"
                .into()
        }
        (false, _, _) => "no stock effect".into(),
        (true, StockMode::Historical, _) => {
            "sales stored as historical (channel import): stock levels and movements untouched".into()
        }
        (true, StockMode::Ledger, _) => {
            "ledger: one opening movement per product and warehouse with the quantity sold, \
             dated before its first sale, then a sale exit per line; stock levels unchanged"
                .into()
        }
    }
}

/// Money in major units with decimals ("2.55") to integer minor units; digits beyond
/// `decimals` are rounded half away from zero. Returns the value and whether it was > 0.
pub(crate) fn parse_money(raw: &str, decimals: u32) -> Option<(i64, bool)> {
    let s = raw.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 15
    {
        return None;
    }
    let d = decimals as usize;
    let mut value: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let positive_raw = int.bytes().chain(frac.bytes()).any(|b| b != b'0');
    for i in 0..d {
        value = value * 10 + frac.as_bytes().get(i).map(|b| i128::from(b - b'0')).unwrap_or(0);
    }
    if frac.as_bytes().get(d).is_some_and(|b| *b >= b'5') {
        value += 1;
    }
    let value = i64::try_from(value).ok()?;
    Some(if neg { (-value, false) } else { (value, positive_raw) })
}

/// Whether `raw` has a non-zero digit past `decimals` decimals (that [`parse_money`] rounds).
pub(crate) fn is_rounded(raw: &str, decimals: u32) -> bool {
    raw.trim()
        .split_once('.')
        .is_some_and(|(_, frac)| frac.bytes().skip(decimals as usize).any(|b| b != b'0'))
}

/// Minor units back to major units with `decimals` digits.
pub(crate) fn format_money(minor: i64, decimals: u32) -> String {
    if decimals == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(decimals);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = decimals as usize
    )
}

/// RFC 3339, `YYYY-MM-DD[ T]HH:MM[:SS]` (UTC), `YYYY-MM-DD`, or `M/D/YYYY H:MM` (UCI).
pub(crate) fn parse_timestamp(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        assert_eq!(parse_money("2.55", 2), Some((255, true)));
        assert_eq!(parse_money("2.5", 2), Some((250, true)));
        assert_eq!(parse_money("0.001", 2), Some((0, true)));
        assert_eq!(parse_money("0", 2), Some((0, false)));
        assert_eq!(parse_money("-1.5", 0), Some((-2, false)));
        assert_eq!(parse_money("1990", 0), Some((1990, true)));
        assert_eq!(parse_money("abc", 0), None);
        assert_eq!(parse_money("", 0), None);
        assert!(is_rounded("0.001", 2) && is_rounded("1.5", 0) && is_rounded(" 2.555 ", 2));
        assert!(!is_rounded("2.50", 2) && !is_rounded("2.500", 2) && !is_rounded("1990", 0));
        assert_eq!(format_money(255, 2), "2.55");
        assert_eq!(format_money(5, 2), "0.05");
        assert_eq!(format_money(1990, 0), "1990");
    }

    #[test]
    fn timestamps() {
        assert!(parse_timestamp("2010-12-01 08:26:00").is_some());
        assert!(parse_timestamp("12/1/2010 8:26").is_some());
        assert!(parse_timestamp("2024-01-02T03:04:05Z").is_some());
        assert!(parse_timestamp("2024-01-02").is_some());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
