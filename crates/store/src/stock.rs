//! The stock ledger. Every change of stock is a movement; the level of a product in a
//! warehouse (`stock_levels`) is updated in the same transaction and always equals the sum of
//! its movements. Reservations hold stock for orders; `reserved` always equals the sum of the
//! active reservations. Every update is a single conditional `UPDATE … WHERE available >= n`,
//! so two transactions racing for the last units cannot both win (on PostgreSQL the row lock
//! serialises them; on SQLite there is one writer), and CHECK constraints stop any write that
//! would leave available stock below zero even if the code were wrong.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Shortage;
use crate::outbox::{self, topics};
use crate::{alerts, now, sql, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{MovementKind, Page, PageRequest};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Movement {
    pub id: i64,
    pub product_id: i64,
    pub warehouse_id: i64,
    /// entry, exit, adjustment, transfer_out, transfer_in, return, sale, opening.
    pub kind: String,
    /// Signed: positive adds stock, negative removes it.
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    /// On-hand quantity after this movement.
    pub balance_after: i64,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct StockLevel {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub on_hand: i64,
    pub reserved: i64,
    /// on_hand − reserved; never negative.
    pub available: i64,
    /// Moving average unit cost, updated on entries.
    pub avg_cost: i64,
    pub updated_at: DateTime<Utc>,
}

/// A movement to book. `quantity` is already signed (see `MovementKind::signed`).
#[derive(Debug, Clone)]
pub struct NewMovement<'a> {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub kind: MovementKind,
    pub quantity: i64,
    /// Unit cost of inbound goods; moves the average cost.
    pub unit_cost: Option<i64>,
    pub reference_type: Option<&'a str>,
    pub reference_id: Option<String>,
    pub note: Option<&'a str>,
    pub created_by: &'a str,
}

/// Creates the (empty) level row of a product in a warehouse; true when it did not exist.
pub(crate) async fn ensure_level(c: &mut Conn<'_>, product_id: i64, warehouse_id: i64) -> StoreResult<bool> {
    sql::query(
        "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, avg_cost, updated_at)
         VALUES ($1, $2, 0, 0, 0, $3) ON CONFLICT (product_id, warehouse_id) DO NOTHING",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .bind(now())
    .execute(c)
    .await
    .map(|inserted| inserted == 1)
}

pub async fn level(c: &mut Conn<'_>, product_id: i64, warehouse_id: i64) -> StoreResult<StockLevel> {
    let found: Option<StockLevel> = sql::query_as(
        "SELECT product_id, warehouse_id, on_hand, reserved, on_hand - reserved AS available, avg_cost, updated_at
         FROM stock_levels WHERE product_id = $1 AND warehouse_id = $2",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .fetch_optional(c)
    .await?;
    Ok(found.unwrap_or(StockLevel {
        product_id,
        warehouse_id,
        on_hand: 0,
        reserved: 0,
        available: 0,
        avg_cost: 0,
        updated_at: now(),
    }))
}

/// Books a movement, consuming `consume_reserved` units of reservation at the same time (a
/// committed reservation becomes a sale exit). Fails with [`StoreError::Insufficient`] when it
/// would leave available stock below zero; nothing is written then.
pub async fn book(c: &mut Conn<'_>, m: &NewMovement<'_>, consume_reserved: i64) -> StoreResult<Movement> {
    book_at(c, m, consume_reserved, now()).await
}

/// [`book`] stamped at `at` instead of now: the movement, the level and any alert carry that
/// time (generated or replayed history, e.g. `bodega demo`).
pub async fn book_at(
    c: &mut Conn<'_>,
    m: &NewMovement<'_>,
    consume_reserved: i64,
    at: DateTime<Utc>,
) -> StoreResult<Movement> {
    let mut events = Vec::new();
    let movement = book_into(c, m, consume_reserved, at, &mut events).await?;
    outbox::emit_all(c, events).await?;
    Ok(movement)
}

/// [`book_at`], leaving its `erp.stock` event in `events` for the caller to write together
/// with others in one statement (events already there are written first if an alert event
/// has to follow them, so the outbox keeps the order things happened in).
pub async fn book_into(
    c: &mut Conn<'_>,
    m: &NewMovement<'_>,
    consume_reserved: i64,
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Movement> {
    let inbound_cost = if m.quantity > 0 { m.unit_cost } else { None };
    let mut updated = apply_movement(c, m, inbound_cost, consume_reserved, at).await?;
    if updated.is_none() && ensure_level(c, m.product_id, m.warehouse_id).await? {
        // The first movement of this product in this warehouse: its level row exists now.
        updated = apply_movement(c, m, inbound_cost, consume_reserved, at).await?;
    }
    let Some(after) = updated else {
        let current = level(c, m.product_id, m.warehouse_id).await?;
        return Err(StoreError::Insufficient(vec![Shortage {
            product_id: m.product_id,
            warehouse_id: m.warehouse_id,
            requested: -m.quantity,
            available: current.available + consume_reserved,
        }]));
    };
    let (on_hand, reserved) = (after.on_hand, after.reserved);
    let movement: Movement = sql::query_as(
        "INSERT INTO stock_movements (product_id, warehouse_id, kind, quantity, unit_cost, balance_after,
             reference_type, reference_id, note, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
    )
    .bind(m.product_id)
    .bind(m.warehouse_id)
    .bind(m.kind.as_str())
    .bind(m.quantity)
    .bind(m.unit_cost)
    .bind(on_hand)
    .bind(m.reference_type)
    .bind(&m.reference_id)
    .bind(m.note)
    .bind(m.created_by)
    .bind(at)
    .fetch_one(c)
    .await?;
    events.push(outbox::event(
        topics::STOCK,
        "stock.moved",
        format!("{}:{}", m.product_id, m.warehouse_id),
        &StockMoved {
            movement: &movement,
            on_hand,
            reserved,
            available: on_hand - reserved,
        },
    ));
    // Available stock moved by quantity + consume_reserved (a committed reservation was not
    // available before either).
    let check = after.alert_check(m.quantity + consume_reserved);
    if matches!(check, alerts::Check::Evaluate(_)) {
        outbox::emit_all(c, std::mem::take(events)).await?;
    }
    check.run(c, m.product_id, m.warehouse_id, at).await?;
    Ok(movement)
}

/// The `erp.stock` event of a movement.
#[derive(Serialize)]
struct StockMoved<'a> {
    movement: &'a Movement,
    on_hand: i64,
    reserved: i64,
    available: i64,
}

/// A stock level right after a change, with what alert evaluation needs to know.
#[derive(Debug, FromRow)]
pub(crate) struct LevelAfter {
    pub on_hand: i64,
    pub reserved: i64,
    pub threshold: Option<i64>,
    pub product_status: Option<String>,
}

/// `RETURNING` list of a stock level update: the level and its product's alert settings.
pub(crate) const LEVEL_AFTER: &str = "RETURNING on_hand, reserved,
    (SELECT low_stock_threshold FROM products WHERE id = stock_levels.product_id) AS threshold,
    (SELECT status FROM products WHERE id = stock_levels.product_id) AS product_status";

impl LevelAfter {
    /// Whether the change (of `available_delta` units of available stock) can open or resolve
    /// an alert. A decrease that leaves stock at or above the threshold can do neither: stock
    /// was above it before too, and the alert of a product resolves as soon as stock rises
    /// above it. Skipping those saves two queries on nearly every sale.
    pub(crate) fn alert_check(&self, available_delta: i64) -> alerts::Check {
        let available = self.on_hand - self.reserved;
        let below = self.threshold.is_some_and(|t| available < t) && self.product_status.as_deref() == Some("active");
        if below || available_delta > 0 {
            alerts::Check::Evaluate(available)
        } else {
            alerts::Check::Skip
        }
    }
}

/// The conditional update of a stock level; `None` when the level row is missing or the change
/// would leave reserved or available stock below zero.
async fn apply_movement(
    c: &mut Conn<'_>,
    m: &NewMovement<'_>,
    inbound_cost: Option<i64>,
    consume_reserved: i64,
    at: DateTime<Utc>,
) -> StoreResult<Option<LevelAfter>> {
    sql::query_as(format!(
        "UPDATE stock_levels SET
             avg_cost = CASE WHEN $4 IS NOT NULL AND on_hand + $3 > 0
                             THEN (on_hand * avg_cost + $3 * $4) / (on_hand + $3) ELSE avg_cost END,
             on_hand = on_hand + $3,
             reserved = reserved - $5,
             updated_at = $6
         WHERE product_id = $1 AND warehouse_id = $2
           AND reserved - $5 >= 0 AND on_hand + $3 - (reserved - $5) >= 0
         {LEVEL_AFTER}"
    ))
    .bind(m.product_id)
    .bind(m.warehouse_id)
    .bind(m.quantity)
    .bind(inbound_cost)
    .bind(consume_reserved)
    .bind(at)
    .fetch_optional(c)
    .await
}

/// Moves stock between warehouses: a transfer_out and a transfer_in with one reference, at the
/// source's average cost.
pub async fn transfer(
    c: &mut Conn<'_>,
    product_id: i64,
    from: i64,
    to: i64,
    quantity: i64,
    note: Option<&str>,
    created_by: &str,
) -> StoreResult<(Movement, Movement)> {
    let reference = uuid::Uuid::now_v7().to_string();
    // Every other writer locks levels in (product, warehouse) order; lock both levels of the
    // transfer in that order too, or opposite transfers (A→B beside B→A) deadlock on PostgreSQL.
    for warehouse_id in [from.min(to), from.max(to)] {
        ensure_level(c, product_id, warehouse_id).await?;
        sql::query("UPDATE stock_levels SET updated_at = updated_at WHERE product_id = $1 AND warehouse_id = $2")
            .bind(product_id)
            .bind(warehouse_id)
            .execute(c)
            .await?;
    }
    let cost = level(c, product_id, from).await?.avg_cost;
    let out = NewMovement {
        product_id,
        warehouse_id: from,
        kind: MovementKind::TransferOut,
        quantity: -quantity,
        unit_cost: Some(cost),
        reference_type: Some("transfer"),
        reference_id: Some(reference.clone()),
        note,
        created_by,
    };
    let out = book(c, &out, 0).await?;
    let inbound = NewMovement {
        product_id,
        warehouse_id: to,
        kind: MovementKind::TransferIn,
        quantity,
        unit_cost: Some(cost),
        reference_type: Some("transfer"),
        reference_id: Some(reference),
        note,
        created_by,
    };
    let inbound = book(c, &inbound, 0).await?;
    Ok((out, inbound))
}

/// Filters of the movement listing.
#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub kind: Option<String>,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn movements(c: &mut Conn<'_>, f: &MovementFilter, page: PageRequest) -> StoreResult<Page<Movement>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR warehouse_id = $2)
        AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR reference_type = $4) AND ($5 IS NULL OR reference_id = $5)
        AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM stock_movements {WHERE}"))
        .bind(f.product_id)
        .bind(f.warehouse_id)
        .bind(&f.kind)
        .bind(&f.reference_type)
        .bind(&f.reference_id)
        .bind(f.from)
        .bind(f.to)
        .fetch_one(c)
        .await?;
    let items: Vec<Movement> = sql::query_as(format!(
        "SELECT * FROM stock_movements {WHERE} ORDER BY id DESC LIMIT $8 OFFSET $9"
    ))
    .bind(f.product_id)
    .bind(f.warehouse_id)
    .bind(&f.kind)
    .bind(&f.reference_type)
    .bind(&f.reference_id)
    .bind(f.from)
    .bind(f.to)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}

/// Stock levels, optionally of one product or warehouse.
pub async fn levels(
    c: &mut Conn<'_>,
    product_id: Option<i64>,
    warehouse_id: Option<i64>,
    page: PageRequest,
) -> StoreResult<Page<StockLevel>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR warehouse_id = $2)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM stock_levels {WHERE}"))
        .bind(product_id)
        .bind(warehouse_id)
        .fetch_one(c)
        .await?;
    let items: Vec<StockLevel> = sql::query_as(format!(
        "SELECT product_id, warehouse_id, on_hand, reserved, on_hand - reserved AS available, avg_cost, updated_at
         FROM stock_levels {WHERE} ORDER BY product_id, warehouse_id LIMIT $3 OFFSET $4"
    ))
    .bind(product_id)
    .bind(warehouse_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}

/// A product below its low-stock threshold in a warehouse.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct LowStock {
    pub product_id: i64,
    pub sku: String,
    pub product_name: String,
    pub warehouse_id: i64,
    pub warehouse_name: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub threshold: i64,
}

/// Active products whose available stock is below their threshold, lowest first.
pub async fn low_stock(c: &mut Conn<'_>, warehouse_id: Option<i64>) -> StoreResult<Vec<LowStock>> {
    sql::query_as(
        "SELECT p.id AS product_id, p.sku, p.name AS product_name, w.id AS warehouse_id, w.name AS warehouse_name,
                s.on_hand, s.reserved, s.on_hand - s.reserved AS available, p.low_stock_threshold AS threshold
         FROM stock_levels s JOIN products p ON p.id = s.product_id JOIN warehouses w ON w.id = s.warehouse_id
         WHERE p.status = 'active' AND p.deleted_at IS NULL AND s.on_hand - s.reserved < p.low_stock_threshold
           AND ($1 IS NULL OR s.warehouse_id = $1)
         ORDER BY s.on_hand - s.reserved, p.id",
    )
    .bind(warehouse_id)
    .fetch_all(c)
    .await
}

/// One broken ledger invariant (for tests and `bodega check`).
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Drift {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub on_hand: i64,
    pub movements_sum: i64,
    pub reserved: i64,
    pub active_reservations_sum: i64,
}

/// Every stock level whose on_hand differs from the sum of its movements or whose reserved
/// differs from the sum of its active reservations, or that is negative. Empty when the ledger
/// is consistent.
pub async fn drift(c: &mut Conn<'_>) -> StoreResult<Vec<Drift>> {
    sql::query_as(
        "SELECT s.product_id, s.warehouse_id, s.on_hand,
                CAST(COALESCE((SELECT SUM(m.quantity) FROM stock_movements m
                          WHERE m.product_id = s.product_id AND m.warehouse_id = s.warehouse_id), 0) AS BIGINT) AS movements_sum,
                s.reserved,
                CAST(COALESCE((SELECT SUM(r.quantity) FROM reservations r
                          WHERE r.product_id = s.product_id AND r.warehouse_id = s.warehouse_id AND r.status = 'active'), 0) AS BIGINT)
                    AS active_reservations_sum
         FROM stock_levels s
         WHERE s.on_hand <> COALESCE((SELECT SUM(m.quantity) FROM stock_movements m
                                      WHERE m.product_id = s.product_id AND m.warehouse_id = s.warehouse_id), 0)
            OR s.reserved <> COALESCE((SELECT SUM(r.quantity) FROM reservations r
                                       WHERE r.product_id = s.product_id AND r.warehouse_id = s.warehouse_id AND r.status = 'active'), 0)
            OR s.on_hand - s.reserved < 0 OR s.reserved < 0"
    )
    .fetch_all(c)
    .await
}
