//! Reading the layouts into one model: products, customers, sales and their items. Pure: no
//! database; references are resolved by `write`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::sales;

use super::{is_rounded, parse_money, parse_timestamp, Errors, Format, Phase, Progress};
use bodega_domain::error::{optional_text, required_text};
use bodega_domain::{limits, Email, Rut, ValidationError};

#[derive(Debug, Clone)]
pub(crate) struct ProductRow {
    pub line: u64,
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub price: i64,
    pub cost: i64,
    pub description: String,
    pub keywords: Vec<String>,
    pub supplier: Option<String>,
    pub status: String,
    pub low_stock_threshold: i64,
    pub stock: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct CustomerRow {
    pub line: u64,
    pub external_ref: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub rut: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct SaleRow {
    pub line: u64,
    pub external_ref: String,
    pub customer_ref: Option<String>,
    pub store: Option<String>,
    pub sold_at: DateTime<Utc>,
    /// Given total (sales layout); otherwise the sum of the items.
    pub total: Option<i64>,
    /// One of `sales::PAYMENT_METHODS` (sales layout's optional column); None: not recorded.
    pub payment_method: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemRow {
    pub line: u64,
    pub sale_ref: String,
    pub sku: String,
    /// The product's name on this line (transactions, Online Retail), kept on the sale item.
    pub name: Option<String>,
    pub quantity: i64,
    pub unit_price: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub rows_read: u64,
    pub products: Vec<ProductRow>,
    pub customers: Vec<CustomerRow>,
    pub sales: Vec<SaleRow>,
    pub items: Vec<ItemRow>,
    pub skipped: BTreeMap<String, u64>,
    /// Amounts rounded to the currency's decimals (see `ImportReport::rounded`).
    pub rounded: u64,
    pub errors: Errors,
    /// Products and customers are implied by sales lines (created when missing) rather than
    /// listed (where an existing one is a duplicate).
    pub implied: bool,
}

struct Header(HashMap<String, usize>);

impl Header {
    fn col(&self, name: &str) -> Option<usize> {
        self.0.get(name).copied()
    }
}

fn get(rec: &csv::ByteRecord, idx: Option<usize>) -> &str {
    idx.and_then(|i| rec.get(i))
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::trim)
        .unwrap_or("")
}

/// The name of the first column holding a control character other than a tab or a line
/// break (the API refuses them in text, and PostgreSQL cannot store a NUL).
fn field_with_control_characters(header: &Header, rec: &csv::ByteRecord) -> Option<String> {
    let column = rec.iter().position(|f| {
        f.iter()
            .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') || b == 0x7f)
    })?;
    Some(
        header
            .0
            .iter()
            .find(|(_, &i)| i == column)
            .map_or_else(|| format!("column {}", column + 1), |(name, _)| name.clone()),
    )
}

/// Pushes an error for each bound a sales line passes: the same bounds as the API's.
fn check_line(out: &mut Parsed, line: u64, fields: (&str, &str), quantity: i64, unit_price: i64) {
    let (quantity_field, price_field) = fields;
    if let Err(e) = limits::quantity(quantity_field, quantity) {
        out.errors.push(line, quantity_field, e.message);
    } else if let Err(e) = limits::amount(price_field, unit_price) {
        out.errors.push(line, price_field, e.message);
    } else if let Err(e) = limits::total(price_field, [(unit_price, quantity)]) {
        out.errors.push(line, price_field, e.message);
    }
}

/// The low-stock threshold of a product that does not state one: the API's default too.
const DEFAULT_LOW_STOCK_THRESHOLD: i64 = 10;

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub(crate) fn parse(format: Format, data: &[u8], decimals: u32, progress: Progress<'_>) -> Parsed {
    let mut out = Parsed {
        implied: matches!(format, Format::Transactions | Format::OnlineRetail),
        ..Parsed::default()
    };
    let data = data.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(data);
    let total = data.len() as u64;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let header = match reader.byte_headers() {
        Ok(h) => Header(
            h.iter()
                .enumerate()
                .map(|(i, name)| (String::from_utf8_lossy(name).trim().to_ascii_lowercase(), i))
                .collect(),
        ),
        Err(err) => {
            out.errors.push(1, "header", format!("unreadable header: {err}"));
            return out;
        }
    };
    let required: &[&str] = match format {
        Format::Products => &["sku", "name", "price"],
        Format::Customers => &["customer_id", "first_name"],
        Format::Sales => &["sale_id", "timestamp"],
        Format::SalesItems => &["sale_id", "product_id", "quantity", "unit_price"],
        Format::Transactions => &[
            "order_id",
            "customer_id",
            "product_id",
            "quantity",
            "unit_price",
            "timestamp",
        ],
        Format::OnlineRetail => &[
            "invoiceno",
            "stockcode",
            "description",
            "quantity",
            "invoicedate",
            "unitprice",
            "customerid",
            "country",
        ],
    };
    let mut missing = false;
    for name in required {
        if header.col(name).is_none() {
            out.errors.push(1, name, "required column missing");
            missing = true;
        }
    }
    if missing {
        return out;
    }
    let mut state = State::default();
    let mut rec = csv::ByteRecord::new();
    let mut last_report = 0u64;
    loop {
        match reader.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map(|p| p.line()).unwrap_or(0);
                out.errors.push(line, "row", format!("unreadable CSV: {err}"));
                if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        out.rows_read += 1;
        if std::str::from_utf8(rec.as_slice()).is_err() {
            out.errors.push(line, "row", "not valid UTF-8");
            continue;
        }
        if let Some(column) = field_with_control_characters(&header, &rec) {
            out.errors.push(line, &column, "must not contain control characters");
            continue;
        }
        match format {
            Format::Products => product(&header, &rec, line, decimals, &mut out, &mut state),
            Format::Customers => customer(&header, &rec, line, &mut out, &mut state),
            Format::Sales => sale(&header, &rec, line, decimals, &mut out, &mut state),
            Format::SalesItems => item(&header, &rec, line, decimals, &mut out),
            Format::Transactions => transaction(&header, &rec, line, decimals, &mut out, &mut state),
            Format::OnlineRetail => online_retail(&header, &rec, line, decimals, &mut out, &mut state),
        }
        if out.rows_read - last_report >= 20_000 {
            last_report = out.rows_read;
            progress(Phase::Read, rec.position().map(|p| p.byte()).unwrap_or(0), total);
        }
    }
    progress(Phase::Read, total, total);
    out
}

#[derive(Default)]
struct State {
    products: HashMap<String, usize>,
    /// Store codes already checked.
    stores: HashSet<String>,
    customers: HashMap<String, usize>,
    sales: HashMap<String, usize>,
    emails: HashMap<String, u64>,
    ruts: HashMap<String, u64>,
}

fn int(out: &mut Parsed, line: u64, field: &str, raw: &str) -> Option<i64> {
    let v = raw.parse::<i64>().ok().or_else(|| {
        // "6.0" from spreadsheets
        raw.parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    });
    if v.is_none() {
        out.errors.push(line, field, format!("'{raw}' is not a whole number"));
    }
    v
}

fn money(out: &mut Parsed, line: u64, field: &str, raw: &str, decimals: u32) -> Option<(i64, bool)> {
    let v = parse_money(raw, decimals);
    if v.is_none() {
        out.errors.push(line, field, format!("'{raw}' is not an amount"));
    } else if is_rounded(raw, decimals) {
        out.rounded += 1;
    }
    v
}

/// The value, or `None` with the validation error pushed.
fn validated<T>(out: &mut Parsed, line: u64, checked: Result<T, ValidationError>) -> Option<T> {
    checked.map_err(|e| out.errors.push(line, &e.field, e.message)).ok()
}

fn required(out: &mut Parsed, line: u64, field: &str, raw: &str) -> Option<String> {
    if raw.is_empty() {
        out.errors.push(line, field, "required");
        return None;
    }
    Some(raw.to_string())
}

fn timestamp(out: &mut Parsed, line: u64, field: &str, raw: &str) -> Option<DateTime<Utc>> {
    let v = parse_timestamp(raw);
    if v.is_none() {
        out.errors.push(
            line,
            field,
            format!("'{raw}' is not a timestamp (RFC 3339, YYYY-MM-DD HH:MM[:SS] or M/D/YYYY H:MM)"),
        );
    }
    v
}

fn product(h: &Header, rec: &csv::ByteRecord, line: u64, decimals: u32, out: &mut Parsed, st: &mut State) {
    let before = out.errors.total;
    let sku = validated(out, line, limits::sku("sku", get(rec, h.col("sku"))));
    let name = validated(
        out,
        line,
        required_text("name", get(rec, h.col("name")), limits::MAX_NAME),
    );
    validated(
        out,
        line,
        optional_text("description", get(rec, h.col("description")), 5000),
    );
    let price = money(out, line, "price", get(rec, h.col("price")), decimals);
    if let Some((p, _)) = price {
        validated(out, line, limits::amount("price", p));
    }
    let cost_raw = get(rec, h.col("cost"));
    let cost = if cost_raw.is_empty() {
        Some((0, false))
    } else {
        money(out, line, "cost", cost_raw, decimals)
    };
    if let Some((c, _)) = cost {
        validated(out, line, limits::amount("cost", c));
    }
    validated(
        out,
        line,
        limits::category_path("category", get(rec, h.col("category"))),
    );
    let status = match get(rec, h.col("status")) {
        "" => "active".to_string(),
        s => {
            let s = s.to_ascii_lowercase();
            if !matches!(s.as_str(), "active" | "inactive" | "discontinued") {
                out.errors
                    .push(line, "status", "must be active, inactive or discontinued");
            }
            s
        }
    };
    let threshold = match get(rec, h.col("low_stock_threshold")) {
        "" => Some(DEFAULT_LOW_STOCK_THRESHOLD),
        raw => int(out, line, "low_stock_threshold", raw),
    };
    if let Some(t) = threshold {
        validated(out, line, limits::count("low_stock_threshold", t));
    }
    let stock = match get(rec, h.col("stock")) {
        "" => Some(0),
        raw => int(out, line, "stock", raw),
    };
    if let Some(q) = stock {
        validated(out, line, limits::count("stock", q));
        if let Some((c, _)) = cost {
            // The opening entry is bounded like any entry (see `stock::book_into`).
            validated(out, line, limits::entry_value("stock", q, c));
        }
    }
    // Suppliers are matched by name and created when missing: the API's bound on that name.
    validated(
        out,
        line,
        optional_text("supplier", get(rec, h.col("supplier")), limits::MAX_NAME),
    );
    if let Some(sku) = &sku {
        if let Some(first) = st.products.get(sku) {
            let first = out.products[*first].line;
            out.errors
                .push(line, "sku", format!("'{sku}' repeated (first at row {first})"));
        }
    }
    if out.errors.total > before {
        return;
    }
    let (Some(sku), Some(name), Some((price, _)), Some((cost, _)), Some(threshold), Some(stock)) =
        (sku, name, price, cost, threshold, stock)
    else {
        return;
    };
    let keywords = get(rec, h.col("keywords"))
        .split([',', ';', '|'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    st.products.insert(sku.clone(), out.products.len());
    out.products.push(ProductRow {
        line,
        sku,
        name,
        category: opt(get(rec, h.col("category"))),
        price,
        cost,
        description: get(rec, h.col("description")).to_string(),
        keywords,
        supplier: opt(get(rec, h.col("supplier"))),
        status,
        low_stock_threshold: threshold,
        stock,
    });
}

fn customer(h: &Header, rec: &csv::ByteRecord, line: u64, out: &mut Parsed, st: &mut State) {
    let before = out.errors.total;
    let external_ref = required(out, line, "customer_id", get(rec, h.col("customer_id")));
    let first_name = required(out, line, "first_name", get(rec, h.col("first_name")));
    let email = match get(rec, h.col("email")) {
        "" => None,
        raw => match Email::parse("email", raw) {
            Ok(e) => Some(e.to_string()),
            Err(err) => {
                out.errors.push(line, "email", err.message);
                None
            }
        },
    };
    let rut = match get(rec, h.col("rut")) {
        "" => None,
        raw => match Rut::parse("rut", raw) {
            Ok(r) => Some(r.to_string()),
            Err(err) => {
                out.errors.push(line, "rut", err.message);
                None
            }
        },
    };
    if let Some(r) = &external_ref {
        if let Some(first) = st.customers.get(r) {
            let first = out.customers[*first].line;
            out.errors
                .push(line, "customer_id", format!("'{r}' repeated (first at row {first})"));
        }
    }
    if let Some(e) = &email {
        if let Some(first) = st.emails.insert(e.clone(), line) {
            out.errors
                .push(line, "email", format!("'{e}' repeated (first at row {first})"));
        }
    }
    if let Some(r) = &rut {
        if let Some(first) = st.ruts.insert(r.clone(), line) {
            out.errors
                .push(line, "rut", format!("'{r}' repeated (first at row {first})"));
        }
    }
    if out.errors.total > before {
        return;
    }
    let (Some(external_ref), Some(first_name)) = (external_ref, first_name) else {
        return;
    };
    st.customers.insert(external_ref.clone(), out.customers.len());
    out.customers.push(CustomerRow {
        line,
        external_ref,
        first_name,
        last_name: get(rec, h.col("last_name")).to_string(),
        email,
        phone: opt(get(rec, h.col("phone"))),
        rut,
        address: opt(get(rec, h.col("address"))),
        notes: None,
    });
}

fn sale(h: &Header, rec: &csv::ByteRecord, line: u64, decimals: u32, out: &mut Parsed, st: &mut State) {
    let before = out.errors.total;
    let external_ref = required(out, line, "sale_id", get(rec, h.col("sale_id")));
    let sold_at = timestamp(out, line, "timestamp", get(rec, h.col("timestamp")));
    let total = match get(rec, h.col("total")) {
        "" => Some(None),
        raw => money(out, line, "total", raw, decimals).map(|(t, _)| Some(t)),
    };
    // As the till takes it, in any case (a spreadsheet's "Card"); empty: not recorded.
    let payment_method = opt(get(rec, h.col("payment_method"))).map(|m| m.to_ascii_lowercase());
    if let Some(m) = payment_method
        .as_deref()
        .filter(|m| !sales::PAYMENT_METHODS.contains(m))
    {
        out.errors.push(
            line,
            "payment_method",
            format!(
                "unknown payment method {m:?}: must be one of {}",
                sales::PAYMENT_METHODS.join(", ")
            ),
        );
    }
    if let Some(r) = &external_ref {
        if let Some(first) = st.sales.get(r) {
            let first = out.sales[*first].line;
            out.errors
                .push(line, "sale_id", format!("'{r}' repeated (first at row {first})"));
        }
    }
    if out.errors.total > before {
        return;
    }
    let store = opt(get(rec, h.col("store")));
    if let Some(code) = &store {
        if validated(out, line, limits::warehouse_code("store", code)).is_none() {
            return;
        }
    }
    if let Some(Some(t)) = total {
        if !(0..=limits::MAX_TOTAL).contains(&t) {
            return out
                .errors
                .push(line, "total", format!("must be between 0 and {}", limits::MAX_TOTAL));
        }
    }
    let (Some(external_ref), Some(sold_at), Some(total)) = (external_ref, sold_at, total) else {
        return;
    };
    st.sales.insert(external_ref.clone(), out.sales.len());
    out.sales.push(SaleRow {
        line,
        external_ref,
        customer_ref: opt(get(rec, h.col("customer_id"))),
        store,
        sold_at,
        total,
        payment_method,
    });
}

fn item(h: &Header, rec: &csv::ByteRecord, line: u64, decimals: u32, out: &mut Parsed) {
    let before = out.errors.total;
    let sale_ref = required(out, line, "sale_id", get(rec, h.col("sale_id")));
    let sku = required(out, line, "product_id", get(rec, h.col("product_id")));
    let quantity = int(out, line, "quantity", get(rec, h.col("quantity")));
    let price = money(out, line, "unit_price", get(rec, h.col("unit_price")), decimals);
    if let (Some(q), Some((p, _))) = (quantity, price) {
        check_line(out, line, ("quantity", "unit_price"), q, p);
    }
    if out.errors.total > before {
        return;
    }
    let (Some(sale_ref), Some(sku), Some(quantity), Some((unit_price, _))) = (sale_ref, sku, quantity, price) else {
        return;
    };
    out.items.push(ItemRow {
        line,
        sale_ref,
        sku,
        name: None,
        quantity,
        unit_price,
    });
}

/// One sales line of the transactions or Online Retail layouts, already cleaned.
struct Txn<'a> {
    order: &'a str,
    customer: &'a str,
    sku: &'a str,
    name: &'a str,
    category: &'a str,
    store: &'a str,
    country: &'a str,
    quantity: i64,
    unit_price: i64,
    at: DateTime<Utc>,
}

fn add_txn(out: &mut Parsed, st: &mut State, line: u64, t: Txn<'_>) {
    // Checked on first sight (a product's or store's code) or when present: 400,000 lines
    // name 4,000 products.
    let before = out.errors.total;
    if !st.products.contains_key(t.sku) {
        validated(out, line, limits::sku("product_id", t.sku));
    }
    if !t.store.is_empty()
        && !st.stores.contains(t.store)
        && validated(out, line, limits::warehouse_code("store", t.store)).is_some()
    {
        st.stores.insert(t.store.to_string());
    }
    if t.name.chars().count() > limits::MAX_NAME {
        let message = format!("must be at most {} characters", limits::MAX_NAME);
        out.errors.push(line, "product_name", message);
    }
    if !t.category.is_empty() {
        validated(out, line, limits::category_path("category", t.category));
    }
    if out.errors.total > before {
        return;
    }
    match st.products.get(t.sku) {
        Some(&i) => {
            let p = &mut out.products[i];
            p.price = t.unit_price;
            if !t.name.is_empty() {
                p.name = t.name.to_string();
            }
            if !t.category.is_empty() {
                p.category = Some(t.category.to_string());
            }
        }
        None => {
            st.products.insert(t.sku.to_string(), out.products.len());
            out.products.push(ProductRow {
                line,
                sku: t.sku.to_string(),
                name: if t.name.is_empty() {
                    t.sku.to_string()
                } else {
                    t.name.to_string()
                },
                category: opt(t.category),
                price: t.unit_price,
                cost: 0,
                description: String::new(),
                keywords: Vec::new(),
                supplier: None,
                status: "active".into(),
                // Products implied by sales lines get the default threshold, as if created by
                // hand: their alerts then agree with the low-stock listing.
                low_stock_threshold: DEFAULT_LOW_STOCK_THRESHOLD,
                stock: 0,
            });
        }
    }
    if !t.customer.is_empty() && !st.customers.contains_key(t.customer) {
        st.customers.insert(t.customer.to_string(), out.customers.len());
        out.customers.push(CustomerRow {
            line,
            external_ref: t.customer.to_string(),
            first_name: "Customer".into(),
            last_name: t.customer.to_string(),
            email: None,
            phone: None,
            rut: None,
            address: None,
            notes: opt(t.country).map(|c| format!("country: {c}")),
        });
    }
    if !st.sales.contains_key(t.order) {
        st.sales.insert(t.order.to_string(), out.sales.len());
        out.sales.push(SaleRow {
            line,
            external_ref: t.order.to_string(),
            customer_ref: opt(t.customer),
            store: opt(t.store),
            sold_at: t.at,
            total: None,
            payment_method: None,
        });
    }
    out.items.push(ItemRow {
        line,
        sale_ref: t.order.to_string(),
        sku: t.sku.to_string(),
        name: opt(t.name),
        quantity: t.quantity,
        unit_price: t.unit_price,
    });
}

fn transaction(h: &Header, rec: &csv::ByteRecord, line: u64, decimals: u32, out: &mut Parsed, st: &mut State) {
    let before = out.errors.total;
    let order = get(rec, h.col("order_id"));
    let sku = get(rec, h.col("product_id"));
    required(out, line, "order_id", order);
    required(out, line, "product_id", sku);
    let quantity = int(out, line, "quantity", get(rec, h.col("quantity")));
    let price = money(out, line, "unit_price", get(rec, h.col("unit_price")), decimals);
    if let (Some(q), Some((p, _))) = (quantity, price) {
        check_line(out, line, ("quantity", "unit_price"), q, p);
    }
    let at = timestamp(out, line, "timestamp", get(rec, h.col("timestamp")));
    if out.errors.total > before {
        return;
    }
    let (Some(quantity), Some((unit_price, _)), Some(at)) = (quantity, price, at) else {
        return;
    };
    add_txn(
        out,
        st,
        line,
        Txn {
            order,
            customer: get(rec, h.col("customer_id")),
            sku,
            name: get(rec, h.col("product_name")),
            category: get(rec, h.col("category")),
            store: get(rec, h.col("store")),
            country: "",
            quantity,
            unit_price,
            at,
        },
    );
}

fn skip(out: &mut Parsed, reason: &str) {
    *out.skipped.entry(reason.to_string()).or_insert(0) += 1;
}

fn online_retail(h: &Header, rec: &csv::ByteRecord, line: u64, decimals: u32, out: &mut Parsed, st: &mut State) {
    let invoice = get(rec, h.col("invoiceno"));
    let customer = get(rec, h.col("customerid"));
    let qty_raw = get(rec, h.col("quantity"));
    let price_raw = get(rec, h.col("unitprice"));
    // The usual cleaning of this data set: cancellations, anonymous lines, returns and
    // adjustments (non-positive quantity or price) are left out and counted.
    if invoice.starts_with(['C', 'c']) {
        return skip(out, "cancelled");
    }
    if customer.is_empty() {
        return skip(out, "no_customer");
    }
    let before = out.errors.total;
    required(out, line, "InvoiceNo", invoice);
    let sku = get(rec, h.col("stockcode"));
    required(out, line, "StockCode", sku);
    let quantity = int(out, line, "Quantity", qty_raw);
    let price = money(out, line, "UnitPrice", price_raw, decimals);
    let at = timestamp(out, line, "InvoiceDate", get(rec, h.col("invoicedate")));
    if out.errors.total > before {
        return;
    }
    let (Some(quantity), Some((unit_price, positive)), Some(at)) = (quantity, price, at) else {
        return;
    };
    if quantity <= 0 {
        return skip(out, "non_positive_quantity");
    }
    if !positive {
        return skip(out, "non_positive_price");
    }
    let before = out.errors.total;
    check_line(out, line, ("Quantity", "UnitPrice"), quantity, unit_price);
    if out.errors.total > before {
        return;
    }
    // CustomerID comes as "17850" or "17850.0" depending on the export.
    let customer = customer.strip_suffix(".0").unwrap_or(customer);
    add_txn(
        out,
        st,
        line,
        Txn {
            order: invoice,
            customer,
            sku,
            name: get(rec, h.col("description")),
            category: "",
            store: "",
            country: get(rec, h.col("country")),
            quantity,
            unit_price,
            at,
        },
    );
}
