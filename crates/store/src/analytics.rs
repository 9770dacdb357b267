//! Sales analytics (seed 004's metrics and reports). Days are materialised in `sales_daily` by
//! the nightly `daily-sales` job (and by every import of past sales, in its own transaction);
//! days from the start of the last successful job run on are read live from the sales, so every
//! report is current even before the next run. Money in minor units; cost of goods at the unit
//! cost recorded on each sale line (the average cost at the moment of the sale).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::{sql, stock, Backend, Conn, FromRow, StoreResult};

/// The calendar day (UTC) of `sales.sold_at`, per backend.
fn day_of_sale(c: &Conn<'_>) -> &'static str {
    match c.backend() {
        Backend::Sqlite => "substr(s.sold_at, 1, 10)",
        Backend::Postgres => "((s.sold_at AT TIME ZONE 'UTC')::date)",
    }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Rebuilds `sales_daily` for the days `from..=to` from the sale lines, in one transaction of
/// the caller's: idempotent. Returns the rows written.
pub async fn rebuild_daily_sales(c: &mut Conn<'_>, from: NaiveDate, to: NaiveDate) -> StoreResult<u64> {
    sql::query("DELETE FROM sales_daily WHERE day >= $1 AND day <= $2")
        .bind(from)
        .bind(to)
        .execute(c)
        .await?;
    let day = day_of_sale(c);
    sql::query(format!(
        "INSERT INTO sales_daily (day, warehouse_id, product_id, units, revenue, cogs, sales) \
         SELECT {day}, COALESCE(s.warehouse_id, 0), i.product_id, SUM(i.quantity), SUM(i.line_total), \
                SUM(i.unit_cost * i.quantity), COUNT(DISTINCT s.id) \
         FROM sales s JOIN sale_items i ON i.sale_id = s.id \
         WHERE s.sold_at >= $1 AND s.sold_at < $2 \
         GROUP BY {day}, COALESCE(s.warehouse_id, 0), i.product_id"
    ))
    .bind(start_of(from))
    .bind(start_of(to.succ_opt().unwrap_or(to)))
    .execute(c)
    .await
}

/// The first and last day sold of sales recorded at or after `since` (None: all sales).
pub async fn days_touched_since(
    c: &mut Conn<'_>,
    since: Option<DateTime<Utc>>,
) -> StoreResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let row: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sql::query_as("SELECT MIN(sold_at), MAX(sold_at) FROM sales WHERE ($1 IS NULL OR created_at >= $1)")
            .bind(since)
            .fetch_one(c)
            .await?;
    Ok(row.0.zip(row.1))
}

/// The first day not materialised in `sales_daily`: the day the last successful `daily-sales`
/// run started (it rebuilds closed days only). None: never run, every day is read live.
pub async fn live_from(c: &mut Conn<'_>) -> StoreResult<Option<NaiveDate>> {
    let started: Option<DateTime<Utc>> =
        sql::query_scalar("SELECT MAX(started_at) FROM job_runs WHERE job = 'daily-sales' AND status = 'succeeded'")
            .fetch_one(c)
            .await?;
    Ok(started.map(|t| t.date_naive()))
}

/// What every report filters on.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The current day (UTC).
    pub today: NaiveDate,
    /// Days before it come from `sales_daily`, it and later from the sales ([`live_from`],
    /// at most today).
    pub live_from: NaiveDate,
    pub warehouse_id: Option<i64>,
    pub category_id: Option<i64>,
}

/// A CTE `d(day, warehouse_id, product_id, units, revenue, cogs, sales)` over the range with
/// its filters, binding $1..$6: from, to, the first live day, the start of the first live day
/// in the range, warehouse, category.
fn daily_cte(c: &Conn<'_>) -> String {
    let day = day_of_sale(c);
    format!(
        "WITH d AS ( \
           SELECT day, warehouse_id, product_id, units, revenue, cogs, sales FROM sales_daily \
           WHERE day >= $1 AND day <= $2 AND day < $3 \
           UNION ALL \
           SELECT {day}, COALESCE(s.warehouse_id, 0), i.product_id, SUM(i.quantity), SUM(i.line_total), \
                  SUM(i.unit_cost * i.quantity), COUNT(DISTINCT s.id) \
           FROM sales s JOIN sale_items i ON i.sale_id = s.id \
           WHERE s.sold_at >= $4 AND {day} <= $2 \
           GROUP BY {day}, COALESCE(s.warehouse_id, 0), i.product_id \
         ), f AS ( \
           SELECT d.*, p.name AS product_name, p.sku, p.category_id, c.name AS category_name \
           FROM d JOIN products p ON p.id = d.product_id LEFT JOIN categories c ON c.id = p.category_id \
           WHERE ($5 IS NULL OR d.warehouse_id = $5) \
             AND ($6 IS NULL OR p.category_id IN ( \
                  SELECT k.id FROM categories k, categories root WHERE root.id = $6 \
                  AND (k.id = root.id OR k.path LIKE root.path || ' / %'))) \
         )"
    )
}

macro_rules! ranged {
    ($ty:ty, $sql:expr, $range:expr) => {
        sql::query_as::<$ty>($sql)
            .bind($range.from)
            .bind($range.to)
            .bind($range.live_from)
            .bind(start_of($range.live_from.max($range.from)))
            .bind($range.warehouse_id)
            .bind($range.category_id)
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct DailySales {
    pub day: NaiveDate,
    pub units: i64,
    pub revenue: i64,
    pub cogs: i64,
    pub margin: i64,
    /// Sale lines (a sale with two products counts twice).
    pub sale_lines: i64,
}

/// Totals per day (days without sales are left out).
pub async fn daily_sales(c: &mut Conn<'_>, r: &Range) -> StoreResult<Vec<DailySales>> {
    let sql = format!(
        "{} SELECT day, CAST(SUM(units) AS BIGINT) AS units, CAST(SUM(revenue) AS BIGINT) AS revenue, CAST(SUM(cogs) AS BIGINT) AS cogs, \
                CAST(SUM(revenue) AS BIGINT) - CAST(SUM(cogs) AS BIGINT) AS margin, CAST(SUM(sales) AS BIGINT) AS sale_lines \
         FROM f GROUP BY day ORDER BY day",
        daily_cte(c)
    );
    ranged!(DailySales, sql, r).fetch_all(c).await
}

/// Revenue, units, cost and margin of one group (product, category or store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct GroupTotals {
    /// Product, category or warehouse id (0: sales without a store or category).
    pub id: i64,
    pub name: String,
    pub units: i64,
    pub revenue: i64,
    pub cogs: i64,
    pub margin: i64,
    /// Sale lines: sales of a product (a sale counts once per product it holds).
    pub sale_lines: i64,
}

/// How to group a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Product,
    Category,
    Store,
}

/// Totals per product, category or store, best revenue first; `limit` groups at most.
pub async fn totals_by(c: &mut Conn<'_>, r: &Range, by: GroupBy, limit: i64) -> StoreResult<Vec<GroupTotals>> {
    let (key, name, join) = match by {
        GroupBy::Product => ("f.product_id", "MAX(f.product_name)", ""),
        GroupBy::Category => (
            "COALESCE(f.category_id, 0)",
            "COALESCE(MAX(f.category_name), '(no category)')",
            "",
        ),
        GroupBy::Store => (
            "f.warehouse_id",
            "COALESCE(MAX(w.name), '(no store)')",
            "LEFT JOIN warehouses w ON w.id = f.warehouse_id",
        ),
    };
    let sql = format!(
        "{} SELECT {key} AS id, {name} AS name, CAST(SUM(f.units) AS BIGINT) AS units, CAST(SUM(f.revenue) AS BIGINT) AS revenue, \
                CAST(SUM(f.cogs) AS BIGINT) AS cogs, CAST(SUM(f.revenue) AS BIGINT) - CAST(SUM(f.cogs) AS BIGINT) AS margin, CAST(SUM(f.sales) AS BIGINT) AS sale_lines \
         FROM f {join} GROUP BY {key} ORDER BY revenue DESC, id LIMIT $7",
        daily_cte(c)
    );
    ranged!(GroupTotals, sql, r).bind(limit).fetch_all(c).await
}

/// Revenue, units and sale lines of a whole range.
pub async fn range_totals(c: &mut Conn<'_>, r: &Range) -> StoreResult<(i64, i64, i64)> {
    let sql = format!(
        "{} SELECT CAST(COALESCE(SUM(revenue), 0) AS BIGINT), CAST(COALESCE(SUM(units), 0) AS BIGINT), CAST(COALESCE(SUM(sales), 0) AS BIGINT) FROM f",
        daily_cte(c)
    );
    ranged!((i64, i64, i64), sql, r).fetch_one(c).await
}

/// A product's stock and movement over the range, for inventory health.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StockAndSales {
    pub product_id: i64,
    pub name: String,
    pub sku: String,
    pub category: Option<String>,
    pub on_hand: i64,
    pub stock_value: i64,
    pub units_sold: i64,
    pub cogs: i64,
    pub last_sold: Option<DateTime<Utc>>,
}

/// Every active product with its stock (all warehouses, or one) and what it sold in the range.
pub async fn stock_and_sales(c: &mut Conn<'_>, r: &Range) -> StoreResult<Vec<StockAndSales>> {
    let sql = format!(
        "{} , sold AS (SELECT product_id, CAST(SUM(units) AS BIGINT) AS units, CAST(SUM(cogs) AS BIGINT) AS cogs FROM f GROUP BY product_id), \
           stock AS (SELECT product_id, CAST(SUM(on_hand) AS BIGINT) AS on_hand, {} AS value \
                     FROM stock_levels WHERE ($5 IS NULL OR warehouse_id = $5) GROUP BY product_id), \
           last_sale AS (SELECT i.product_id, MAX(s.sold_at) AS last_sold FROM sale_items i \
                         JOIN sales s ON s.id = i.sale_id WHERE ($5 IS NULL OR s.warehouse_id = $5) GROUP BY i.product_id) \
         SELECT p.id AS product_id, p.name, p.sku, c.name AS category, \
                COALESCE(stock.on_hand, 0) AS on_hand, COALESCE(stock.value, 0) AS stock_value, \
                COALESCE(sold.units, 0) AS units_sold, COALESCE(sold.cogs, 0) AS cogs, last_sale.last_sold \
         FROM products p LEFT JOIN categories c ON c.id = p.category_id \
         LEFT JOIN stock ON stock.product_id = p.id LEFT JOIN sold ON sold.product_id = p.id \
         LEFT JOIN last_sale ON last_sale.product_id = p.id \
         WHERE p.deleted_at IS NULL AND p.status = 'active' \
           AND ($6 IS NULL OR p.category_id IN ( \
                SELECT k.id FROM categories k, categories root WHERE root.id = $6 \
                AND (k.id = root.id OR k.path LIKE root.path || ' / %'))) \
         ORDER BY p.id",
        daily_cte(c),
        stock::stock_value_sum(c, "stock_levels"),
    );
    ranged!(StockAndSales, sql, r).fetch_all(c).await
}

/// Stock per warehouse: products held, units, value at average cost, products under their
/// low-stock threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct WarehouseStock {
    pub warehouse_id: i64,
    pub warehouse: String,
    pub products: i64,
    pub units: i64,
    pub value: i64,
    pub reserved: i64,
    pub low_stock: i64,
    pub out_of_stock: i64,
}

pub async fn inventory_summary(c: &mut Conn<'_>, warehouse_id: Option<i64>) -> StoreResult<Vec<WarehouseStock>> {
    sql::query_as(format!(
        "SELECT w.id AS warehouse_id, w.name AS warehouse, \
                COUNT(l.product_id) AS products, CAST(COALESCE(SUM(l.on_hand), 0) AS BIGINT) AS units, \
                {} AS value, CAST(COALESCE(SUM(l.reserved), 0) AS BIGINT) AS reserved, \
                CAST(COALESCE(SUM(CASE WHEN l.on_hand - l.reserved < p.low_stock_threshold THEN 1 ELSE 0 END), 0) AS BIGINT) AS low_stock, \
                CAST(COALESCE(SUM(CASE WHEN l.on_hand - l.reserved <= 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS out_of_stock \
         FROM warehouses w \
         LEFT JOIN stock_levels l ON l.warehouse_id = w.id \
         LEFT JOIN products p ON p.id = l.product_id \
         WHERE ($1 IS NULL OR w.id = $1) \
         GROUP BY w.id, w.name ORDER BY w.id",
        stock::stock_value_sum(c, "l"),
    ))
    .bind(warehouse_id)
    .fetch_all(c)
    .await
}

/// A customer's recency, frequency and monetary value over the range (before scoring).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CustomerActivity {
    pub customer_id: i64,
    pub name: String,
    pub last_purchase: DateTime<Utc>,
    pub orders: i64,
    pub revenue: i64,
}

/// Customers who bought in `[from, to]` (live from the sales, store filter applies).
pub async fn customer_activity(c: &mut Conn<'_>, r: &Range) -> StoreResult<Vec<CustomerActivity>> {
    sql::query_as(
        "SELECT s.customer_id, MAX(p.first_name || ' ' || p.last_name) AS name, MAX(s.sold_at) AS last_purchase, \
                COUNT(*) AS orders, CAST(SUM(s.total) AS BIGINT) AS revenue \
         FROM sales s JOIN customers p ON p.id = s.customer_id \
         WHERE s.customer_id IS NOT NULL AND s.sold_at >= $1 AND s.sold_at < $2 AND ($3 IS NULL OR s.warehouse_id = $3) \
         GROUP BY s.customer_id ORDER BY s.customer_id",
    )
    .bind(start_of(r.from))
    .bind(start_of(r.to.succ_opt().unwrap_or(r.to)))
    .bind(r.warehouse_id)
    .fetch_all(c)
    .await
}

/// Stock-out days per product over the range (up to today): days on which the product closed
/// with nothing on hand, counted per store (store-days; one store with the range's warehouse),
/// read from the ledger's running balance. Stores where the product never had a movement
/// before a day do not count as out of it that day.
pub async fn stock_out_days(c: &mut Conn<'_>, r: &Range) -> StoreResult<std::collections::HashMap<i64, i64>> {
    let day = match c.backend() {
        Backend::Sqlite => "substr(created_at, 1, 10)",
        Backend::Postgres => "((created_at AT TIME ZONE 'UTC')::date)",
    };
    let end = r.to.min(r.today);
    let mut out = std::collections::HashMap::new();
    if end < r.from {
        return Ok(out);
    }
    // Balance per (product, store) at the start of the range.
    let opening: Vec<(i64, i64, i64)> = sql::query_as(
        "SELECT m.product_id, m.warehouse_id, m.balance_after FROM stock_movements m \
         JOIN (SELECT MAX(id) AS id FROM stock_movements WHERE created_at < $1 AND ($2 IS NULL OR warehouse_id = $2) \
               GROUP BY product_id, warehouse_id) last ON last.id = m.id",
    )
    .bind(start_of(r.from))
    .bind(r.warehouse_id)
    .fetch_all(c)
    .await?;
    // Closing balance of each day in the range with movements.
    let closing: Vec<(i64, i64, NaiveDate, i64)> = sql::query_as(format!(
        "SELECT m.product_id, m.warehouse_id, {day} AS day, m.balance_after FROM stock_movements m \
         JOIN (SELECT MAX(id) AS id FROM stock_movements WHERE created_at >= $1 AND created_at < $2 \
               AND ($3 IS NULL OR warehouse_id = $3) GROUP BY product_id, warehouse_id, {day}) last ON last.id = m.id \
         ORDER BY m.product_id, m.warehouse_id, m.id"
    ))
    .bind(start_of(r.from))
    .bind(start_of(end + chrono::TimeDelta::days(1)))
    .bind(r.warehouse_id)
    .fetch_all(c)
    .await?;
    let mut days: std::collections::HashMap<(i64, i64), Vec<(NaiveDate, i64)>> = std::collections::HashMap::new();
    for (product, store, balance) in opening {
        days.entry((product, store))
            .or_default()
            .push((r.from - chrono::TimeDelta::days(1), balance));
    }
    for (product, store, d, balance) in closing {
        days.entry((product, store)).or_default().push((d, balance));
    }
    for ((product, _), changes) in days {
        *out.entry(product).or_insert(0) += closed_out_days(r.from, end, &changes);
    }
    Ok(out)
}

/// Days in `from..=end` that close with a balance ≤ 0, given the closing balance of the days
/// with movements (in day order; an entry before `from` is the opening balance). Days before
/// the first known balance do not count.
fn closed_out_days(from: NaiveDate, end: NaiveDate, changes: &[(NaiveDate, i64)]) -> i64 {
    let mut changes = changes.iter().peekable();
    let (mut balance, mut out, mut d) = (None, 0, from);
    while d <= end {
        while let Some(&&(at, b)) = changes.peek() {
            if at > d {
                break;
            }
            balance = Some(b);
            changes.next();
        }
        if balance.is_some_and(|b| b <= 0) {
            out += 1;
        }
        d += chrono::TimeDelta::days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, d).unwrap()
    }

    #[test]
    fn stock_out_days_follow_the_closing_balance() {
        // Opens with 5, sold out on the 3rd, restocked on the 6th, out again on the 9th.
        let changes = [(day(1), 5), (day(3), 0), (day(6), 4), (day(9), -0)];
        assert_eq!(closed_out_days(day(2), day(10), &changes), 3 + 2);
        // Only the days of the range count, and a day closes at its last balance.
        assert_eq!(closed_out_days(day(4), day(5), &changes), 2);
        assert_eq!(closed_out_days(day(6), day(8), &changes), 0);
        // Nothing known before the first movement: not out.
        assert_eq!(closed_out_days(day(1), day(4), &[(day(3), 0)]), 2);
        assert_eq!(closed_out_days(day(1), day(4), &[]), 0);
    }
}
