//! Demand history, stored forecasts, their measured accuracy, and replenishment settings.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::{now, sql, Backend, Conn, FromRow, StoreResult};

/// What a forecast covers: one product, one category with its subcategories, or every product
/// (`product_id` and `category_id` both None); in one store or in all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Scope {
    pub product_id: Option<i64>,
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
}

impl Scope {
    pub fn product(product_id: i64, warehouse_id: Option<i64>) -> Self {
        Self {
            product_id: Some(product_id),
            category_id: None,
            warehouse_id,
        }
    }

    /// "product", "category" or "store" (every product, in one store or all).
    pub fn level(&self) -> &'static str {
        match (self.product_id, self.category_id) {
            (Some(_), _) => "product",
            (None, Some(_)) => "category",
            (None, None) => "store",
        }
    }
}

/// Products of a category and of its subcategories (`$N` is the category id).
pub(crate) fn category_subtree(param: usize) -> String {
    format!(
        "SELECT k.id FROM categories k, categories root WHERE root.id = ${param} \
         AND (k.id = root.id OR k.path LIKE root.path || ' / %')"
    )
}

/// Units sold per day (UTC) in a scope, and of them the units sold below the product's list
/// price (on promotion), days with sales only, in day order, up to and excluding `until`.
pub async fn daily_units(c: &mut Conn<'_>, scope: &Scope, until: NaiveDate) -> StoreResult<Vec<(NaiveDate, i64, i64)>> {
    let day = match c.backend() {
        Backend::Sqlite => "substr(s.sold_at, 1, 10)",
        Backend::Postgres => "((s.sold_at AT TIME ZONE 'UTC')::date)",
    };
    // A product's own filter when there is one, so that SQLite reads the product's lines by
    // `ix_sale_items_product` (`$1 IS NULL OR …` makes it scan every sale line).
    let product = match scope.product_id {
        Some(_) => "i.product_id = $1",
        None => "$1 IS NULL",
    };
    let category = match scope.category_id {
        Some(_) => format!(
            "AND i.product_id IN (SELECT p.id FROM products p WHERE p.category_id IN ({}))",
            category_subtree(4)
        ),
        None => "AND $4 IS NULL".to_string(),
    };
    sql::query_as(format!(
        "SELECT {day} AS day, CAST(SUM(i.quantity) AS BIGINT) AS units, \
                CAST(SUM(CASE WHEN i.unit_price < pr.price THEN i.quantity ELSE 0 END) AS BIGINT) AS promoted \
         FROM sale_items i JOIN sales s ON s.id = i.sale_id JOIN products pr ON pr.id = i.product_id \
         WHERE {product} AND ($2 IS NULL OR s.warehouse_id = $2) AND s.sold_at < $3 {category} \
         GROUP BY {day} ORDER BY {day}"
    ))
    .bind(scope.product_id)
    .bind(scope.warehouse_id)
    .bind(until.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
    .bind(scope.category_id)
    .fetch_all(c)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
pub struct StoredForecast {
    pub id: i64,
    pub product_id: Option<i64>,
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub granularity: String,
    pub horizon: i64,
    pub model: String,
    pub first_period: NaiveDate,
    pub history_from: NaiveDate,
    /// JSON array of the forecast points.
    #[serde(skip)]
    pub points: String,
    pub created_at: DateTime<Utc>,
}

impl StoredForecast {
    pub fn scope(&self) -> Scope {
        Scope {
            product_id: self.product_id,
            category_id: self.category_id,
            warehouse_id: self.warehouse_id,
        }
    }
}

pub struct NewForecast<'a> {
    pub scope: Scope,
    pub granularity: &'a str,
    pub horizon: i64,
    pub model: &'a str,
    pub first_period: NaiveDate,
    pub history_from: NaiveDate,
    pub points: String,
}

const COLUMNS: &str =
    "id, product_id, category_id, warehouse_id, granularity, horizon, model, first_period, history_from, points, created_at";

pub async fn save(c: &mut Conn<'_>, f: &NewForecast<'_>) -> StoreResult<StoredForecast> {
    sql::query_as(format!(
        "INSERT INTO forecasts (product_id, category_id, warehouse_id, granularity, horizon, model, first_period, history_from, points, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    ))
    .bind(f.scope.product_id)
    .bind(f.scope.category_id)
    .bind(f.scope.warehouse_id)
    .bind(f.granularity)
    .bind(f.horizon)
    .bind(f.model)
    .bind(f.first_period)
    .bind(f.history_from)
    .bind(&f.points)
    .bind(now())
    .fetch_one(c)
    .await
}

/// Stored forecasts without an accuracy record yet, oldest first.
pub async fn without_accuracy(c: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<StoredForecast>> {
    sql::query_as(format!(
        "SELECT {COLUMNS} FROM forecasts f WHERE NOT EXISTS \
         (SELECT 1 FROM forecast_accuracy a WHERE a.forecast_id = f.id) ORDER BY id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(c)
    .await
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct AccuracyRow {
    pub forecast_id: i64,
    pub product_id: Option<i64>,
    /// The forecast's category, or the product's.
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub granularity: String,
    pub periods: i64,
    /// JSON object of the measures.
    pub metrics: String,
    pub computed_at: DateTime<Utc>,
}

/// Records a forecast's accuracy once (a second record of the same forecast is ignored).
pub async fn save_accuracy(c: &mut Conn<'_>, row: &AccuracyRow) -> StoreResult<bool> {
    let n = sql::query(
        "INSERT INTO forecast_accuracy (forecast_id, product_id, category_id, warehouse_id, granularity, periods, metrics, computed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (forecast_id) DO NOTHING",
    )
    .bind(row.forecast_id)
    .bind(row.product_id)
    .bind(row.category_id)
    .bind(row.warehouse_id)
    .bind(&row.granularity)
    .bind(row.periods)
    .bind(&row.metrics)
    .bind(row.computed_at)
    .execute(c)
    .await?;
    Ok(n == 1)
}

/// Which accuracy records to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccuracyFilter<'a> {
    pub product_id: Option<i64>,
    /// Records of this category: its own forecasts and its products'.
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    /// "product", "category" or "store" forecasts only.
    pub level: Option<&'a str>,
}

/// Accuracy records, newest first.
pub async fn accuracy(c: &mut Conn<'_>, filter: &AccuracyFilter<'_>, limit: i64) -> StoreResult<Vec<AccuracyRow>> {
    sql::query_as(
        "SELECT forecast_id, product_id, category_id, warehouse_id, granularity, periods, metrics, computed_at FROM forecast_accuracy \
         WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR category_id = $2) AND ($3 IS NULL OR warehouse_id = $3) \
           AND ($4 IS NULL OR $4 = CASE WHEN product_id IS NOT NULL THEN 'product' \
                                      WHEN category_id IS NOT NULL THEN 'category' ELSE 'store' END) \
         ORDER BY computed_at DESC, forecast_id DESC LIMIT $5",
    )
    .bind(filter.product_id)
    .bind(filter.category_id)
    .bind(filter.warehouse_id)
    .bind(filter.level)
    .bind(limit)
    .fetch_all(c)
    .await
}

/// How a product is replenished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Replenishment {
    pub product_id: i64,
    pub lead_time_days: i64,
    pub review_days: i64,
    pub min_order_qty: i64,
    pub pack_size: i64,
}

impl Replenishment {
    /// Without settings: a week's lead time, weekly review, no minimum, units.
    pub fn default_for(product_id: i64) -> Self {
        Self {
            product_id,
            lead_time_days: 7,
            review_days: 7,
            min_order_qty: 0,
            pack_size: 1,
        }
    }
}

pub async fn replenishment(c: &mut Conn<'_>, product_id: i64) -> StoreResult<Replenishment> {
    let row: Option<Replenishment> = sql::query_as(
        "SELECT product_id, lead_time_days, review_days, min_order_qty, pack_size FROM replenishment_settings WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_optional(c)
    .await?;
    Ok(row.unwrap_or_else(|| Replenishment::default_for(product_id)))
}

pub async fn set_replenishment(c: &mut Conn<'_>, r: &Replenishment) -> StoreResult<()> {
    sql::query(
        "INSERT INTO replenishment_settings (product_id, lead_time_days, review_days, min_order_qty, pack_size, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (product_id) DO UPDATE SET lead_time_days = excluded.lead_time_days, \
         review_days = excluded.review_days, min_order_qty = excluded.min_order_qty, pack_size = excluded.pack_size, \
         updated_at = excluded.updated_at",
    )
    .bind(r.product_id)
    .bind(r.lead_time_days)
    .bind(r.review_days)
    .bind(r.min_order_qty)
    .bind(r.pack_size)
    .bind(now())
    .execute(c)
    .await?;
    Ok(())
}

/// A product's stock position in one warehouse (or all): on hand, reserved, on order (open or
/// ordered reorder requests).
pub async fn position(c: &mut Conn<'_>, product_id: i64, warehouse_id: Option<i64>) -> StoreResult<(i64, i64, i64)> {
    let (on_hand, reserved): (i64, i64) = sql::query_as(
        "SELECT CAST(COALESCE(SUM(on_hand), 0) AS BIGINT), CAST(COALESCE(SUM(reserved), 0) AS BIGINT) FROM stock_levels \
         WHERE product_id = $1 AND ($2 IS NULL OR warehouse_id = $2)",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .fetch_one(c)
    .await?;
    let on_order: i64 = sql::query_scalar(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM reorder_requests \
         WHERE product_id = $1 AND ($2 IS NULL OR warehouse_id = $2) AND status IN ('open', 'ordered')",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .fetch_one(c)
    .await?;
    Ok((on_hand, reserved, on_order))
}

/// Active products (id, category) to forecast.
pub async fn active_products(c: &mut Conn<'_>) -> StoreResult<Vec<(i64, Option<i64>)>> {
    sql::query_as("SELECT id, category_id FROM products WHERE deleted_at IS NULL AND status = 'active' ORDER BY id")
        .fetch_all(c)
        .await
}
