//! Sales orders and their saga: confirm reserves every line (all or nothing), cancel releases,
//! ship commits the reservations into stock exits and records the sale, return books the goods
//! back. Each step is one transaction that first claims the transition with a conditional
//! `UPDATE … WHERE status = <expected>`, so two concurrent steps on one order cannot both run.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::reservations::{self, NewReservation};
use crate::sales::{self, Line, LineRequest, NewSale};
use crate::sql::ToValue;
use crate::stock::{self, NewMovement};
use crate::{now, sql, Backend, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{MovementKind, OrderAction, OrderStatus, Page, PageRequest};

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
}

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
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderWithItems {
    #[serde(flatten)]
    pub order: Order,
    pub items: Vec<OrderItem>,
    /// The sale recorded when the order shipped.
    pub sale_id: Option<i64>,
}

pub struct NewOrder<'a> {
    pub customer_id: Option<i64>,
    /// The active warehouse that serves the order; `None`: the first active one.
    pub warehouse_id: Option<i64>,
    pub items: &'a [LineRequest],
    pub discount: i64,
    pub notes: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// Hash of the request body: a key reused with another body is refused.
    pub request_hash: Option<&'a str>,
}

/// The outcome of a create: a new order, or the one an earlier request with the same
/// idempotency key created.
pub enum Created {
    New(OrderWithItems),
    Replayed(OrderWithItems),
}

/// The columns of an order's items in [`OrderRow`], from `order_items i`.
const ITEM_COLUMNS: &str = "i.id AS item_id, i.product_id AS item_product_id, i.sku AS item_sku,
    i.product_name AS item_product_name, i.unit_price AS item_unit_price,
    i.quantity AS item_quantity, i.line_total AS item_line_total";

/// An order with its items and, once shipped, its sale: one read.
pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<OrderWithItems> {
    let rows: Vec<OrderRow> = sql::query_as(format!(
        "SELECT o.*, {ITEM_COLUMNS},
                CASE WHEN o.shipped_at IS NOT NULL
                     THEN (SELECT s.id FROM sales s WHERE s.order_id = o.id ORDER BY s.id LIMIT 1) END AS sale_id
         FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
         WHERE o.id = $1 ORDER BY i.id"
    ))
    .bind(id)
    .fetch_all(c)
    .await?;
    assemble(rows).ok_or(StoreError::NotFound)
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
        let item = match row.get::<Option<i64>, _>("item_id")? {
            None => None,
            Some(id) => Some(OrderItem {
                id,
                order_id: order.id,
                product_id: row.get("item_product_id")?,
                sku: row.get("item_sku")?,
                product_name: row.get("item_product_name")?,
                unit_price: row.get("item_unit_price")?,
                quantity: row.get("item_quantity")?,
                line_total: row.get("item_line_total")?,
            }),
        };
        Ok(Self {
            order,
            item,
            sale_id: row.get("sale_id")?,
        })
    }
}

/// Looks up the order of an idempotency key; a key reused with a different body is refused.
pub async fn find_by_key(
    c: &mut Conn<'_>,
    key: &str,
    request_hash: Option<&str>,
) -> StoreResult<Option<OrderWithItems>> {
    let found: Option<(i64, Option<String>)> =
        sql::query_as("SELECT id, request_hash FROM orders WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(c)
            .await?;
    match found {
        None => Ok(None),
        Some((_, stored)) if stored.as_deref() != request_hash => Err(StoreError::Rule {
            field: Some("Idempotency-Key".into()),
            message: "this Idempotency-Key was already used with a different request body".into(),
        }),
        Some((id, _)) => get(c, id).await.map(Some),
    }
}

/// Inserts an order header (parameters 1 to 12) into the active warehouse asked for, or the
/// first active one: the warehouse is checked (and the default picked) by the insert itself.
const INSERT_ORDER: &str =
    "INSERT INTO orders (customer_id, warehouse_id, status, payment_status, idempotency_key, request_hash, customer_name,
         customer_email, subtotal, discount, total, notes, created_by, created_at, updated_at)
     SELECT $1, w.id, 'pending', 'unpaid', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12
     FROM warehouses w WHERE w.is_active AND ($2 IS NULL OR w.id = $2) ORDER BY w.id LIMIT 1
     RETURNING *";

pub async fn create(c: &mut Conn<'_>, actor: &Actor, new: &NewOrder<'_>) -> StoreResult<Created> {
    if let Some(key) = new.idempotency_key {
        if let Some(existing) = find_by_key(c, key, new.request_hash).await? {
            return Ok(Created::Replayed(existing));
        }
    }
    let (customer_name, customer_email) = match new.customer_id {
        Some(id) => {
            let found: Option<(String, String, Option<String>)> = sql::query_as(
                "SELECT first_name, last_name, email FROM customers WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .fetch_optional(c)
            .await?;
            let (first, last, email) = found.ok_or_else(|| StoreError::Rule {
                field: Some("customer_id".into()),
                message: format!("no customer {id}"),
            })?;
            (Some(format!("{first} {last}").trim().to_string()), email)
        }
        None => (None, None),
    };
    let lines = sales::snapshot_lines(c, new.items).await?;
    if lines.is_empty() {
        return Err(StoreError::Rule {
            field: Some("items".into()),
            message: "an order needs at least one item".into(),
        });
    }
    let subtotal: i64 = lines.iter().map(|l| l.unit_price * l.quantity).sum();
    if new.discount > subtotal {
        return Err(StoreError::Rule {
            field: Some("discount".into()),
            message: "discount exceeds the order subtotal".into(),
        });
    }
    let at = now();
    let header = [
        new.customer_id.to_value(),
        new.warehouse_id.to_value(),
        new.idempotency_key.to_value(),
        new.request_hash.to_value(),
        customer_name.to_value(),
        customer_email.to_value(),
        subtotal.to_value(),
        new.discount.to_value(),
        (subtotal - new.discount).to_value(),
        new.notes.to_value(),
        actor.label.to_value(),
        at.to_value(),
    ];
    let order = match c.backend() {
        // Header and items in one statement (one round trip); SQLite has no writable CTEs.
        Backend::Postgres => {
            let insert = sql::query_as(format!(
                "WITH o AS ({INSERT_ORDER}),
                 i AS (INSERT INTO order_items (order_id, product_id, sku, product_name, unit_price, quantity, line_total)
                       SELECT o.id, l.* FROM o, (VALUES {}) l RETURNING *)
                 SELECT o.*, {ITEM_COLUMNS}, NULL::bigint AS sale_id FROM o JOIN i ON i.order_id = o.id ORDER BY i.id",
                sql::value_rows(lines.len(), 6, header.len() + 1)
            ))
            .bind_all(header);
            let rows: Vec<OrderRow> = sales::bind_lines(insert, &lines).fetch_all(c).await?;
            assemble(rows)
        }
        Backend::Sqlite => match sql::query_as::<Order>(INSERT_ORDER)
            .bind_all(header)
            .fetch_optional(c)
            .await?
        {
            None => None,
            Some(inserted) => {
                let rows: Vec<String> = (0..lines.len())
                    .map(|i| format!("($1, {})", sales::placeholders(2 + i * 6, 6)))
                    .collect();
                let insert = sql::query_as(format!(
                    "INSERT INTO order_items (order_id, product_id, sku, product_name, unit_price, quantity, line_total)
                     VALUES {} RETURNING *",
                    rows.join(", ")
                ))
                .bind(inserted.id);
                let mut items: Vec<OrderItem> = sales::bind_lines(insert, &lines).fetch_all(c).await?;
                items.sort_by_key(|i| i.id);
                Some(OrderWithItems {
                    order: inserted,
                    items,
                    sale_id: None,
                })
            }
        },
    };
    let order = order.ok_or_else(|| StoreError::Rule {
        field: Some("warehouse_id".into()),
        message: match new.warehouse_id {
            Some(id) => format!("no active warehouse {id}"),
            None => "no active warehouse; create one first".into(),
        },
    })?;
    let id = order.order.id;
    let entry = audit::entry(actor, "create", "order", id, None::<&()>, Some(&order));
    let created = outbox::event(topics::ORDERS, "order.created", id, &order);
    audit::record_with_events(c, entry, vec![created]).await?;
    Ok(Created::New(order))
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

/// Claims `action` on order `id`, moving it to the action's target state stamped at `at`, so
/// that two concurrent steps on one order cannot both run. Returns the order as it was before,
/// with its items and sale, and its state then; [`StoreError::NotFound`] without such an order,
/// a 409-style error when the action is not allowed from its state.
async fn claim(
    c: &mut Conn<'_>,
    id: i64,
    action: OrderAction,
    at: DateTime<Utc>,
) -> StoreResult<(OrderWithItems, OrderStatus)> {
    let to = action.target();
    // PostgreSQL refuses a column assigned twice: `updated_at` is set once when it is the stamp.
    let stamp = stamp_column(to).map(|col| format!("{col} = $2, ")).unwrap_or_default();
    let state_of = |order: &Order| {
        let status = &order.status;
        let from: OrderStatus = status
            .parse()
            .map_err(|_| StoreError::State(format!("order {id} has unknown status {status}")))?;
        action.check(from).map_err(StoreError::State)?;
        Ok::<_, StoreError>(from)
    };
    if c.backend() == Backend::Sqlite {
        // The single writer: nothing moves the order between this read and the claim.
        let before = get(c, id).await?;
        let from = state_of(&before.order)?;
        let claimed = sql::query(format!(
            "UPDATE orders SET status = $1, {stamp}updated_at = $2 WHERE id = $3 AND status = $4"
        ))
        .bind(to.as_str())
        .bind(at)
        .bind(id)
        .bind(from.as_str())
        .execute(c)
        .await?;
        if claimed == 0 {
            return Err(StoreError::State(format!("order {id} changed concurrently; retry")));
        }
        return Ok((before, from));
    }
    // One round trip: the order is locked and read as it is now (`old`, after any concurrent
    // step committed), claimed when its state allows the action, and returned with its items.
    let allowed: Vec<String> = action.allowed_from().iter().map(|s| format!("'{s}'")).collect();
    let rows: Vec<ClaimRow> = sql::query_as(format!(
        "WITH old AS MATERIALIZED (SELECT * FROM orders WHERE id = $3 FOR UPDATE),
         claimed AS (UPDATE orders o SET status = $1, {stamp}updated_at = $2 FROM old
                     WHERE o.id = old.id AND old.status IN ({}) RETURNING o.id)
         SELECT old.*, EXISTS (SELECT 1 FROM claimed) AS claimed, {ITEM_COLUMNS},
                CASE WHEN old.shipped_at IS NOT NULL
                     THEN (SELECT s.id FROM sales s WHERE s.order_id = old.id ORDER BY s.id LIMIT 1) END AS sale_id
         FROM old LEFT JOIN order_items i ON i.order_id = old.id ORDER BY i.id",
        allowed.join(", ")
    ))
    .bind(to.as_str())
    .bind(at)
    .bind(id)
    .fetch_all(c)
    .await?;
    let claimed = rows.first().is_some_and(|r| r.claimed);
    let mut before = assemble(rows.into_iter().map(|r| r.row)).ok_or(StoreError::NotFound)?;
    let from = state_of(&before.order)?;
    if !claimed {
        return Err(StoreError::State(format!("order {id} changed concurrently; retry")));
    }
    if before.order.shipped_at.is_some() && before.sale_id.is_none() {
        // Shipped by a step that committed while this one waited for the lock: its sale is
        // not in this statement's snapshot.
        before.sale_id = sql::query_scalar("SELECT id FROM sales WHERE order_id = $1 ORDER BY id LIMIT 1")
            .bind(id)
            .fetch_optional(c)
            .await?;
    }
    Ok((before, from))
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
    let (before, from) = claim(c, id, action, at).await?;
    let to = action.target();
    let order = &before.order;
    let mut sale_id = before.sale_id;
    let mut events = Vec::new();
    match action {
        OrderAction::Confirm => reserve_lines(c, order, &before.items).await?,
        OrderAction::Cancel if from.holds_reservations() => {
            for r in reservations::for_order(c, id)
                .await?
                .iter()
                .filter(|r| r.status == "active")
            {
                reservations::release(c, r.id, "released").await?;
            }
        }
        OrderAction::Ship => sale_id = Some(ship(c, actor, &before, &mut events).await?),
        OrderAction::Return => return_goods(c, actor, &before).await?,
        _ => {}
    }
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
    audit::record_with_events(c, entry, events).await?;
    Ok(after)
}

/// Reserves every line or none (one reservation per product): all shortages are reported
/// together.
async fn reserve_lines(c: &mut Conn<'_>, order: &Order, items: &[OrderItem]) -> StoreResult<()> {
    let mut wanted: Vec<(i64, i64)> = Vec::new();
    for item in items {
        match wanted.iter_mut().find(|(p, _)| *p == item.product_id) {
            Some((_, q)) => *q += item.quantity,
            None => wanted.push((item.product_id, item.quantity)),
        }
    }
    wanted.sort();
    let reference = format!("order:{}", order.id);
    let reservations: Vec<NewReservation> = wanted
        .into_iter()
        .map(|(product_id, quantity)| NewReservation {
            product_id,
            warehouse_id: order.warehouse_id,
            quantity,
            order_id: Some(order.id),
            reference: Some(&reference),
            expires_at: None,
        })
        .collect();
    reservations::hold_all(c, &reservations).await
}

/// Records the sale of a shipped order and turns its reservations into sale exits; the sale id.
async fn ship(
    c: &mut Conn<'_>,
    actor: &Actor,
    order: &OrderWithItems,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<i64> {
    let id = order.order.id;
    let lines: Vec<Line> = order
        .items
        .iter()
        .map(|i| Line {
            product_id: i.product_id,
            sku: i.sku.clone(),
            product_name: i.product_name.clone(),
            category: None,
            unit_price: i.unit_price,
            quantity: i.quantity,
        })
        .collect();
    let sale = sales::record(
        c,
        &NewSale {
            order_id: Some(id),
            warehouse_id: Some(order.order.warehouse_id),
            customer_id: order.order.customer_id,
            channel: "order",
            external_ref: None,
            historical: false,
            discount: order.order.discount,
            sold_at: now(),
            created_by: &actor.label,
        },
        &lines,
        events,
    )
    .await?;
    let sale_ref = sale.sale.id.to_string();
    reservations::commit_for_order(c, id, MovementKind::Sale, "sale", &sale_ref, &actor.label, events).await?;
    Ok(sale.sale.id)
}

async fn return_goods(c: &mut Conn<'_>, actor: &Actor, order: &OrderWithItems) -> StoreResult<()> {
    let reference = order.order.id.to_string();
    for item in &order.items {
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
    sql::query("UPDATE orders SET payment_status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now())
        .bind(id)
        .execute(c)
        .await?;
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
