//! Reservations: stock held for an order (or any caller) until committed into a sale exit,
//! released, or expired by the background job.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Shortage;
use crate::outbox;
use crate::stock::{self, NewMovement};
use crate::{alerts, now, sql, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::MovementKind;

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Reservation {
    pub id: i64,
    pub product_id: i64,
    pub warehouse_id: i64,
    pub quantity: i64,
    /// active, committed, released or expired.
    pub status: String,
    pub order_id: Option<i64>,
    pub reference: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewReservation<'a> {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub quantity: i64,
    pub order_id: Option<i64>,
    pub reference: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Holds `quantity` units, or fails with the shortage when fewer are available.
pub async fn reserve(c: &mut Conn<'_>, r: &NewReservation<'_>) -> StoreResult<Reservation> {
    let mut held = hold(c, r).await?;
    if held.is_none() && stock::ensure_level(c, r.product_id, r.warehouse_id).await? {
        held = hold(c, r).await?;
    }
    let Some(after) = held else {
        let level = stock::level(c, r.product_id, r.warehouse_id).await?;
        return Err(StoreError::Insufficient(vec![Shortage {
            product_id: r.product_id,
            warehouse_id: r.warehouse_id,
            requested: r.quantity,
            available: level.available,
        }]));
    };
    let at = now();
    let reservation: Reservation = sql::query_as(
        "INSERT INTO reservations (product_id, warehouse_id, quantity, status, order_id, reference, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $7) RETURNING *"
    )
    .bind(r.product_id)
    .bind(r.warehouse_id)
    .bind(r.quantity)
    .bind(r.order_id)
    .bind(r.reference)
    .bind(r.expires_at)
    .bind(at)
    .fetch_one(c)
    .await?;
    after
        .alert_check(-r.quantity)
        .run(c, r.product_id, r.warehouse_id, at)
        .await?;
    Ok(reservation)
}

/// Adds `quantity` to the reserved stock when that much is available.
async fn hold(c: &mut Conn<'_>, r: &NewReservation<'_>) -> StoreResult<Option<stock::LevelAfter>> {
    sql::query_as(format!(
        "UPDATE stock_levels SET reserved = reserved + $3, updated_at = $4
         WHERE product_id = $1 AND warehouse_id = $2 AND on_hand - reserved >= $3
         {}",
        stock::LEVEL_AFTER
    ))
    .bind(r.product_id)
    .bind(r.warehouse_id)
    .bind(r.quantity)
    .bind(now())
    .fetch_optional(c)
    .await
}

pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<Reservation> {
    sql::query_as("SELECT * FROM reservations WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn for_order(c: &mut Conn<'_>, order_id: i64) -> StoreResult<Vec<Reservation>> {
    sql::query_as("SELECT * FROM reservations WHERE order_id = $1 ORDER BY id")
        .bind(order_id)
        .fetch_all(c)
        .await
}

/// Moves an active reservation to `status`, or explains why it cannot.
async fn close(c: &mut Conn<'_>, id: i64, status: &str) -> StoreResult<Reservation> {
    let closed: Option<Reservation> = sql::query_as(
        "UPDATE reservations SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'active' RETURNING *",
    )
    .bind(status)
    .bind(now())
    .bind(id)
    .fetch_optional(c)
    .await?;
    match closed {
        Some(r) => Ok(r),
        None => {
            let current = get(c, id).await?;
            Err(StoreError::State(format!(
                "reservation {id} is {}, not active",
                current.status
            )))
        }
    }
}

/// Gives the units back (status `released`, or `expired` from the expiry job).
pub async fn release(c: &mut Conn<'_>, id: i64, status: &str) -> StoreResult<Reservation> {
    let r = close(c, id, status).await?;
    let (on_hand, reserved): (i64, i64) = sql::query_as(
        "UPDATE stock_levels SET reserved = reserved - $3, updated_at = $4
         WHERE product_id = $1 AND warehouse_id = $2 RETURNING on_hand, reserved",
    )
    .bind(r.product_id)
    .bind(r.warehouse_id)
    .bind(r.quantity)
    .bind(now())
    .fetch_one(c)
    .await?;
    alerts::evaluate(c, r.product_id, r.warehouse_id, on_hand - reserved).await?;
    Ok(r)
}

/// Turns the reserved units into a stock exit of `kind` (a sale), in one step.
pub async fn commit(
    c: &mut Conn<'_>,
    id: i64,
    kind: MovementKind,
    reference_type: &str,
    reference_id: &str,
    created_by: &str,
) -> StoreResult<Reservation> {
    let r = close(c, id, "committed").await?;
    let movement = NewMovement {
        product_id: r.product_id,
        warehouse_id: r.warehouse_id,
        kind,
        quantity: -r.quantity,
        unit_cost: None,
        reference_type: Some(reference_type),
        reference_id: Some(reference_id.to_string()),
        note: None,
        created_by,
    };
    stock::book(c, &movement, r.quantity).await?;
    Ok(r)
}

/// Commits every active reservation of an order (shipping it), in product order so that
/// concurrent shipments lock stock rows in the same order.
pub async fn commit_for_order(
    c: &mut Conn<'_>,
    order_id: i64,
    kind: MovementKind,
    reference_type: &str,
    reference_id: &str,
    created_by: &str,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Vec<Reservation>> {
    let mut committed: Vec<Reservation> = sql::query_as(
        "UPDATE reservations SET status = 'committed', updated_at = $2
         WHERE order_id = $1 AND status = 'active' RETURNING *",
    )
    .bind(order_id)
    .bind(now())
    .fetch_all(c)
    .await?;
    committed.sort_by_key(|r| (r.product_id, r.warehouse_id, r.id));
    for r in &committed {
        let movement = NewMovement {
            product_id: r.product_id,
            warehouse_id: r.warehouse_id,
            kind,
            quantity: -r.quantity,
            unit_cost: None,
            reference_type: Some(reference_type),
            reference_id: Some(reference_id.to_string()),
            note: None,
            created_by,
        };
        stock::book_into(c, &movement, r.quantity, now(), events).await?;
    }
    Ok(committed)
}

/// Active reservations past their expiry, oldest first.
pub async fn due_for_expiry(c: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<i64>> {
    sql::query_scalar(
        "SELECT id FROM reservations WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at < $1
         ORDER BY expires_at LIMIT $2",
    )
    .bind(now())
    .bind(limit)
    .fetch_all(c)
    .await
}
