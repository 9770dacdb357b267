//! Stock alerts (seed 002): when a product's available stock in a warehouse falls below its
//! threshold, one alert opens for that pair and an `erp.alerts` event is written. It stays the
//! only live alert of the pair (acknowledged or not) until stock recovers, which resolves it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::outbox::{self, topics};
use crate::{now, sql, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{Page, PageRequest};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct StockAlert {
    pub id: i64,
    pub product_id: i64,
    pub warehouse_id: i64,
    pub product_name: String,
    /// Available stock when the alert was raised.
    pub current_stock: i64,
    pub threshold: i64,
    pub alert_message: String,
    /// open, acknowledged or resolved.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Whether a stock change needs its alert evaluated (see `stock::LevelAfter::alert_check`).
pub(crate) enum Check {
    Skip,
    /// Evaluate with this available stock.
    Evaluate(i64),
}

impl Check {
    pub(crate) async fn run(
        self,
        c: &mut Conn<'_>,
        product_id: i64,
        warehouse_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        match self {
            Check::Skip => Ok(()),
            Check::Evaluate(available) => evaluate_at(c, product_id, warehouse_id, available, at).await,
        }
    }
}

/// An alert's `alert_message` (seed 002's wording).
pub(crate) fn message(product_name: &str, available: i64, threshold: i64) -> String {
    format!("⚠️ Stock bajo: {product_name} tiene {available} unidades disponibles (umbral {threshold})")
}

/// Opens or resolves the alert of a product in a warehouse after its available stock changed.
pub async fn evaluate(c: &mut Conn<'_>, product_id: i64, warehouse_id: i64, available: i64) -> StoreResult<()> {
    evaluate_at(c, product_id, warehouse_id, available, now()).await
}

/// [`evaluate`] with the alert raised or resolved at `at` instead of now.
pub async fn evaluate_at(
    c: &mut Conn<'_>,
    product_id: i64,
    warehouse_id: i64,
    available: i64,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let product: Option<(String, i64, String)> =
        sql::query_as("SELECT name, low_stock_threshold, status FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_optional(c)
            .await?;
    let Some((name, threshold, status)) = product else {
        return Ok(());
    };
    let live: Option<i64> = sql::query_scalar(
        "SELECT id FROM stock_alerts WHERE product_id = $1 AND warehouse_id = $2 AND resolved_at IS NULL
         ORDER BY id DESC LIMIT 1",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .fetch_optional(c)
    .await?;
    let below = available < threshold && status == "active";
    match (below, live) {
        (true, None) => {
            let message = message(&name, available, threshold);
            let alert: StockAlert = sql::query_as(
                "INSERT INTO stock_alerts (product_id, warehouse_id, product_name, current_stock, threshold, alert_message, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) RETURNING *"
            )
            .bind(product_id)
            .bind(warehouse_id)
            .bind(&name)
            .bind(available)
            .bind(threshold)
            .bind(&message)
            .bind(at)
            .fetch_one(c)
            .await?;
            outbox::emit(c, topics::ALERTS, "alert.raised", product_id, &alert).await?;
        }
        (false, Some(id)) => {
            let alert: StockAlert = sql::query_as(
                "UPDATE stock_alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2 RETURNING *",
            )
            .bind(at)
            .bind(id)
            .fetch_one(c)
            .await?;
            outbox::emit(c, topics::ALERTS, "alert.resolved", product_id, &alert).await?;
        }
        _ => {}
    }
    Ok(())
}

/// What [`list`] keeps: every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter<'a> {
    /// open, acknowledged or resolved.
    pub status: Option<&'a str>,
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
}

/// Alerts, newest first.
pub async fn list(c: &mut Conn<'_>, f: &AlertFilter<'_>, page: PageRequest) -> StoreResult<Page<StockAlert>> {
    const WHERE: &str =
        "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR product_id = $2) AND ($3 IS NULL OR warehouse_id = $3)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM stock_alerts {WHERE}"))
        .bind(f.status)
        .bind(f.product_id)
        .bind(f.warehouse_id)
        .fetch_one(c)
        .await?;
    let items: Vec<StockAlert> = sql::query_as(format!(
        "SELECT * FROM stock_alerts {WHERE} ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(f.status)
    .bind(f.product_id)
    .bind(f.warehouse_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}

/// Acknowledges an open alert; it stays live (no new alert for the pair) until stock recovers.
pub async fn acknowledge(c: &mut Conn<'_>, id: i64, by: &str) -> StoreResult<StockAlert> {
    let updated: Option<StockAlert> = sql::query_as(
        "UPDATE stock_alerts SET status = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2
         WHERE id = $3 AND status = 'open' RETURNING *",
    )
    .bind(now())
    .bind(by)
    .bind(id)
    .fetch_optional(c)
    .await?;
    match updated {
        Some(alert) => {
            outbox::emit(c, topics::ALERTS, "alert.acknowledged", alert.product_id, &alert).await?;
            Ok(alert)
        }
        None => {
            let exists: Option<String> = sql::query_scalar("SELECT status FROM stock_alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(c)
                .await?;
            match exists {
                Some(status) => Err(StoreError::State(format!("alert is {status}, not open"))),
                None => Err(StoreError::NotFound),
            }
        }
    }
}

/// The live (open or acknowledged, unresolved) alert of a product in a warehouse.
pub async fn live_for(c: &mut Conn<'_>, product_id: i64, warehouse_id: i64) -> StoreResult<Option<StockAlert>> {
    sql::query_as(
        "SELECT * FROM stock_alerts WHERE product_id = $1 AND warehouse_id = $2 AND resolved_at IS NULL ORDER BY id DESC LIMIT 1"
    )
    .bind(product_id)
    .bind(warehouse_id)
    .fetch_optional(c)
    .await
}
