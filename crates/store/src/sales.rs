//! Sales: what left the shop, with the name, SKU, price and cost of every item at sale time.
//! Recorded by the till (quick sale), by shipping an order, or by importing history.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::sql::ToValue;
use crate::stock::{self, Exit, NewMovement};
use crate::{now, sql, Backend, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{limits, MovementKind, Page, PageRequest};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Sale {
    pub id: i64,
    pub order_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// pos, order or import.
    pub channel: String,
    /// The source document (an imported invoice number), unique.
    pub external_ref: Option<String>,
    /// Imported history: booked without touching today's stock.
    pub historical: bool,
    /// Discount on the whole sale (an order's discount), in minor units; total is net of it.
    pub discount: i64,
    pub total: i64,
    pub items_count: i64,
    /// How it was paid: cash, card, transfer, credit, voucher or other; null when not recorded
    /// (a shipped order's sale, imported history without the column, older sales).
    pub payment_method: Option<String>,
    pub created_by: String,
    pub sold_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct SaleItem {
    pub id: i64,
    pub sale_id: i64,
    pub product_id: i64,
    pub sku: String,
    pub product_name: String,
    pub unit_price: i64,
    pub unit_cost: i64,
    pub quantity: i64,
    pub line_total: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SaleWithItems {
    #[serde(flatten)]
    pub sale: Sale,
    pub items: Vec<SaleItem>,
    /// Its order was returned since (`POST /api/orders/{id}/return`): the whole sale came back.
    pub returned: bool,
}

/// A sale as listed: the sale and whether its order was returned since.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListedSale {
    #[serde(flatten)]
    pub sale: Sale,
    /// Its order was returned since (`POST /api/orders/{id}/return`): the whole sale came back.
    pub returned: bool,
}

impl sql::FromRow for ListedSale {
    /// A sale's columns followed by `returned` ([`RETURNED`]).
    fn from_row(row: &sql::Row<'_>) -> StoreResult<Self> {
        Ok(Self {
            sale: Sale::from_row(row)?,
            returned: row.get("returned")?,
        })
    }
}

/// One line to sell: the product snapshot is taken by [`snapshot_lines`].
#[derive(Debug, Clone, Copy)]
pub struct LineRequest {
    pub product_id: i64,
    pub quantity: i64,
    /// Overrides the catalogue price (a discount at the till).
    pub unit_price: Option<i64>,
}

/// A line with the product as it is at sale time.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub product_id: i64,
    pub sku: String,
    pub product_name: String,
    pub category: Option<String>,
    pub unit_price: i64,
    pub quantity: i64,
}

/// Merges repeated products (a basket scanned twice), orders lines by product id (so
/// concurrent transactions lock stock rows in the same order and cannot deadlock) and takes
/// each product's name, SKU and price as they are now. Unknown or non-active products fail.
pub async fn snapshot_lines(c: &mut Conn<'_>, requested: &[LineRequest]) -> StoreResult<Vec<Line>> {
    let products = Products::fetch(c, requested.iter().map(|r| r.product_id).collect()).await?;
    products.lines(requested)
}

/// Products as they are now (name, SKU, category, price, status), read once for the lines of
/// one sale or of many orders.
pub(crate) struct Products(Vec<(i64, String, String, Option<String>, i64, String)>);

impl Products {
    pub(crate) async fn fetch(c: &mut Conn<'_>, mut ids: Vec<i64>) -> StoreResult<Self> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Self(Vec::new()));
        }
        let wanted = sql::one_of(c.backend(), "p.id", 1);
        let found = sql::query_as(format!(
            "SELECT p.id, p.sku, p.name, c.path, p.price, p.status FROM products p LEFT JOIN categories c ON c.id = p.category_id
             WHERE {wanted} AND p.deleted_at IS NULL ORDER BY p.id"
        ))
        .bind(ids)
        .fetch_all(c)
        .await?;
        Ok(Self(found))
    }

    /// The lines of `requested` (see [`snapshot_lines`]); every product must have been fetched.
    pub(crate) fn lines(&self, requested: &[LineRequest]) -> StoreResult<Vec<Line>> {
        let mut merged: Vec<LineRequest> = Vec::with_capacity(requested.len());
        for r in requested {
            match merged
                .iter_mut()
                .find(|m| m.product_id == r.product_id && m.unit_price == r.unit_price)
            {
                Some(m) => m.quantity += r.quantity,
                None => merged.push(*r),
            }
        }
        merged.sort_by_key(|l| l.product_id);
        let mut lines = Vec::with_capacity(merged.len());
        for (i, r) in merged.iter().enumerate() {
            let found = self.0.binary_search_by_key(&r.product_id, |f| f.0).ok();
            let Some((_, sku, name, category, price, status)) = found.map(|at| &self.0[at]) else {
                return Err(StoreError::Rule {
                    field: Some(format!("items[{i}].product_id")),
                    message: format!("no product {}", r.product_id),
                });
            };
            if status != "active" {
                return Err(StoreError::Rule {
                    field: Some(format!("items[{i}].product_id")),
                    message: format!("product {} is {status} and cannot be sold", r.product_id),
                });
            }
            lines.push(Line {
                product_id: r.product_id,
                sku: sku.clone(),
                product_name: name.clone(),
                category: category.clone(),
                unit_price: r.unit_price.unwrap_or(*price),
                quantity: r.quantity,
            });
        }
        if let Some(l) = lines.iter().find(|l| l.quantity > limits::MAX_QUANTITY) {
            return Err(StoreError::Rule {
                field: Some("items".into()),
                message: format!(
                    "the lines of product {} add up to more than {} units",
                    l.product_id,
                    limits::MAX_QUANTITY
                ),
            });
        }
        lines_total(&lines)?;
        Ok(lines)
    }
}

/// The sum of the lines' totals; refused when it would pass [`limits::MAX_TOTAL`] (every
/// line and sum of a sale then stays inside 64 bits, in the ledger and in the reports).
pub(crate) fn lines_total(lines: &[Line]) -> StoreResult<i64> {
    Ok(limits::total(
        "items",
        lines.iter().map(|l| (l.unit_price, l.quantity)),
    )?)
}

/// Binds each line's product, sku, name, unit price, quantity and line total, in that order:
/// the six values a line gives the item inserts of sales and orders.
pub(crate) fn bind_lines<'q, O: sql::FromRow>(mut insert: sql::QueryAs<'q, O>, lines: &[Line]) -> sql::QueryAs<'q, O> {
    for l in lines {
        insert = insert
            .bind(l.product_id)
            .bind(&l.sku)
            .bind(&l.product_name)
            .bind(l.unit_price)
            .bind(l.quantity)
            .bind(l.unit_price * l.quantity);
    }
    insert
}

/// `$from, $from+1, …` (`count` placeholders), for `IN (…)` lists.
pub(crate) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a sale was made: a till (`pos`), a shipped order (`order`), or a CSV import.
pub const CHANNELS: [&str; 3] = ["pos", "order", "import"];

/// How a sale can be paid (the CHECK of `sales.payment_method`, migration 0015).
pub const PAYMENT_METHODS: [&str; 6] = ["cash", "card", "transfer", "credit", "voucher", "other"];

/// Refuses a payment method outside [`PAYMENT_METHODS`] (a 422 naming `field`).
pub fn check_payment_method(field: &str, method: Option<&str>) -> StoreResult<()> {
    match method {
        Some(m) if !PAYMENT_METHODS.contains(&m) => Err(StoreError::Rule {
            field: Some(field.into()),
            message: format!(
                "unknown payment method {m:?}: must be one of {}",
                PAYMENT_METHODS.join(", ")
            ),
        }),
        _ => Ok(()),
    }
}

pub struct NewSale<'a> {
    pub order_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub channel: &'a str,
    pub external_ref: Option<&'a str>,
    pub historical: bool,
    /// Discount on the whole sale, subtracted from the sum of the lines.
    pub discount: i64,
    /// One of [`PAYMENT_METHODS`] (checked by the caller), None when not recorded.
    pub payment_method: Option<&'a str>,
    pub sold_at: DateTime<Utc>,
    pub created_by: &'a str,
}

/// Writes the sale and its items (unit cost = the warehouse's average cost now) and leaves the
/// `erp.sales` / `erp.sales_items` events in `events`, for the caller to write with its own in
/// one statement. Stock is the caller's business.
pub async fn record(
    c: &mut Conn<'_>,
    s: &NewSale<'_>,
    lines: &[Line],
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<SaleWithItems> {
    let paid = s.payment_method.is_some();
    let insert_sales = inserts_of_sales(paid);
    let header = header_values(s, lines, paid)?;
    if lines.is_empty() {
        let sale: Sale = insert_sales.query_as(1).bind_all(header).fetch_one(c).await?;
        events.push(outbox::event(
            topics::SALES,
            "sale.recorded",
            sale.id,
            &serde_json::json!({"sale_id": sale.id, "items": []}),
        ));
        return Ok(SaleWithItems {
            sale,
            items: Vec::new(),
            returned: false,
        });
    }
    let (sale, items) = match c.backend() {
        // The sale and its items in one statement (one round trip); SQLite has no writable CTEs.
        Backend::Postgres => {
            let insert = sql::query_as(format!(
                "WITH s AS ({}), i AS ({})
                 SELECT s.*, {} FROM s JOIN i ON i.sale_id = s.id ORDER BY i.id",
                insert_sales.text(1),
                insert_items_of_sale_s(lines.len(), HEADER_WIDTH + usize::from(paid) + 1),
                item_columns("i"),
            ))
            .bind_all(header);
            let mut rows = bind_lines::<SaleRow>(insert, lines).fetch_all(c).await?.into_iter();
            let first = rows
                .next()
                .ok_or_else(|| StoreError::Database("a sale was not written".into()))?;
            let items = std::iter::once(first.item).chain(rows.map(|r| r.item)).collect();
            (first.sale, items)
        }
        Backend::Sqlite => {
            let sale: Sale = insert_sales.query_as(1).bind_all(header).fetch_one(c).await?;
            let items = insert_items(c, &[(&sale, lines)]).await?.pop().unwrap_or_default();
            (sale, items)
        }
    };
    push_events(&sale, &items, lines, events);
    Ok(SaleWithItems {
        sale,
        items,
        returned: false,
    })
}

/// [`record`] of several sales, each with its lines (`lines[i]` are `sales[i]`'s), in `sales`
/// order. On SQLite one insert of the sales and one of all their items (fewer statements for a
/// batch of shipped orders); PostgreSQL, and sales without lines, are recorded one by one.
pub async fn record_all(
    c: &mut Conn<'_>,
    sales: &[NewSale<'_>],
    lines: &[Vec<Line>],
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Vec<SaleWithItems>> {
    if sales.len() != lines.len() {
        return Err(StoreError::Database("sales and their lines do not match".into()));
    }
    if c.backend() == Backend::Postgres || sales.len() < 2 || lines.iter().any(Vec::is_empty) {
        let mut recorded = Vec::with_capacity(sales.len());
        for (s, lines) in sales.iter().zip(lines) {
            recorded.push(record(c, s, lines, events).await?);
        }
        return Ok(recorded);
    }
    let paid = sales.iter().any(|s| s.payment_method.is_some());
    let mut insert = inserts_of_sales(paid).query_as::<Sale>(sales.len());
    for (s, lines) in sales.iter().zip(lines) {
        insert = insert.bind_all(header_values(s, lines, paid)?);
    }
    let mut headers = insert.fetch_all(c).await?;
    // Ids follow the VALUES order; RETURNING's row order is not promised.
    headers.sort_by_key(|s| s.id);
    if headers.len() != sales.len() {
        return Err(StoreError::Database("a sale was not written".into()));
    }
    let with_lines: Vec<(&Sale, &[Line])> = headers.iter().zip(lines).map(|(s, l)| (s, l.as_slice())).collect();
    let items = insert_items(c, &with_lines).await?;
    let mut recorded = Vec::with_capacity(sales.len());
    for ((sale, items), lines) in headers.into_iter().zip(items).zip(lines) {
        push_events(&sale, &items, lines, events);
        recorded.push(SaleWithItems {
            sale,
            items,
            returned: false,
        });
    }
    Ok(recorded)
}

/// The values of a sale's row in [`insert_sales`], in its columns' order (without the payment
/// method, which [`insert_paid_sales`] adds last).
const HEADER_WIDTH: usize = 12;

/// The row of `s` for [`insert_sales`], or for [`insert_paid_sales`] when `paid`.
fn header_values(s: &NewSale<'_>, lines: &[Line], paid: bool) -> StoreResult<impl Iterator<Item = sql::Value>> {
    let total = lines_total(lines)? - s.discount;
    let count: i64 = lines.iter().map(|l| l.quantity).sum();
    let values = [
        s.order_id.to_value(),
        s.warehouse_id.to_value(),
        s.customer_id.to_value(),
        s.channel.to_value(),
        s.external_ref.to_value(),
        s.historical.to_value(),
        s.discount.to_value(),
        total.to_value(),
        count.to_value(),
        s.created_by.to_value(),
        s.sold_at.to_value(),
        now().to_value(),
    ];
    Ok(values.into_iter().chain(paid.then(|| s.payment_method.to_value())))
}

/// Leaves the events of a recorded sale in `events`: seed 003's records, `erp.sales` with the
/// header and `erp.sales_items` one per item (`items` in `lines` order).
pub(crate) fn push_events(sale: &Sale, items: &[SaleItem], lines: &[Line], events: &mut Vec<outbox::NewEvent>) {
    events.push(outbox::event(
        topics::SALES,
        "sale.recorded",
        sale.id,
        &serde_json::json!({
            "sale_id": sale.id, "customer_id": sale.customer_id, "store_id": sale.warehouse_id,
            "order_id": sale.order_id, "channel": sale.channel, "historical": sale.historical,
            "total": sale.total, "payment_method": sale.payment_method, "timestamp": sale.sold_at,
            "items": lines.iter().map(|l| serde_json::json!({"product_id": l.product_id, "quantity": l.quantity, "unit_price": l.unit_price})).collect::<Vec<_>>(),
        }),
    ));
    for (item, line) in items.iter().zip(lines) {
        events.push(outbox::event(
            topics::SALES_ITEMS,
            "sale_item.recorded",
            sale.id,
            &serde_json::json!({
                "sale_id": sale.id, "product_id": item.product_id, "quantity": item.quantity,
                "unit_price": item.unit_price, "category": line.category, "timestamp": sale.sold_at,
                "customer_id": sale.customer_id,
            }),
        ));
    }
}

/// Unit cost of the line whose product id is `product`: the average cost of the sale's
/// warehouse (`warehouse`) now, or the product's standard cost when the warehouse has none (no
/// entry with a cost yet). Looked up inside the insert: no separate read of the costs.
pub(crate) fn unit_cost_sql(product: &str, warehouse: &str) -> String {
    format!(
        "COALESCE((SELECT avg_cost FROM stock_levels WHERE product_id = {product} AND warehouse_id = {warehouse} AND avg_cost > 0),
                  (SELECT cost FROM products WHERE id = {product}), 0)"
    )
}

/// PostgreSQL: inserts the items of the sale `s` (a CTE of [`insert_sales`]) from `lines`
/// rows of parameters bound by [`bind_lines`] from `$first` on, returning them.
pub(crate) fn insert_items_of_sale_s(lines: usize, first: usize) -> String {
    format!(
        "INSERT INTO sale_items (sale_id, product_id, sku, product_name, unit_price, unit_cost, quantity, line_total)
         SELECT s.id, l.product_id, l.sku, l.product_name, l.unit_price, {}, l.quantity, l.line_total
         FROM s, (VALUES {}) l (product_id, sku, product_name, unit_price, quantity, line_total)
         RETURNING *",
        unit_cost_sql("l.product_id", "s.warehouse_id"),
        sql::value_rows(lines, 6, first)
    )
}

/// The columns of the sale item `alias`, named `item_…` for [`item_from_columns`].
pub(crate) fn item_columns(alias: &str) -> String {
    format!(
        "{alias}.id AS item_id, {alias}.product_id AS item_product_id, {alias}.sku AS item_sku,
         {alias}.product_name AS item_product_name, {alias}.unit_price AS item_unit_price,
         {alias}.unit_cost AS item_unit_cost, {alias}.quantity AS item_quantity, {alias}.line_total AS item_line_total"
    )
}

/// The sale item in a row's [`item_columns`]; None when the row holds none (an outer join).
pub(crate) fn item_from_columns(row: &sql::Row<'_>, sale_id: i64) -> StoreResult<Option<SaleItem>> {
    let Some(id) = row.get::<Option<i64>, _>("item_id")? else {
        return Ok(None);
    };
    Ok(Some(SaleItem {
        id,
        sale_id,
        product_id: row.get("item_product_id")?,
        sku: row.get("item_sku")?,
        product_name: row.get("item_product_name")?,
        unit_price: row.get("item_unit_price")?,
        unit_cost: row.get("item_unit_cost")?,
        quantity: row.get("item_quantity")?,
        line_total: row.get("item_line_total")?,
    }))
}

/// [`insert_sales`] by the number of sales.
static INSERT_SALES: sql::ByCount = sql::ByCount::new(insert_sales);
/// [`insert_paid_sales`] by the number of sales.
static INSERT_PAID_SALES: sql::ByCount = sql::ByCount::new(insert_paid_sales);

/// The insert for sales of which some record a payment method (`paid`) or none does. Shipped
/// orders' sales (none) keep the insert without the column: the order benchmark's statement,
/// unchanged, and one parameter fewer a sale.
fn inserts_of_sales(paid: bool) -> &'static sql::ByCount {
    if paid {
        &INSERT_PAID_SALES
    } else {
        &INSERT_SALES
    }
}

/// The insert of `rows` sales returning them, their [`header_values`] bound one after the
/// other; their payment method is left NULL.
pub(crate) fn insert_sales(rows: usize) -> String {
    format!(
        "INSERT INTO sales (order_id, warehouse_id, customer_id, channel, external_ref, historical, discount, total, items_count, created_by, sold_at, created_at)
         VALUES {} RETURNING *",
        sql::value_rows(rows, HEADER_WIDTH, 1)
    )
}

/// [`insert_sales`] with each sale's payment method after its other values.
fn insert_paid_sales(rows: usize) -> String {
    format!(
        "INSERT INTO sales (order_id, warehouse_id, customer_id, channel, external_ref, historical, discount, total, items_count, created_by, sold_at, created_at, payment_method)
         VALUES {} RETURNING *",
        sql::value_rows(rows, HEADER_WIDTH + 1, 1)
    )
}

/// A row of the PostgreSQL insert of a sale with its items: the sale and one item (columns
/// named `item_…`).
struct SaleRow {
    sale: Sale,
    item: SaleItem,
}

impl sql::FromRow for SaleRow {
    fn from_row(row: &sql::Row<'_>) -> StoreResult<Self> {
        let sale = Sale::from_row(row)?;
        let item = item_from_columns(row, sale.id)?
            .ok_or_else(|| StoreError::Database("a sale row without its item".into()))?;
        Ok(Self { sale, item })
    }
}

/// SQLite: the insert of a number of sale lines, returning them. Per line: its sale, the
/// sale's warehouse (for the unit cost), then the line's six values ([`bind_lines`]).
static INSERT_ITEMS: sql::ByCount = sql::ByCount::new(|count| {
    const WIDTH: usize = 8;
    let rows: Vec<String> = (0..count)
        .map(|i| {
            let first = 1 + i * WIDTH;
            format!(
                "(${first}, {}, {}, {})",
                placeholders(first + 2, 4),
                unit_cost_sql(&format!("${}", first + 2), &format!("${}", first + 1)),
                placeholders(first + 6, 2)
            )
        })
        .collect();
    format!(
        "INSERT INTO sale_items (sale_id, product_id, sku, product_name, unit_price, unit_cost, quantity, line_total)
         VALUES {} RETURNING *",
        rows.join(", ")
    )
});

/// Writes the items of sales in one statement; in line order.
async fn insert_items(c: &mut Conn<'_>, sales: &[(&Sale, &[Line])]) -> StoreResult<Vec<Vec<SaleItem>>> {
    let count: usize = sales.iter().map(|(_, lines)| lines.len()).sum();
    let mut insert = INSERT_ITEMS.query_as::<SaleItem>(count);
    for (sale, lines) in sales {
        for line in lines.iter() {
            insert = bind_lines(insert.bind(sale.id).bind(sale.warehouse_id), std::slice::from_ref(line));
        }
    }
    let mut items: Vec<SaleItem> = insert.fetch_all(c).await?;
    // Ids follow the VALUES order; RETURNING's row order is not promised.
    items.sort_by_key(|i| i.id);
    let mut items = items.into_iter();
    Ok(sales
        .iter()
        .map(|(_, lines)| items.by_ref().take(lines.len()).collect())
        .collect())
}

/// A till sale: takes the items out of `warehouse_id` and records the sale, paid by
/// `payment_method` (one of [`PAYMENT_METHODS`], None when not recorded), all or nothing.
/// Fails with every short line listed when stock does not cover the basket.
pub async fn quick_sale(
    c: &mut Conn<'_>,
    actor: &Actor,
    warehouse_id: i64,
    customer_id: Option<i64>,
    payment_method: Option<&str>,
    requested: &[LineRequest],
) -> StoreResult<SaleWithItems> {
    check_payment_method("payment_method", payment_method)?;
    let lines = snapshot_lines(c, requested).await?;
    let mut events = Vec::new();
    let sale = record(
        c,
        &NewSale {
            order_id: None,
            warehouse_id: Some(warehouse_id),
            customer_id,
            channel: "pos",
            external_ref: None,
            historical: false,
            discount: 0,
            payment_method,
            sold_at: now(),
            created_by: &actor.label,
        },
        &lines,
        &mut events,
    )
    .await?;
    let reference = sale.sale.id.to_string();
    let exits: Vec<Exit<'_>> = lines
        .iter()
        .map(|l| Exit {
            movement: NewMovement {
                product_id: l.product_id,
                warehouse_id,
                kind: MovementKind::Sale,
                quantity: -l.quantity,
                unit_cost: None,
                reference_type: Some("sale"),
                reference_id: Some(reference.clone()),
                note: None,
                created_by: &actor.label,
            },
            consume_reserved: 0,
        })
        .collect();
    stock::book_exits(c, &exits, now(), &mut events).await?;
    outbox::emit_all(c, events).await?;
    audit::record(c, actor, "create", "sale", sale.sale.id, None::<&()>, Some(&sale)).await?;
    Ok(sale)
}

pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<SaleWithItems> {
    let ListedSale { sale, returned } =
        sql::query_as(format!("SELECT *, {RETURNED} AS returned FROM sales WHERE id = $1"))
            .bind(id)
            .fetch_one(c)
            .await?;
    let items: Vec<SaleItem> = sql::query_as("SELECT * FROM sale_items WHERE sale_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(c)
        .await?;
    Ok(SaleWithItems { sale, items, returned })
}

#[derive(Debug, Clone, Default)]
pub struct SaleFilter {
    pub customer_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub channel: Option<String>,
    /// One of [`PAYMENT_METHODS`].
    pub payment_method: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl SaleFilter {
    /// The filter's values, in [`SALE_WHERE`]'s order ($1 to $6).
    fn values(&self) -> [sql::Value; 6] {
        [
            self.customer_id.to_value(),
            self.warehouse_id.to_value(),
            self.channel.as_deref().to_value(),
            self.from.to_value(),
            self.to.to_value(),
            self.payment_method.as_deref().to_value(),
        ]
    }
}

const SALE_WHERE: &str = "WHERE ($1 IS NULL OR customer_id = $1) AND ($2 IS NULL OR warehouse_id = $2)
    AND ($3 IS NULL OR channel = $3) AND ($4 IS NULL OR sold_at >= $4) AND ($5 IS NULL OR sold_at < $5)
    AND ($6 IS NULL OR payment_method = $6)";

/// Newest first.
pub async fn list(c: &mut Conn<'_>, f: &SaleFilter, page: PageRequest) -> StoreResult<Page<ListedSale>> {
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM sales {SALE_WHERE}"))
        .bind_all(f.values())
        .fetch_one(c)
        .await?;
    let items: Vec<ListedSale> = sql::query_as(format!(
        "SELECT *, {RETURNED} AS returned FROM sales {SALE_WHERE} ORDER BY sold_at DESC, id DESC LIMIT $7 OFFSET $8"
    ))
    .bind_all(f.values())
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}

/// The figures of the sales a filter selects. A returned order's sale keeps counting in
/// `sales`, `revenue`, `units`, `gross_margin` and `average_ticket` (what was sold); the
/// returns among those same sales, whenever they came back, are reported beside them and
/// netted out in `net_revenue`.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct SalesStats {
    pub sales: i64,
    /// Gross: every sale's total, returned or not.
    pub revenue: i64,
    pub units: i64,
    /// revenue − cost of goods at the cost recorded on each item.
    pub gross_margin: i64,
    /// Mean sale total (revenue / sales), 0 without sales.
    pub average_ticket: i64,
    pub customers: i64,
    /// Sales whose order was returned (`POST /api/orders/{id}/return`).
    pub returned_sales: i64,
    /// The total of those sales: what the returns took back.
    pub returned_revenue: i64,
    /// revenue − returned_revenue.
    pub net_revenue: i64,
}

/// The sales of one payment method among those a filter selects (gross, as `sales` and
/// `revenue` in [`SalesStats`], which the rows add up to).
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct PaymentMethodSales {
    /// One of cash, card, transfer, credit, voucher, other; null for the sales that did not
    /// record one.
    pub payment_method: Option<String>,
    pub sales: i64,
    pub revenue: i64,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct TopProduct {
    pub product_id: i64,
    pub sku: String,
    pub product_name: String,
    pub units: i64,
    pub revenue: i64,
}

/// Whether the sale of `sales` in the row is of an order since returned: a return takes the
/// whole order back (`orders::return_goods`), so its sale is returned in full.
const RETURNED: &str = "EXISTS (SELECT 1 FROM orders o WHERE o.id = sales.order_id AND o.status = 'returned')";

/// The figures of the sales `f` selects, their best sellers and their split by payment method
/// (largest revenue first, the sales without a method last among equals).
pub async fn stats(
    c: &mut Conn<'_>,
    f: &SaleFilter,
) -> StoreResult<(SalesStats, Vec<TopProduct>, Vec<PaymentMethodSales>)> {
    let (sales, revenue, units, customers, returned_sales, returned_revenue): (i64, i64, i64, i64, i64, i64) =
        sql::query_as(format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(total), 0) AS BIGINT), CAST(COALESCE(SUM(items_count), 0) AS BIGINT),
                COUNT(DISTINCT customer_id), CAST(COALESCE(SUM(returned), 0) AS BIGINT),
                CAST(COALESCE(SUM(returned * total), 0) AS BIGINT)
         FROM (SELECT total, items_count, customer_id, CASE WHEN {RETURNED} THEN 1 ELSE 0 END AS returned
               FROM sales {SALE_WHERE}) AS selected"
        ))
        .bind_all(f.values())
        .fetch_one(c)
        .await?;
    let item_where = SALE_WHERE
        .replace("customer_id", "s.customer_id")
        .replace("warehouse_id", "s.warehouse_id")
        .replace("channel", "s.channel")
        .replace("sold_at", "s.sold_at")
        .replace("payment_method", "s.payment_method");
    let cost: i64 = sql::query_scalar(format!(
        "SELECT CAST(COALESCE(SUM(i.unit_cost * i.quantity), 0) AS BIGINT) FROM sale_items i JOIN sales s ON s.id = i.sale_id {item_where}"
    ))
    .bind_all(f.values())
    .fetch_one(c)
    .await?;
    let top: Vec<TopProduct> = sql::query_as(format!(
        "SELECT i.product_id, MAX(i.sku) AS sku, MAX(i.product_name) AS product_name,
                CAST(SUM(i.quantity) AS BIGINT) AS units, CAST(SUM(i.line_total) AS BIGINT) AS revenue
         FROM sale_items i JOIN sales s ON s.id = i.sale_id {item_where}
         GROUP BY i.product_id ORDER BY revenue DESC, i.product_id LIMIT 10"
    ))
    .bind_all(f.values())
    .fetch_all(c)
    .await?;
    let by_payment_method: Vec<PaymentMethodSales> = sql::query_as(format!(
        "SELECT payment_method, COUNT(*) AS sales, CAST(COALESCE(SUM(total), 0) AS BIGINT) AS revenue
         FROM sales {SALE_WHERE}
         GROUP BY payment_method ORDER BY revenue DESC, payment_method IS NULL, payment_method"
    ))
    .bind_all(f.values())
    .fetch_all(c)
    .await?;
    let stats = SalesStats {
        sales,
        revenue,
        units,
        gross_margin: revenue - cost,
        average_ticket: if sales > 0 { revenue / sales } else { 0 },
        customers,
        returned_sales,
        returned_revenue,
        net_revenue: revenue - returned_revenue,
    };
    Ok((stats, top, by_payment_method))
}
