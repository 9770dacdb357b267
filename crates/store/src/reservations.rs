//! Reservations: stock held for an order (or any caller) until committed into a sale exit,
//! released, or expired by the background job.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::outbox::{self, topics};
use crate::sales::placeholders;
use crate::sql::ToValue;
use crate::stock::{self, Exit, LevelAfter, LevelChange, NewMovement};
use crate::{alerts, now, sql, Backend, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{MovementKind, Page, PageRequest};

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

/// Holds `quantity` units, or fails with the shortage when fewer are available. Writes its
/// `stock.reserved` event.
pub async fn reserve(c: &mut Conn<'_>, r: &NewReservation<'_>) -> StoreResult<Reservation> {
    let mut held = reserve_all(c, std::slice::from_ref(r)).await?;
    held.pop()
        .ok_or_else(|| StoreError::Database("a reservation was not written".into()))
}

/// Holds stock for several reservations at once (the lines of an order): one update of their
/// stock levels and one insert of the reservations instead of two statements a line. All or
/// nothing: fails with every short line listed. The reservations come back in `rs`'s order,
/// each with its `stock.reserved` event written.
pub async fn reserve_all(c: &mut Conn<'_>, rs: &[NewReservation<'_>]) -> StoreResult<Vec<Reservation>> {
    write_all(c, rs, true).await
}

/// [`reserve_all`], with the reservations' `stock.reserved` events (`erp.stock`) when
/// `announce`; without, it writes nothing but the levels, the reservations and their alerts.
async fn write_all(c: &mut Conn<'_>, rs: &[NewReservation<'_>], announce: bool) -> StoreResult<Vec<Reservation>> {
    if rs.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();
    let changes = level_changes(rs);
    let levels = stock::change_levels(c, &changes, at).await?;
    let mut reservations: Vec<Reservation> = INSERT_RETURNING
        .query_as(rs.len())
        .bind(at)
        .bind_all(values(rs))
        .fetch_all(c)
        .await?;
    // Ids follow the VALUES order; RETURNING's row order is not promised.
    reservations.sort_by_key(|r| r.id);
    let mut events = if announce {
        reserved_events(&reservations, &levels, &changes)?
    } else {
        Vec::new()
    };
    // Every level changed in one statement, before any alert was looked at: the
    // reservations' events are written before the first alert's (`check_alerts` sees to it).
    stock::check_alerts(c, &levels, &changes, at, &mut events).await?;
    outbox::emit_all(c, events).await?;
    Ok(reservations)
}

/// [`reserve_all`] when the reservations are not needed back (an order's confirm): on
/// PostgreSQL they are written by the statement that changes the stock levels.
///
/// No `stock.reserved` event here, on purpose: the order's own `order.confirmed` event
/// (`erp.orders`) records the change, and the confirm is the hot path of the orders
/// benchmark (bench/orders). Keep its statements and row counts exactly as they are.
pub async fn hold_all(c: &mut Conn<'_>, rs: &[NewReservation<'_>]) -> StoreResult<()> {
    if rs.is_empty() || c.backend() == Backend::Sqlite {
        return write_all(c, rs, false).await.map(drop);
    }
    let at = now();
    let changes = level_changes(rs);
    let args = columns(rs);
    let insert = stock::Alongside {
        sql: insert_of_levels_that_exist(stock::Alongside::FIRST_PARAM, &args),
        args,
    };
    let levels = stock::change_levels_with(c, &changes, at, Some(insert)).await?;
    stock::check_alerts(c, &levels, &changes, at, &mut Vec::new()).await
}

/// The `stock.reserved` events of reservations written together (in id order), each with its
/// level as it stood right after it, as if they had been written one by one.
fn reserved_events(
    reservations: &[Reservation],
    levels: &[LevelAfter],
    changes: &[LevelChange],
) -> StoreResult<Vec<outbox::NewEvent>> {
    // (level, on hand, reserved before the batch), then counted up reservation by reservation.
    let mut running: Vec<((i64, i64), i64, i64)> = levels
        .iter()
        .zip(changes)
        .map(|(level, change)| (change.key(), level.on_hand, level.reserved - change.reserved))
        .collect();
    reservations
        .iter()
        .map(|r| {
            let (_, on_hand, reserved) = running
                .iter_mut()
                .find(|(key, ..)| *key == (r.product_id, r.warehouse_id))
                .ok_or_else(|| StoreError::Database(format!("reservation {} of no level changed", r.id).into()))?;
            *reserved += r.quantity;
            Ok(reservation_event("stock.reserved", r, *on_hand, *reserved))
        })
        .collect()
}

/// The `erp.stock` event of a reservation made or ended (`stock.reserved`, `stock.released`,
/// `stock.expired`), which left its level at `on_hand` and `reserved`; keyed like the level's
/// movements (`product:warehouse`).
fn reservation_event(event_type: &str, r: &Reservation, on_hand: i64, reserved: i64) -> outbox::NewEvent {
    outbox::event(
        topics::STOCK,
        event_type,
        format!("{}:{}", r.product_id, r.warehouse_id),
        &ReservationChanged {
            reservation: r,
            on_hand,
            reserved,
            available: on_hand - reserved,
        },
    )
}

/// The payload of [`reservation_event`].
#[derive(Serialize)]
struct ReservationChanged<'a> {
    reservation: &'a Reservation,
    on_hand: i64,
    reserved: i64,
    available: i64,
}

fn level_changes(rs: &[NewReservation<'_>]) -> Vec<LevelChange> {
    stock::per_level(rs.iter().map(|r| LevelChange {
        product_id: r.product_id,
        warehouse_id: r.warehouse_id,
        on_hand: 0,
        reserved: r.quantity,
    }))
}

/// The insert of a number of active reservations stamped `$1`, their [`values`] from `$2` on,
/// returning them.
static INSERT_RETURNING: sql::ByCount = sql::ByCount::new(|count| {
    format!(
        "INSERT INTO reservations ({COLUMNS}) VALUES {} RETURNING *",
        value_rows(count, 2)
    )
});

/// The insert of [`hold_all`], which runs it beside the level update whether the levels fit or
/// not: only the reservations whose stock level exists are written. A reservation references
/// its level (migration 0009), and one of a product never stocked in the warehouse would fail
/// that foreign key before the update's shortage is reported; it is refused anyway (no level,
/// nothing to hold), and the shortage undoes the others. The reservations are bound as
/// `columns` ([`columns`]) numbered from `first` on: one text for any number, prepared once.
fn insert_of_levels_that_exist(first: usize, columns: &[sql::Value]) -> String {
    format!(
        "INSERT INTO reservations ({COLUMNS})
         SELECT r.product_id, r.warehouse_id, r.quantity, 'active', r.order_id, r.reference, r.expires_at, $1, $1
         FROM {} AS r (product_id, warehouse_id, quantity, order_id, reference, expires_at)
         WHERE EXISTS (SELECT 1 FROM stock_levels l WHERE l.product_id = r.product_id AND l.warehouse_id = r.warehouse_id)",
        sql::unnest(first, columns)
    )
}

/// The reservations of [`insert_of_levels_that_exist`], a column each.
fn columns(rs: &[NewReservation<'_>]) -> Vec<sql::Value> {
    vec![
        sql::column(rs.iter().map(|r| r.product_id)),
        sql::column(rs.iter().map(|r| r.warehouse_id)),
        sql::column(rs.iter().map(|r| r.quantity)),
        sql::column(rs.iter().map(|r| r.order_id)),
        sql::column(rs.iter().map(|r| r.reference)),
        sql::column(rs.iter().map(|r| r.expires_at)),
    ]
}

const COLUMNS: &str =
    "product_id, warehouse_id, quantity, status, order_id, reference, expires_at, created_at, updated_at";

/// The `VALUES` rows of [`INSERT_RETURNING`], numbered from `first` on.
fn value_rows(count: usize, first: usize) -> String {
    let rows: Vec<String> = (0..count)
        .map(|i| {
            let n = first + i * 6;
            format!("({}, 'active', {}, $1, $1)", placeholders(n, 3), placeholders(n + 3, 3))
        })
        .collect();
    rows.join(", ")
}

/// The six values of each reservation in [`INSERT_RETURNING`], in order.
fn values(rs: &[NewReservation<'_>]) -> Vec<sql::Value> {
    rs.iter()
        .flat_map(|r| {
            [
                r.product_id.to_value(),
                r.warehouse_id.to_value(),
                r.quantity.to_value(),
                r.order_id.to_value(),
                r.reference.to_value(),
                r.expires_at.to_value(),
            ]
        })
        .collect()
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

/// Moves an active reservation to `status`, or explains why it cannot. A reservation past its
/// expiry can still be released or expired, but no longer committed: its hold ended, even if
/// the expiry job has not released it yet.
async fn close(c: &mut Conn<'_>, id: i64, status: &str) -> StoreResult<Reservation> {
    let at = now();
    let closed: Option<Reservation> = sql::query_as(
        "UPDATE reservations SET status = $1, updated_at = $2
         WHERE id = $3 AND status = 'active' AND ($4 OR expires_at IS NULL OR expires_at >= $2) RETURNING *",
    )
    .bind(status)
    .bind(at)
    .bind(id)
    .bind(status != "committed")
    .fetch_optional(c)
    .await?;
    match closed {
        Some(r) => Ok(r),
        None => {
            let current = get(c, id).await?;
            Err(StoreError::State(match current.expires_at {
                Some(expired) if current.status == "active" => {
                    format!("reservation {id} expired at {}", expired.to_rfc3339())
                }
                _ => format!("reservation {id} is {}, not active", current.status),
            }))
        }
    }
}

/// Gives the units back (status `released`, or `expired` from the expiry job), with the
/// `stock.released` or `stock.expired` event of a reservation that is not an order's.
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
    // An order's reservations are recorded by the order's events (`order.confirmed` made them
    // without a `stock.reserved`, `order.cancelled` ends them), so the stream never ends a hold
    // it did not announce. Before the alert's event: the release is what moved the stock.
    if r.order_id.is_none() {
        let event = reservation_event(&format!("stock.{status}"), &r, on_hand, reserved);
        outbox::emit_all(c, vec![event]).await?;
    }
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
    let movement = exit_of(&r, kind, reference_type, reference_id, created_by);
    stock::book(c, &movement, r.quantity).await?;
    Ok(r)
}

/// The stock exit a committed reservation becomes.
fn exit_of<'a>(
    r: &Reservation,
    kind: MovementKind,
    reference_type: &'a str,
    reference_id: &str,
    created_by: &'a str,
) -> NewMovement<'a> {
    NewMovement {
        product_id: r.product_id,
        warehouse_id: r.warehouse_id,
        kind,
        quantity: -r.quantity,
        unit_cost: None,
        reference_type: Some(reference_type),
        reference_id: Some(reference_id.to_string()),
        note: None,
        created_by,
    }
}

/// An order whose active reservations are committed, with the reference and the author of its
/// exits.
pub struct Committing<'a> {
    pub order_id: i64,
    pub reference_id: String,
    pub created_by: &'a str,
}

/// Commits every active reservation of the orders (shipping them) into exits of `kind`, booked
/// together in (product, warehouse, reservation) order, as every writer locks stock rows.
pub async fn commit_for_orders(
    c: &mut Conn<'_>,
    orders: &[Committing<'_>],
    kind: MovementKind,
    reference_type: &str,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Vec<Reservation>> {
    let at = now();
    let ids: Vec<i64> = orders.iter().map(|o| o.order_id).collect();
    let mut committed: Vec<Reservation> = sql::query_as(format!(
        "UPDATE reservations SET status = 'committed', updated_at = $2
         WHERE {} AND status = 'active' RETURNING *",
        sql::one_of(c.backend(), "order_id", 1)
    ))
    .bind(ids.as_slice())
    .bind(at)
    .fetch_all(c)
    .await?;
    committed.sort_by_key(|r| (r.product_id, r.warehouse_id, r.id));
    let exits = committed
        .iter()
        .map(|r| {
            let order = orders
                .iter()
                .find(|o| r.order_id == Some(o.order_id))
                .ok_or_else(|| StoreError::Database(format!("reservation {} of no order shipped", r.id).into()))?;
            Ok(Exit {
                movement: exit_of(r, kind, reference_type, &order.reference_id, order.created_by),
                consume_reserved: r.quantity,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    stock::book_exits(c, &exits, at, events).await?;
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

/// What [`list`] keeps: every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct ReservationFilter {
    /// active, committed, released or expired.
    pub status: Option<String>,
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub order_id: Option<i64>,
}

/// Reservations, newest first.
pub async fn list(c: &mut Conn<'_>, f: &ReservationFilter, page: PageRequest) -> StoreResult<Page<Reservation>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR product_id = $2)
        AND ($3 IS NULL OR warehouse_id = $3) AND ($4 IS NULL OR order_id = $4)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM reservations {WHERE}"))
        .bind(&f.status)
        .bind(f.product_id)
        .bind(f.warehouse_id)
        .bind(f.order_id)
        .fetch_one(c)
        .await?;
    let items: Vec<Reservation> = sql::query_as(format!(
        "SELECT * FROM reservations {WHERE} ORDER BY id DESC LIMIT $5 OFFSET $6"
    ))
    .bind(&f.status)
    .bind(f.product_id)
    .bind(f.warehouse_id)
    .bind(f.order_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}
