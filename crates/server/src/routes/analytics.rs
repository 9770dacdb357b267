//! `/api/analytics/metrics/*` and `/api/analytics/reports/*` (seed 004): sales, trends, top
//! products, inventory health, customer ranking (RFM), profitability, inventory summary,
//! category performance and store ranking, over a date range, as JSON or CSV (`format=csv`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_store::analytics::{self, DailySales, GroupBy, GroupTotals, Range, WarehouseStock};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(daily_sales))
        .routes(routes!(sales_trends))
        .routes(routes!(top_products))
        .routes(routes!(inventory_health))
        .routes(routes!(customer_ranking))
        .routes(routes!(profitability))
        .routes(routes!(inventory_summary))
        .routes(routes!(category_performance))
        .routes(routes!(store_ranking))
}

/// The longest range a report covers.
const MAX_DAYS: i64 = 3_660;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day (YYYY-MM-DD, UTC); default: 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day, included; default: today.
    pub to: Option<NaiveDate>,
    pub warehouse_id: Option<i64>,
    /// A category and its subcategories.
    pub category_id: Option<i64>,
    /// json (default) or csv.
    pub format: Option<String>,
    /// Rows at most (top products, rankings): 1–1000, default 10 (top products) or 1000.
    pub limit: Option<i64>,
    /// product (default), category or store (profitability).
    pub group_by: Option<String>,
}

struct Parsed {
    range: Range,
    csv: bool,
}

/// The query checked, with the first day read live (not yet materialised by the nightly job).
async fn parse(state: &AppState, q: &ReportQuery) -> ApiResult<Parsed> {
    let today = Utc::now().date_naive();
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to - TimeDelta::days(29));
    if from > to {
        return Err(ApiError::validation("from", "must not be after to"));
    }
    if (to - from).num_days() > MAX_DAYS {
        return Err(ApiError::validation(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::validation("format", "must be json or csv")),
    };
    let live_from = {
        let mut reader = state.db.read().await?;
        analytics::live_from(&mut reader.conn()).await?
    };
    Ok(Parsed {
        range: Range {
            from,
            to,
            today,
            // Never run: every day is live (from year 1, a date both stores accept).
            live_from: live_from
                .unwrap_or(NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default())
                .min(today),
            warehouse_id: q.warehouse_id,
            category_id: q.category_id,
        },
        csv,
    })
}

fn limit(q: &ReportQuery, default: i64) -> ApiResult<i64> {
    let n = q.limit.unwrap_or(default);
    if !(1..=1000).contains(&n) {
        return Err(ApiError::validation("limit", "must be between 1 and 1000"));
    }
    Ok(n)
}

/// JSON, or CSV with a header row when asked.
fn respond<T: Serialize>(rows: Vec<T>, csv: bool, name: &str) -> ApiResult<Response> {
    if !csv {
        return Ok(Json(rows).into_response());
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        writer.serialize(row).map_err(|e| ApiError::Internal(e.into()))?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| ((part as f64) * 10_000.0 / whole as f64).round() / 100.0)
}

/// Sales per day: units, revenue, cost of goods, margin and number of sales.
#[utoipa::path(get, path = "/api/analytics/metrics/daily-sales", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<DailySales>, description = "JSON, or CSV with format=csv"), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn daily_sales(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let mut reader = state.db.read().await?;
    let rows = analytics::daily_sales(&mut reader.conn(), &p.range).await?;
    respond(rows, p.csv, "daily-sales")
}

#[derive(Serialize, ToSchema)]
pub struct PeriodTotals {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub revenue: i64,
    pub units: i64,
    /// Sale lines (a sale with two products counts twice).
    pub sale_lines: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Trend {
    pub current: PeriodTotals,
    pub previous: PeriodTotals,
    /// Change of revenue in percent (null when the previous period sold nothing).
    pub revenue_change_pct: Option<f64>,
    pub units_change_pct: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct SalesTrends {
    /// The last 7 days up to `to` against the 7 before.
    pub week_over_week: Trend,
    /// The last 30 days up to `to` against the 30 before.
    pub month_over_month: Trend,
    /// `from..to` against the same days a year earlier.
    pub year_over_year: Trend,
}

async fn period(state: &AppState, base: &Range, from: NaiveDate, to: NaiveDate) -> ApiResult<PeriodTotals> {
    let range = Range { from, to, ..*base };
    let mut reader = state.db.read().await?;
    let (revenue, units, sale_lines) = analytics::range_totals(&mut reader.conn(), &range).await?;
    Ok(PeriodTotals {
        from,
        to,
        revenue,
        units,
        sale_lines,
    })
}

async fn trend(
    state: &AppState,
    base: &Range,
    current: (NaiveDate, NaiveDate),
    previous: (NaiveDate, NaiveDate),
) -> ApiResult<Trend> {
    let current = period(state, base, current.0, current.1).await?;
    let previous = period(state, base, previous.0, previous.1).await?;
    Ok(Trend {
        revenue_change_pct: pct(current.revenue - previous.revenue, previous.revenue),
        units_change_pct: pct(current.units - previous.units, previous.units),
        current,
        previous,
    })
}

fn year_before(d: NaiveDate) -> NaiveDate {
    d.with_year(d.year() - 1).unwrap_or(d - TimeDelta::days(365))
}

/// Week over week, month over month and year over year, ending at `to`.
#[utoipa::path(get, path = "/api/analytics/metrics/sales-trends", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = SalesTrends), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn sales_trends(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<SalesTrends>> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let (r, to) = (p.range, p.range.to);
    let days = |n| TimeDelta::days(n);
    Ok(Json(SalesTrends {
        week_over_week: trend(&state, &r, (to - days(6), to), (to - days(13), to - days(7))).await?,
        month_over_month: trend(&state, &r, (to - days(29), to), (to - days(59), to - days(30))).await?,
        year_over_year: trend(&state, &r, (r.from, to), (year_before(r.from), year_before(to))).await?,
    }))
}

/// Best-selling products by revenue over the range.
#[utoipa::path(get, path = "/api/analytics/metrics/top-products", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<GroupTotals>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn top_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let n = limit(&q, 10)?;
    let mut reader = state.db.read().await?;
    let rows = analytics::totals_by(&mut reader.conn(), &p.range, GroupBy::Product, n).await?;
    respond(rows, p.csv, "top-products")
}

#[derive(Serialize, ToSchema)]
pub struct InventoryHealth {
    pub product_id: i64,
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub on_hand: i64,
    /// On hand at average cost, minor units.
    pub stock_value: i64,
    pub units_sold: i64,
    pub average_daily_units: f64,
    /// Days the stock on hand lasts at the range's average daily sales (null: nothing sold).
    pub days_of_cover: Option<f64>,
    /// Cost of goods sold over the range ÷ stock value now (null: no stock value).
    pub turnover: Option<f64>,
    /// Stock on hand and nothing sold over the range.
    pub dead_stock: bool,
    pub out_of_stock: bool,
    /// Days in the range (up to today) the product closed with nothing on hand, counted per
    /// store (store-days), from the stock ledger.
    pub stock_out_days: i64,
    pub last_sold: Option<chrono::DateTime<Utc>>,
}

/// Per product: stock, sales rate, days of cover, turnover, dead stock and stock-outs.
#[utoipa::path(get, path = "/api/analytics/metrics/inventory-health", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<InventoryHealth>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn inventory_health(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let days = ((p.range.to - p.range.from).num_days() + 1) as f64;
    let mut reader = state.db.read().await?;
    let rows = analytics::stock_and_sales(&mut reader.conn(), &p.range).await?;
    let out_days = analytics::stock_out_days(&mut reader.conn(), &p.range).await?;
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let health: Vec<InventoryHealth> = rows
        .into_iter()
        .map(|r| {
            let daily = r.units_sold as f64 / days;
            InventoryHealth {
                days_of_cover: (daily > 0.0).then(|| round2(r.on_hand as f64 / daily)),
                turnover: (r.stock_value > 0).then(|| round2(r.cogs as f64 / r.stock_value as f64)),
                dead_stock: r.on_hand > 0 && r.units_sold == 0,
                out_of_stock: r.on_hand <= 0,
                stock_out_days: out_days.get(&r.product_id).copied().unwrap_or(0),
                average_daily_units: round2(daily),
                product_id: r.product_id,
                sku: r.sku,
                name: r.name,
                category: r.category,
                on_hand: r.on_hand,
                stock_value: r.stock_value,
                units_sold: r.units_sold,
                last_sold: r.last_sold,
            }
        })
        .collect();
    respond(health, p.csv, "inventory-health")
}

#[derive(Serialize, ToSchema)]
pub struct CustomerRank {
    pub rank: i64,
    pub customer_id: i64,
    pub name: String,
    /// Days from the last purchase to `to`.
    pub recency_days: i64,
    /// Purchases in the range.
    pub frequency: i64,
    /// Spent in the range, minor units.
    pub monetary: i64,
    /// Quintile scores 1–5 (5 best) of recency, frequency and monetary value.
    pub r: u8,
    pub f: u8,
    pub m: u8,
    /// champions, loyal, new, at risk, hibernating or others.
    pub segment: String,
}

/// Quintile score (1–5) of each value among all values; `higher_is_better` false for recency.
fn quintiles(values: &[i64], higher_is_better: bool) -> Vec<u8> {
    let mut sorted: Vec<i64> = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len().max(1);
    values
        .iter()
        .map(|v| {
            // Share of customers strictly below this value.
            let below = sorted.partition_point(|x| x < v);
            let q = (below * 5 / n) as u8 + 1;
            if higher_is_better {
                q.min(5)
            } else {
                (6 - q.min(5)).max(1)
            }
        })
        .collect()
}

fn segment(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (4..=5, 4..=5) => "champions",
        (3..=5, 3..=5) => "loyal",
        (4..=5, 1..=2) => "new",
        (1..=2, 3..=5) => "at risk",
        (1..=2, 1..=2) => "hibernating",
        _ => "others",
    }
}

/// Customers ranked by value over the range, with RFM scores and segments.
#[utoipa::path(get, path = "/api/analytics/metrics/customer-ranking", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<CustomerRank>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn customer_ranking(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let n = limit(&q, 1000)?;
    let mut reader = state.db.read().await?;
    let rows = analytics::customer_activity(&mut reader.conn(), &p.range).await?;
    let recency: Vec<i64> = rows
        .iter()
        .map(|r| (p.range.to - r.last_purchase.date_naive()).num_days().max(0))
        .collect();
    let frequency: Vec<i64> = rows.iter().map(|r| r.orders).collect();
    let monetary: Vec<i64> = rows.iter().map(|r| r.revenue).collect();
    let (rs, fs, ms) = (
        quintiles(&recency, false),
        quintiles(&frequency, true),
        quintiles(&monetary, true),
    );
    let mut ranked: Vec<CustomerRank> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| CustomerRank {
            rank: 0,
            customer_id: row.customer_id,
            name: row.name.trim().to_string(),
            recency_days: recency[i],
            frequency: frequency[i],
            monetary: monetary[i],
            r: rs[i],
            f: fs[i],
            m: ms[i],
            segment: segment(rs[i], fs[i]).to_string(),
        })
        .collect();
    ranked.sort_by(|a, b| b.monetary.cmp(&a.monetary).then(a.customer_id.cmp(&b.customer_id)));
    ranked.truncate(n as usize);
    for (i, r) in ranked.iter_mut().enumerate() {
        r.rank = i as i64 + 1;
    }
    respond(ranked, p.csv, "customer-ranking")
}

#[derive(Serialize, ToSchema)]
pub struct Profitability {
    pub id: i64,
    pub name: String,
    pub units: i64,
    pub revenue: i64,
    /// Cost of goods sold at average cost, minor units.
    pub cogs: i64,
    pub margin: i64,
    /// Margin over revenue, percent.
    pub margin_pct: Option<f64>,
    /// Share of the range's revenue, percent.
    pub revenue_share_pct: Option<f64>,
}

fn profit_rows(rows: Vec<GroupTotals>) -> Vec<Profitability> {
    let total: i64 = rows.iter().map(|r| r.revenue).sum();
    rows.into_iter()
        .map(|r| Profitability {
            margin_pct: pct(r.margin, r.revenue),
            revenue_share_pct: pct(r.revenue, total),
            id: r.id,
            name: r.name,
            units: r.units,
            revenue: r.revenue,
            cogs: r.cogs,
            margin: r.margin,
        })
        .collect()
}

/// Revenue, cost of goods and margin per product, category or store (`group_by`).
#[utoipa::path(get, path = "/api/analytics/reports/profitability", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<Profitability>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn profitability(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let by = match q.group_by.as_deref() {
        None | Some("product") => GroupBy::Product,
        Some("category") => GroupBy::Category,
        Some("store") => GroupBy::Store,
        Some(_) => return Err(ApiError::validation("group_by", "must be product, category or store")),
    };
    let n = limit(&q, 1000)?;
    let mut reader = state.db.read().await?;
    let rows = analytics::totals_by(&mut reader.conn(), &p.range, by, n).await?;
    respond(profit_rows(rows), p.csv, "profitability")
}

/// Stock per warehouse: products, units, value at average cost, reserved, low and out of stock.
#[utoipa::path(get, path = "/api/analytics/reports/inventory-summary", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<WarehouseStock>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn inventory_summary(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let mut reader = state.db.read().await?;
    let rows = analytics::inventory_summary(&mut reader.conn(), p.range.warehouse_id).await?;
    respond(rows, p.csv, "inventory-summary")
}

/// Revenue, units, margin and share of revenue per category.
#[utoipa::path(get, path = "/api/analytics/reports/category-performance", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<Profitability>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn category_performance(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let n = limit(&q, 1000)?;
    let mut reader = state.db.read().await?;
    let rows = analytics::totals_by(&mut reader.conn(), &p.range, GroupBy::Category, n).await?;
    respond(profit_rows(rows), p.csv, "category-performance")
}

#[derive(Serialize, ToSchema)]
pub struct StoreRank {
    pub rank: i64,
    pub warehouse_id: i64,
    pub name: String,
    pub revenue: i64,
    pub units: i64,
    pub margin: i64,
    pub revenue_share_pct: Option<f64>,
}

/// Stores ranked by revenue over the range.
#[utoipa::path(get, path = "/api/analytics/reports/store-ranking", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Vec<StoreRank>), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn store_ranking(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require("analytics", "read")?;
    let p = parse(&state, &q).await?;
    let mut reader = state.db.read().await?;
    let rows = analytics::totals_by(&mut reader.conn(), &p.range, GroupBy::Store, 1000).await?;
    let total: i64 = rows.iter().map(|r| r.revenue).sum();
    let ranked: Vec<StoreRank> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| StoreRank {
            rank: i as i64 + 1,
            warehouse_id: r.id,
            revenue_share_pct: pct(r.revenue, total),
            name: r.name,
            revenue: r.revenue,
            units: r.units,
            margin: r.margin,
        })
        .collect();
    respond(ranked, p.csv, "store-ranking")
}
