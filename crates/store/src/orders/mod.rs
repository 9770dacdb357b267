//! Sales orders and their saga: confirm reserves every line (all or nothing), cancel releases,
//! ship commits the reservations into stock exits and records the sale, return books the goods
//! back. Each step is one transaction that first claims the transition with a conditional
//! `UPDATE … WHERE status = <expected>`, so two concurrent steps on one order cannot both run.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::reservations::{self, NewReservation};
use crate::sales::LineRequest;
use crate::stock::{self, NewMovement};
use crate::{now, sql, Backend, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{MovementKind, OrderAction, OrderStatus, Page, PageRequest};

mod create;
mod ship;
mod steps;
pub use create::{create, create_all, find_by_key, Created, NewOrder};
use create::{customer_snapshot, insert_items, priced_lines};
pub use steps::OrderSteps;

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Order {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub warehouse_id: i64,
    pub status: String,
    /// unpaid, paid or refunded.
    pub payment_status: String,
    pub idempotency_key: Option<String>,
    #[serde(skip)]
    pub request_hash: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    /// How many times the order was changed while pending (0: as created). Last, as in the
    /// table (migration 0011 added it): fields in the table's order are read by position.
    pub revision: i64,
}

/// Columns of `orders`: the columns after `o.*` are at known positions (should a migration add
/// one, reading them by position misses and falls back to their names).
const ORDER_COLUMNS: usize = 23;

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct OrderItem {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub sku: String,
    pub product_name: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub line_total: i64,
    /// The order's revision this item was written for (see migration 0011).
    #[serde(skip)]
    pub revision: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderWithItems {
    #[serde(flatten)]
    pub order: Order,
    pub items: Vec<OrderItem>,
    /// The sale recorded when the order shipped.
    pub sale_id: Option<i64>,
}

/// The columns of an order's items in [`OrderRow`], from `order_items i`.
const ITEM_COLUMNS: &str = "i.id AS item_id, i.product_id AS item_product_id, i.sku AS item_sku,
    i.product_name AS item_product_name, i.unit_price AS item_unit_price,
    i.quantity AS item_quantity, i.line_total AS item_line_total, i.revision AS item_revision";

/// The [`OrderRow`]s of the orders `o` that `filter` keeps, each order's items in id order.
fn order_rows(filter: &str) -> String {
    format!(
        "SELECT o.*, {ITEM_COLUMNS},
                CASE WHEN o.shipped_at IS NOT NULL
                     THEN (SELECT s.id FROM sales s WHERE s.order_id = o.id ORDER BY s.id LIMIT 1) END AS sale_id
         FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
         WHERE {filter} ORDER BY o.id, i.id"
    )
}

/// An order with its items and, once shipped, its sale: one read.
pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<OrderWithItems> {
    read_orders(c, sql::query(order_rows("o.id = $1")).bind(id))
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// The orders read by `query` ([`order_rows`]: an order's rows follow one another), each
/// order's columns decoded from its first row only, not again for each of its items.
async fn read_orders(c: &mut Conn<'_>, query: sql::Query<'_>) -> StoreResult<Vec<OrderWithItems>> {
    let mut orders: Vec<OrderWithItems> = Vec::new();
    query
        .for_each_row(c, |row| {
            let id: i64 = row.get_at(0, "id")?;
            if orders.last().is_none_or(|last| last.order.id != id) {
                orders.push(OrderWithItems {
                    order: <Order as sql::FromRow>::from_row(row)?,
                    items: Vec::new(),
                    sale_id: row.get_at(ORDER_COLUMNS + 8, "sale_id")?,
                });
            }
            if let (Some(order), Some(item)) = (orders.last_mut(), item_of_row(row, id)?) {
                order.items.push(item);
            }
            Ok(())
        })
        .await?;
    Ok(orders)
}

/// The item in a row of [`order_rows`] (none when the order has no items). On SQLite the item's
/// columns follow the order's; by name otherwise.
fn item_of_row(row: &sql::Row<'_>, order_id: i64) -> StoreResult<Option<OrderItem>> {
    let at = ORDER_COLUMNS;
    let Some(id) = row.get_at::<Option<i64>>(at, "item_id")? else {
        return Ok(None);
    };
    Ok(Some(OrderItem {
        id,
        order_id,
        product_id: row.get_at(at + 1, "item_product_id")?,
        sku: row.get_at(at + 2, "item_sku")?,
        product_name: row.get_at(at + 3, "item_product_name")?,
        unit_price: row.get_at(at + 4, "item_unit_price")?,
        quantity: row.get_at(at + 5, "item_quantity")?,
        line_total: row.get_at(at + 6, "item_line_total")?,
        revision: row.get_at(at + 7, "item_revision")?,
    }))
}

/// The order of [`OrderRow`]s (one per item, in item order); `None` without rows.
fn assemble(rows: impl IntoIterator<Item = OrderRow>) -> Option<OrderWithItems> {
    let mut rows = rows.into_iter();
    let first = rows.next()?;
    let items = first.item.into_iter().chain(rows.filter_map(|r| r.item)).collect();
    Some(OrderWithItems {
        order: first.order,
        items,
        sale_id: first.sale_id,
    })
}

/// A row of [`get`]: the order, one of its items (columns named `item_…`; none when the order
/// has no items) and the order's sale.
struct OrderRow {
    order: Order,
    item: Option<OrderItem>,
    sale_id: Option<i64>,
}

impl sql::FromRow for OrderRow {
    fn from_row(row: &sql::Row<'_>) -> StoreResult<Self> {
        let order = Order::from_row(row)?;
        Ok(Self {
            item: item_of_row(row, order.id)?,
            order,
            sale_id: row.get_at(ORDER_COLUMNS + 8, "sale_id")?,
        })
    }
}

/// What a change of a pending order replaces.
pub struct OrderChanges<'a> {
    pub customer_id: Option<i64>,
    /// The active warehouse that serves the order; `None`: the one it has.
    pub warehouse_id: Option<i64>,
    pub items: &'a [LineRequest],
    pub discount: i64,
    pub notes: Option<&'a str>,
}

/// Changes a pending order: its customer, warehouse, discount and notes, and its items, which
/// are replaced and priced as the products are now. Nothing is reserved yet, so stock is not
/// touched; once confirmed an order can no longer change (409: cancel it and create another).
/// The order row is locked first, so a step cannot claim it half-changed; a step that waited
/// for the lock sees the new revision (see [`claim_all`]).
pub async fn update(
    c: &mut Conn<'_>,
    actor: &Actor,
    id: i64,
    changes: &OrderChanges<'_>,
) -> StoreResult<OrderWithItems> {
    if c.backend() == Backend::Postgres {
        sql::query("SELECT id FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(c)
            .await?;
    }
    let before = get(c, id).await?;
    if before.order.status != OrderStatus::Pending.as_str() {
        return Err(StoreError::State(format!(
            "order {id} is {}: only a pending order can change; cancel it and create another",
            before.order.status
        )));
    }
    let (customer_name, customer_email) = customer_snapshot(c, changes.customer_id).await?;
    let (lines, subtotal) = priced_lines(c, changes.items, changes.discount).await?;
    let warehouse_id = changes.warehouse_id.unwrap_or(before.order.warehouse_id);
    let changed: Option<Order> = sql::query_as(
        "UPDATE orders SET customer_id = $1, warehouse_id = $10, customer_name = $2, customer_email = $3,
             subtotal = $4, discount = $5, total = $6, notes = $7, revision = revision + 1, updated_at = $8
         WHERE id = $9 AND EXISTS (SELECT 1 FROM warehouses w WHERE w.id = $10 AND w.is_active) RETURNING *",
    )
    .bind(changes.customer_id)
    .bind(customer_name)
    .bind(customer_email)
    .bind(subtotal)
    .bind(changes.discount)
    .bind(subtotal - changes.discount)
    .bind(changes.notes)
    .bind(now())
    .bind(id)
    .bind(warehouse_id)
    .fetch_optional(c)
    .await?;
    let order = changed.ok_or_else(|| StoreError::Rule {
        field: Some("warehouse_id".into()),
        message: format!("no active warehouse {warehouse_id}"),
    })?;
    sql::query("DELETE FROM order_items WHERE order_id = $1")
        .bind(id)
        .execute(c)
        .await?;
    let after = OrderWithItems {
        items: insert_items(c, id, order.revision, &lines).await?,
        order,
        sale_id: None,
    };
    let entry = audit::entry(actor, "update", "order", id, Some(&before), Some(&after));
    let updated = outbox::event(topics::ORDERS, "order.updated", id, &after);
    audit::record_with_events(c, entry, vec![updated]).await?;
    Ok(after)
}

/// The column stamped with the time an order reaches `status`, besides `updated_at`.
fn stamp_column(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Confirmed => Some("confirmed_at"),
        OrderStatus::Shipped => Some("shipped_at"),
        OrderStatus::Delivered => Some("delivered_at"),
        OrderStatus::Completed => Some("completed_at"),
        OrderStatus::Cancelled => Some("cancelled_at"),
        OrderStatus::Returned => Some("returned_at"),
        OrderStatus::Pending | OrderStatus::Processing => None,
    }
}

/// `order` as [`claim`] leaves it: in `to`, stamped at `at` (see [`stamp_column`]).
fn stamped(order: &Order, to: OrderStatus, at: DateTime<Utc>) -> Order {
    let mut order = order.clone();
    order.status = to.as_str().to_string();
    order.updated_at = at;
    let stamp = match to {
        OrderStatus::Confirmed => &mut order.confirmed_at,
        OrderStatus::Shipped => &mut order.shipped_at,
        OrderStatus::Delivered => &mut order.delivered_at,
        OrderStatus::Completed => &mut order.completed_at,
        OrderStatus::Cancelled => &mut order.cancelled_at,
        OrderStatus::Returned => &mut order.returned_at,
        OrderStatus::Pending | OrderStatus::Processing => return order,
    };
    *stamp = Some(at);
    order
}

/// A row of the PostgreSQL [`claim`]: [`OrderRow`] and whether the claim took.
struct ClaimRow {
    row: OrderRow,
    claimed: bool,
}

impl sql::FromRow for ClaimRow {
    fn from_row(row: &sql::Row<'_>) -> StoreResult<Self> {
        Ok(Self {
            row: OrderRow::from_row(row)?,
            claimed: row.get("claimed")?,
        })
    }
}

/// Whether `action` may run on `order` as it is: its state then, or a 409-style error.
fn state_for(order: &Order, action: OrderAction) -> StoreResult<OrderStatus> {
    let (id, status) = (order.id, &order.status);
    let from: OrderStatus = status
        .parse()
        .map_err(|_| StoreError::State(format!("order {id} has unknown status {status}")))?;
    action.check(from).map_err(StoreError::State)?;
    Ok(from)
}

/// The states `action` may start from, as an SQL list of literals (the states are this
/// program's own names, never input).
fn allowed_states(action: OrderAction) -> String {
    let quoted: Vec<String> = action.allowed_from().iter().map(|s| format!("'{s}'")).collect();
    quoted.join(", ")
}

/// An order claimed for a step: as it was before, with its items and sale, and its state then.
type Claimed = (OrderWithItems, OrderStatus);

/// Claims `action` on order `id`, moving it to the action's target state stamped at `at`, so
/// that two concurrent steps on one order cannot both run. Returns the order as it was before;
/// [`StoreError::NotFound`] without such an order, a 409-style error when the action is not
/// allowed from its state.
async fn claim(c: &mut Conn<'_>, id: i64, action: OrderAction, at: DateTime<Utc>) -> StoreResult<Claimed> {
    claim_all(c, &[id], action, at)
        .await?
        .pop()
        .unwrap_or(Err(StoreError::NotFound))
}

/// [`claim`] of several distinct orders at once, each one's outcome in `ids` order. An `Err`
/// of the whole is a database error; a refused claim changes nothing.
async fn claim_all(
    c: &mut Conn<'_>,
    ids: &[i64],
    action: OrderAction,
    at: DateTime<Utc>,
) -> StoreResult<Vec<StoreResult<Claimed>>> {
    let to = action.target();
    // PostgreSQL refuses a column assigned twice: `updated_at` is set once when it is the stamp.
    let stamp = stamp_column(to).map(|col| format!("{col} = $2, ")).unwrap_or_default();
    if c.backend() == Backend::Sqlite {
        // The single writer: nothing moves an order between this read and its claim (which
        // still names the states it claims from). One read of all the orders with their
        // items, one claim of those whose state allows it.
        let query = sql::query(order_rows(&sql::one_of(Backend::Sqlite, "o.id", 1))).bind(ids);
        let mut found: std::collections::HashMap<i64, OrderWithItems> = read_orders(c, query)
            .await?
            .into_iter()
            .map(|o| (o.order.id, o))
            .collect();
        let mut outcomes = Vec::with_capacity(ids.len());
        let mut claimable = Vec::new();
        for &id in ids {
            let Some(before) = found.remove(&id) else {
                outcomes.push(Err(StoreError::NotFound));
                continue;
            };
            outcomes.push(match state_for(&before.order, action) {
                Ok(from) => {
                    claimable.push(id);
                    Ok((before, from))
                }
                Err(refused) => Err(refused),
            });
        }
        if !claimable.is_empty() {
            let claimed = sql::query(format!(
                "UPDATE orders SET status = $1, {stamp}updated_at = $2 WHERE {} AND status IN ({})",
                sql::one_of(Backend::Sqlite, "id", 3),
                allowed_states(action)
            ))
            .bind(to.as_str())
            .bind(at)
            .bind(claimable.as_slice())
            .execute(c)
            .await?;
            if claimed != claimable.len() as u64 {
                return Err(StoreError::Database(
                    format!("{claimed} of {} orders claimed on the single writer", claimable.len()).into(),
                ));
            }
        }
        return Ok(outcomes);
    }
    // One round trip: the orders are locked in id order and read as they are now (`old`, after
    // any concurrent step committed), claimed when their state allows the action, and
    // returned with their items. One statement text for any number of orders (an array), so
    // it is prepared once per connection.
    //
    // Each order and its items are looked up one key at a time (a lateral subquery per id,
    // which the planner cannot turn into a scan of the whole table). A prepared statement
    // keeps the plan made when the connection first ran it: `id = ANY($3)` and a plain join
    // were planned as sequential scans and hash joins while the tables were small (a new
    // shop, before its first ANALYZE), and those plans then read every order and item on
    // every claim, a cost that grew with the tables (a quarter of PostgreSQL's time in a
    // 10 s run of the order benchmark). The locks are taken in the array's order: ascending.
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let rows: Vec<ClaimRow> = sql::query_as(format!(
        "WITH old AS MATERIALIZED (SELECT o.* FROM unnest($3::BIGINT[]) AS k (id)
                                   CROSS JOIN LATERAL (SELECT * FROM orders WHERE orders.id = k.id FOR UPDATE) o),
         claimed AS (UPDATE orders o SET status = $1, {stamp}updated_at = $2 FROM old
                     WHERE o.id = old.id AND old.status IN ({}) RETURNING o.id)
         SELECT old.*, old.id IN (SELECT id FROM claimed) AS claimed, {ITEM_COLUMNS},
                CASE WHEN old.shipped_at IS NOT NULL
                     THEN (SELECT s.id FROM sales s WHERE s.order_id = old.id ORDER BY s.id LIMIT 1) END AS sale_id
         FROM old LEFT JOIN LATERAL (SELECT * FROM order_items WHERE order_items.order_id = old.id OFFSET 0) i ON true
         ORDER BY old.id, i.id",
        allowed_states(action)
    ))
    .bind(to.as_str())
    .bind(at)
    .bind(sorted.as_slice())
    .fetch_all(c)
    .await?;
    let mut by_order: std::collections::HashMap<i64, (bool, Vec<OrderRow>)> = std::collections::HashMap::new();
    for r in rows {
        by_order
            .entry(r.row.order.id)
            .or_insert((r.claimed, Vec::new()))
            .1
            .push(r.row);
    }
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some((claimed, mut before)) = by_order
            .remove(&id)
            .and_then(|(claimed, rows)| Some((claimed, assemble(rows)?)))
        else {
            outcomes.push(Err(StoreError::NotFound));
            continue;
        };
        let from = match state_for(&before.order, action) {
            Ok(from) => from,
            Err(refused) => {
                outcomes.push(Err(refused));
                continue;
            }
        };
        if !claimed {
            outcomes.push(Err(StoreError::State(format!(
                "order {id} changed concurrently; retry"
            ))));
            continue;
        }
        if before.items.iter().any(|i| i.revision != before.order.revision) {
            // Changed (`update`) by a transaction that committed while this one waited for the
            // lock: the order row is the new one, its items are not in this statement's snapshot.
            before = get(c, id).await?;
        }
        if before.order.shipped_at.is_some() && before.sale_id.is_none() {
            // Shipped by a step that committed while this one waited for the lock: its sale is
            // not in this statement's snapshot.
            before.sale_id = sql::query_scalar("SELECT id FROM sales WHERE order_id = $1 ORDER BY id LIMIT 1")
                .bind(id)
                .fetch_optional(c)
                .await?;
        }
        outcomes.push(Ok((before, from)));
    }
    Ok(outcomes)
}

/// The `erp.orders` event of a saga step.
#[derive(Serialize)]
struct Transitioned<'a> {
    order_id: i64,
    from: OrderStatus,
    to: OrderStatus,
    order: &'a Order,
    sale_id: Option<i64>,
}

/// Runs one step of the saga on an order.
pub async fn transition(c: &mut Conn<'_>, actor: &Actor, id: i64, action: OrderAction) -> StoreResult<OrderWithItems> {
    let at = now();
    let claimed = claim(c, id, action, at).await?;
    let mut events = Vec::new();
    let (after, entry) = carry_out(c, actor, action, at, claimed, &mut events).await?;
    audit::record_with_events(c, entry, events).await?;
    Ok(after)
}

/// Runs `action` on several distinct orders in the caller's transaction, as [`transition`] would
/// one after the other, with fewer statements: one claim of them all, one insert of all their
/// audit entries and events. Returns each order's outcome in `steps` order; a refused claim (no
/// such order, a state that does not allow the action) is that order's `Err` and changes
/// nothing. An `Err` of the whole (a shortage, a database error) leaves work of other orders in
/// the transaction: the caller must roll it back.
pub async fn transition_all(
    c: &mut Conn<'_>,
    steps: &[(&Actor, i64)],
    action: OrderAction,
) -> StoreResult<Vec<StoreResult<OrderWithItems>>> {
    let ids: Vec<i64> = steps.iter().map(|&(_, id)| id).collect();
    if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
        return Err(StoreError::Database(
            "an order appears twice in one batch of steps".into(),
        ));
    }
    let at = now();
    let claims = claim_all(c, &ids, action, at).await?;
    let claimed: Vec<(&Actor, &OrderWithItems)> = steps
        .iter()
        .zip(&claims)
        .filter_map(|(&(actor, _), claim)| claim.as_ref().ok().map(|(order, _)| (actor, order)))
        .collect();
    let orders: Vec<&OrderWithItems> = claimed.iter().map(|&(_, order)| order).collect();
    let mut events = Vec::new();
    // Confirms and ships do the stock work of all the orders in one statement, which locks
    // their levels in key order (`Some`, with the ships' sales). Other steps work order by
    // order; their levels are locked first, all in key order, or two batches could lock them
    // in opposite orders.
    let together: Option<Vec<i64>> = match action {
        _ if claimed.is_empty() => Some(Vec::new()),
        OrderAction::Confirm => {
            hold_lines(c, &orders).await?;
            Some(Vec::new())
        }
        OrderAction::Ship => Some(ship::ship_all(c, &claimed, &mut events).await?),
        _ => {
            if action.moves_stock() {
                let mut levels: Vec<(i64, i64)> = orders
                    .iter()
                    .flat_map(|o| o.items.iter().map(|i| (i.product_id, o.order.warehouse_id)))
                    .collect();
                levels.sort_unstable();
                levels.dedup();
                stock::lock_levels(c, &levels).await?;
            }
            None
        }
    };
    let done_together = together.is_some();
    let mut sales = together.unwrap_or_default().into_iter();
    let mut entries = Vec::new();
    let mut outcomes = Vec::with_capacity(steps.len());
    for (&(actor, _), claim) in steps.iter().zip(claims) {
        let claimed = match claim {
            Ok(claimed) => claimed,
            Err(refused) => {
                outcomes.push(Err(refused));
                continue;
            }
        };
        let (after, entry) = if done_together {
            let sale_id = match action {
                OrderAction::Ship => sales.next(),
                _ => claimed.0.sale_id,
            };
            conclude(c, actor, action, at, claimed, sale_id, &mut events).await?
        } else {
            carry_out(c, actor, action, at, claimed, &mut events).await?
        };
        entries.push(entry);
        outcomes.push(Ok(after));
    }
    audit::record_all_with_events(c, entries, events).await?;
    Ok(outcomes)
}

/// The work of a step on an order just claimed for it: stock held, released, sold or taken
/// back. Leaves its events in `events`, the order's own last, and returns the order after the
/// step with the step's audit entry (neither written yet).
async fn carry_out(
    c: &mut Conn<'_>,
    actor: &Actor,
    action: OrderAction,
    at: DateTime<Utc>,
    claimed: Claimed,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<(OrderWithItems, audit::NewEntry)> {
    let (before, from) = &claimed;
    let id = before.order.id;
    let mut sale_id = before.sale_id;
    match action {
        OrderAction::Confirm => hold_lines(c, &[before]).await?,
        OrderAction::Cancel if from.holds_reservations() => {
            // Released level by level in key order, as every writer locks levels: in id order
            // they could lock in another order and deadlock with a writer of several levels.
            let mut held: Vec<_> = reservations::for_order(c, id)
                .await?
                .into_iter()
                .filter(|r| r.status == "active")
                .collect();
            held.sort_by_key(|r| (r.product_id, r.warehouse_id, r.id));
            for r in held {
                reservations::release(c, r.id, "released").await?;
            }
        }
        OrderAction::Ship => sale_id = ship::ship_all(c, &[(actor, before)], events).await?.first().copied(),
        OrderAction::Return => return_goods(c, actor, before).await?,
        _ => {}
    }
    conclude(c, actor, action, at, claimed, sale_id, events).await
}

/// What follows a step's work: the order after it (with `sale_id`), its audit entry, and its
/// `erp.orders` event left in `events`.
async fn conclude(
    c: &mut Conn<'_>,
    actor: &Actor,
    action: OrderAction,
    at: DateTime<Utc>,
    (before, from): Claimed,
    sale_id: Option<i64>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<(OrderWithItems, audit::NewEntry)> {
    let id = before.order.id;
    let to = action.target();
    // Only a return can change the order again (a paid order is refunded): read it back then.
    let after = match action {
        OrderAction::Return => get(c, id).await?,
        _ => OrderWithItems {
            order: stamped(&before.order, to, at),
            items: before.items.clone(),
            sale_id,
        },
    };
    let entry = audit::entry(
        actor,
        action.name(),
        "order",
        id,
        Some(&before.order),
        Some(&after.order),
    );
    events.push(outbox::event(
        topics::ORDERS,
        &format!("order.{}", to.as_str()),
        id,
        // The header only: the items do not change after creation and are in `order.created`.
        &Transitioned {
            order_id: id,
            from,
            to,
            order: &after.order,
            sale_id: after.sale_id,
        },
    ));
    Ok((after, entry))
}

/// Reserves every line of the orders or none (one reservation per order and product), in one
/// statement: all shortages are reported together.
async fn hold_lines(c: &mut Conn<'_>, orders: &[&OrderWithItems]) -> StoreResult<()> {
    // (order, product, quantity): an order's lines of one product summed, in product order.
    let mut wanted: Vec<(&Order, i64, i64)> = Vec::new();
    for order in orders {
        let first = wanted.len();
        for item in &order.items {
            match wanted[first..].iter_mut().find(|w| w.1 == item.product_id) {
                Some(w) => w.2 += item.quantity,
                None => wanted.push((&order.order, item.product_id, item.quantity)),
            }
        }
        wanted[first..].sort_by_key(|w| w.1);
    }
    let references: Vec<String> = wanted.iter().map(|(o, ..)| format!("order:{}", o.id)).collect();
    let reservations: Vec<NewReservation> = wanted
        .iter()
        .zip(&references)
        .map(|(&(order, product_id, quantity), reference)| NewReservation {
            product_id,
            warehouse_id: order.warehouse_id,
            quantity,
            order_id: Some(order.id),
            reference: Some(reference),
            expires_at: None,
        })
        .collect();
    reservations::hold_all(c, &reservations).await
}

async fn return_goods(c: &mut Conn<'_>, actor: &Actor, order: &OrderWithItems) -> StoreResult<()> {
    let reference = order.order.id.to_string();
    // One level after the other in key order, as every writer locks levels (see the cancel).
    let mut items: Vec<&OrderItem> = order.items.iter().collect();
    items.sort_by_key(|i| (i.product_id, i.id));
    for item in items {
        let movement = NewMovement {
            product_id: item.product_id,
            warehouse_id: order.order.warehouse_id,
            kind: MovementKind::Return,
            quantity: item.quantity,
            unit_cost: None,
            reference_type: Some("order"),
            reference_id: Some(reference.clone()),
            note: Some("customer return"),
            created_by: &actor.label,
        };
        stock::book(c, &movement, 0).await?;
    }
    if order.order.payment_status == "paid" {
        set_payment(c, actor, order.order.id, "refunded").await?;
    }
    Ok(())
}

/// Sets the payment status (its own field, independent of the fulfilment state).
pub async fn set_payment(c: &mut Conn<'_>, actor: &Actor, id: i64, status: &str) -> StoreResult<OrderWithItems> {
    let before = get(c, id).await?;
    let order = &before.order;
    let order_status: OrderStatus = order
        .status
        .parse()
        .map_err(|_| StoreError::State(format!("order {id} has unknown status {}", order.status)))?;
    order_status
        .check_payment(&order.payment_status, status)
        .map_err(|reason| StoreError::State(format!("order {id}: {reason}")))?;
    // Only from the state just checked: a step or payment that committed in between is a 409.
    let changed = sql::query(
        "UPDATE orders SET payment_status = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND payment_status = $5",
    )
    .bind(status)
    .bind(now())
    .bind(id)
    .bind(&order.status)
    .bind(&order.payment_status)
    .execute(c)
    .await?;
    if changed == 0 {
        return Err(StoreError::State(format!("order {id} changed concurrently; retry")));
    }
    let after = get(c, id).await?;
    audit::record(
        c,
        actor,
        "payment",
        "order",
        id,
        Some(&before.order),
        Some(&after.order),
    )
    .await?;
    outbox::emit(
        c,
        topics::ORDERS,
        "order.payment",
        id,
        &serde_json::json!({"order_id": id, "payment_status": status}),
    )
    .await?;
    Ok(after)
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<String>,
    pub customer_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn list(c: &mut Conn<'_>, f: &OrderFilter, page: PageRequest) -> StoreResult<Page<Order>> {
    const WHERE: &str =
        "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR customer_id = $2) AND ($3 IS NULL OR warehouse_id = $3)
        AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM orders {WHERE}"))
        .bind(&f.status)
        .bind(f.customer_id)
        .bind(f.warehouse_id)
        .bind(f.from)
        .bind(f.to)
        .fetch_one(c)
        .await?;
    let items: Vec<Order> = sql::query_as(format!(
        "SELECT * FROM orders {WHERE} ORDER BY id DESC LIMIT $6 OFFSET $7"
    ))
    .bind(&f.status)
    .bind(f.customer_id)
    .bind(f.warehouse_id)
    .bind(f.from)
    .bind(f.to)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}
