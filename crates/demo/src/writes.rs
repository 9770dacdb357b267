//! The simulation's writes that bypass the store functions: alerts of shop products, the
//! movements, sale lines and stock levels kept in memory and written in bulk, and re-stamping
//! rows a store function dated with the clock.

use anyhow::bail;
use chrono::{DateTime, Utc};

use bodega_store::outbox::{self, topics};
use bodega_store::{alerts, sql, Conn};

use crate::simulation::Sim;
use crate::BY;

/// Opens or resolves the alert of a product in a warehouse when its available stock crossed
/// the threshold (what `stock::book` does on every movement).
pub(crate) async fn check_alert(
    c: &mut Conn<'_>,
    sim: &mut Sim,
    l: usize,
    p: usize,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let available = sim.available(l, p);
    let threshold = sim.products[p].threshold;
    let below = available < threshold;
    if below == sim.live[l][p] {
        return Ok(());
    }
    sim.live[l][p] = below;
    if l == 0 {
        // The warehouse's alerts are also raised by the order saga: let the store decide.
        alerts::evaluate_at(c, sim.products[p].id, sim.locations[l].id, available, at).await?;
        return Ok(());
    }
    // Only this generator moves a shop's stock, so it knows the live alert (what
    // `alerts::evaluate` finds by scanning) and writes it as `alerts::evaluate` would.
    let (product_id, warehouse_id) = (sim.products[p].id, sim.locations[l].id);
    let alert: alerts::StockAlert = if below {
        let message = format!(
            "⚠️ Stock bajo: {} tiene {available} unidades disponibles (umbral {threshold})",
            sim.products[p].name
        );
        sql::query_as(
            "INSERT INTO stock_alerts (product_id, warehouse_id, product_name, current_stock, threshold, alert_message, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) RETURNING *"
        )
        .bind(product_id)
        .bind(warehouse_id)
        .bind(&sim.products[p].name)
        .bind(available)
        .bind(threshold)
        .bind(&message)
        .bind(at)
        .fetch_one(c)
        .await?
    } else {
        let id = sim.alert_ids.remove(&(l, p)).unwrap_or_default();
        sql::query_as("UPDATE stock_alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2 RETURNING *")
            .bind(at)
            .bind(id)
            .fetch_one(c)
            .await?
    };
    if below {
        sim.alert_ids.insert((l, p), alert.id);
    }
    let event = if below { "alert.raised" } else { "alert.resolved" };
    outbox::emit(c, topics::ALERTS, event, product_id, &alert).await?;
    Ok(())
}

/// Writes the movements and sale lines kept in memory, in multi-row inserts, and sets the
/// stock levels they changed: the ledger stays the sum of its movements.
pub(crate) async fn flush(c: &mut Conn<'_>, sim: &mut Sim, at: DateTime<Utc>) -> anyhow::Result<()> {
    // Rows per statement: full chunks share one prepared statement.
    const CHUNK: usize = 32;
    let moves = std::mem::take(&mut sim.moves);
    for chunk in moves.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 11;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO stock_movements (product_id, warehouse_id, kind, quantity, unit_cost, balance_after,
                 reference_type, reference_id, note, created_by, created_at) VALUES {}",
            values.join(", ")
        );
        {
            let mut q = sql::query(&sql);
            for m in chunk {
                q = q
                    .bind(m.product_id)
                    .bind(m.warehouse_id)
                    .bind(m.kind)
                    .bind(m.quantity)
                    .bind(m.unit_cost)
                    .bind(m.balance_after)
                    .bind(m.reference_type)
                    .bind(&m.reference_id)
                    .bind(m.note)
                    .bind(BY)
                    .bind(m.at);
            }
            q.execute(c).await
        }?;
    }
    let items = std::mem::take(&mut sim.items);
    for chunk in items.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 8;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO sale_items (sale_id, product_id, sku, product_name, unit_price, unit_cost, quantity, line_total) VALUES {}",
            values.join(", ")
        );
        {
            let mut q = sql::query(&sql);
            for i in chunk {
                let prod = &sim.products[i.product];
                q = q
                    .bind(i.sale_id)
                    .bind(prod.id)
                    .bind(&prod.sku)
                    .bind(&prod.name)
                    .bind(i.unit_price)
                    .bind(i.unit_cost)
                    .bind(i.quantity)
                    .bind(i.unit_price * i.quantity);
            }
            q.execute(c).await
        }?;
    }
    let dirty: Vec<(usize, usize)> = std::mem::take(&mut sim.dirty).into_iter().collect();
    for chunk in dirty.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = 1 + i * 4;
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4
                )
            })
            .collect();
        let sql = format!(
            "UPDATE stock_levels SET on_hand = v.column3, avg_cost = v.column4, updated_at = $1
             FROM (VALUES {}) AS v
             WHERE stock_levels.product_id = v.column1 AND stock_levels.warehouse_id = v.column2",
            values.join(", ")
        );
        let updated = {
            let mut q = sql::query(&sql).bind(at);
            for &(l, p) in chunk {
                q = q
                    .bind(sim.products[p].id)
                    .bind(sim.locations[l].id)
                    .bind(sim.on_hand[l][p])
                    .bind(sim.avg[l][p]);
            }
            q.execute(c).await
        }?;
        if updated != chunk.len() as u64 {
            bail!("stock levels missing: {updated} of {} updated", chunk.len());
        }
    }
    Ok(())
}

/// Re-stamps a row written by a store function that takes its time from the clock.
pub(crate) async fn stamp(c: &mut Conn<'_>, sql: &str, at: DateTime<Utc>, id: i64) -> anyhow::Result<()> {
    sql::query(sql).bind(at).bind(id).execute(c).await?;
    Ok(())
}

/// Re-stamps the movements of a reference.
pub(crate) async fn stamp_ref(
    c: &mut Conn<'_>,
    reference_type: &str,
    reference_id: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sql::query("UPDATE stock_movements SET created_at = $1 WHERE reference_type = $2 AND reference_id = $3")
        .bind(at)
        .bind(reference_type)
        .bind(reference_id)
        .execute(c)
        .await?;
    Ok(())
}
