//! Stock alerts of the levels an import wrote, evaluated set-based: an import touches
//! thousands of levels (Online Retail in ledger mode: 3,665), where `alerts::evaluate_at`'s
//! two or three queries per level would dominate the import.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::alerts::{self, StockAlert};
use crate::outbox::{self, topics};
use crate::{sql, Conn, StoreResult};

/// Alerts opened per statement: 8 parameters each, well under SQLite's 32766.
const ALERTS_PER_INSERT: usize = 1000;

/// The rule and the records of `alerts::evaluate_at`, over many `(product_id, warehouse_id)`
/// levels at once, from their stored stock: one read of the levels with their products and
/// live alerts, multi-row inserts of the alerts opened, one update of those resolved. Their
/// `erp.alerts` events (`alert.raised`, `alert.resolved`, the alert as payload) are pushed to
/// `events`, for the caller to write in its transaction.
pub(crate) async fn evaluate_levels(
    c: &mut Conn<'_>,
    levels: &[(i64, i64)],
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<()> {
    if levels.is_empty() {
        return Ok(());
    }
    let touched: HashSet<(i64, i64)> = levels.iter().copied().collect();
    let mut products: Vec<i64> = touched.iter().map(|l| l.0).collect();
    products.sort_unstable();
    products.dedup();
    // Every level of the touched products, kept to the touched pairs below: one list
    // parameter whatever their number.
    type LevelState = (i64, i64, i64, String, i64, String, Option<i64>);
    let states: Vec<LevelState> = sql::query_as(format!(
        "SELECT l.product_id, l.warehouse_id, l.on_hand - l.reserved, p.name, p.low_stock_threshold, p.status,
                (SELECT MAX(a.id) FROM stock_alerts a
                 WHERE a.product_id = l.product_id AND a.warehouse_id = l.warehouse_id AND a.resolved_at IS NULL)
         FROM stock_levels l JOIN products p ON p.id = l.product_id
         WHERE {} ORDER BY l.product_id, l.warehouse_id",
        sql::one_of(c.backend(), "l.product_id", 1)
    ))
    .bind(products)
    .fetch_all(c)
    .await?;
    let mut to_open = Vec::new();
    let mut to_resolve = Vec::new();
    for (product_id, warehouse_id, available, name, threshold, status, live) in states {
        if !touched.contains(&(product_id, warehouse_id)) {
            continue;
        }
        let below = available < threshold && status == "active";
        match (below, live) {
            (true, None) => to_open.push((product_id, warehouse_id, name, available, threshold)),
            (false, Some(id)) => to_resolve.push(id),
            _ => {}
        }
    }
    for chunk in to_open.chunks(ALERTS_PER_INSERT) {
        let mut insert = sql::query_as::<StockAlert>(format!(
            "INSERT INTO stock_alerts (product_id, warehouse_id, product_name, current_stock, threshold,
                 alert_message, status, created_at)
             VALUES {} RETURNING *",
            sql::value_rows(chunk.len(), 8, 1)
        ));
        for (product_id, warehouse_id, name, available, threshold) in chunk {
            insert = insert
                .bind(*product_id)
                .bind(*warehouse_id)
                .bind(name.as_str())
                .bind(*available)
                .bind(*threshold)
                .bind(alerts::message(name, *available, *threshold))
                .bind("open")
                .bind(at);
        }
        let mut opened = insert.fetch_all(c).await?;
        opened.sort_by_key(|a| a.id);
        events.extend(
            opened
                .iter()
                .map(|a| outbox::event(topics::ALERTS, "alert.raised", a.product_id, a)),
        );
    }
    if !to_resolve.is_empty() {
        let mut resolved: Vec<StockAlert> = sql::query_as(format!(
            "UPDATE stock_alerts SET status = 'resolved', resolved_at = $1 WHERE {} RETURNING *",
            sql::one_of(c.backend(), "id", 2)
        ))
        .bind(at)
        .bind(to_resolve)
        .fetch_all(c)
        .await?;
        resolved.sort_by_key(|a| a.id);
        events.extend(
            resolved
                .iter()
                .map(|a| outbox::event(topics::ALERTS, "alert.resolved", a.product_id, a)),
        );
    }
    Ok(())
}
