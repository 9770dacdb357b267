//! Creating orders: the items keep the products' names, SKUs and prices as they are now, the
//! customer's name and e-mail likewise, and an idempotency key makes a retry return the order
//! the first request created.
//!
//! Every create runs through [`create_all`], which creates many orders with the statements one
//! would take: concurrent requests share them (`OrderSteps`), as confirms and ships do. On
//! PostgreSQL one statement inserts every order with its items; on SQLite the orders are
//! inserted one by one, in the batch's transaction.

use super::{get, Order, OrderItem, OrderRow, OrderWithItems, ITEM_COLUMNS};
use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::sales::{self, Line, LineRequest, Products};
use crate::sql::ToValue;
use crate::{now, sql, Backend, Conn, StoreError, StoreResult};

pub struct NewOrder {
    pub customer_id: Option<i64>,
    /// The active warehouse that serves the order; `None`: the first active one.
    pub warehouse_id: Option<i64>,
    pub items: Vec<LineRequest>,
    pub discount: i64,
    pub notes: Option<String>,
    pub idempotency_key: Option<String>,
    /// Hash of the request body: a key reused with another body is refused.
    pub request_hash: Option<String>,
}

/// The outcome of a create: a new order, or the one an earlier request with the same
/// idempotency key created.
pub enum Created {
    New(OrderWithItems),
    Replayed(OrderWithItems),
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
        Some((id, stored)) => replay(c, id, stored.as_deref(), request_hash).await.map(Some),
    }
}

/// The order a key created, for a request with `request_hash`.
async fn replay(
    c: &mut Conn<'_>,
    id: i64,
    stored: Option<&str>,
    request_hash: Option<&str>,
) -> StoreResult<OrderWithItems> {
    if stored != request_hash {
        return Err(StoreError::Rule {
            field: Some("Idempotency-Key".into()),
            message: "this Idempotency-Key was already used with a different request body".into(),
        });
    }
    get(c, id).await
}

/// Creates a pending order in the caller's transaction.
pub async fn create(c: &mut Conn<'_>, actor: &Actor, new: &NewOrder) -> StoreResult<Created> {
    create_all(c, &[(actor, new)])
        .await?
        .pop()
        .unwrap_or_else(|| Err(StoreError::Database("no outcome for the order created".into())))
}

/// Creates several orders in the caller's transaction, as [`create`] would one after the
/// other, with one statement for each kind of work: a look-up of the idempotency keys, one of
/// the customers, one of the products, one insert of every order with its items, one of the
/// audit entries and events. Returns each request's outcome, in order; a refused request (an
/// unknown product, a key reused with another body, no active warehouse, …) is its `Err` and
/// writes nothing. An `Err` of the whole (a database error, such as two requests racing with
/// one key) leaves the other orders' work in the transaction: the caller must roll it back.
pub async fn create_all(c: &mut Conn<'_>, requests: &[(&Actor, &NewOrder)]) -> StoreResult<Vec<StoreResult<Created>>> {
    let mut outcomes: Vec<Option<StoreResult<Created>>> = requests.iter().map(|_| None).collect();
    replay_known_keys(c, requests, &mut outcomes).await?;

    let waiting: Vec<usize> = (0..requests.len()).filter(|&k| outcomes[k].is_none()).collect();
    let customer_ids = waiting.iter().filter_map(|&k| requests[k].1.customer_id).collect();
    let customers = Customers::fetch(c, customer_ids).await?;
    let product_ids = waiting
        .iter()
        .flat_map(|&k| requests[k].1.items.iter().map(|l| l.product_id))
        .collect();
    let products = Products::fetch(c, product_ids).await?;
    let mut ready = Vec::with_capacity(waiting.len());
    for k in waiting {
        match check(k, requests[k].1, &customers, &products) {
            Ok(checked) => ready.push(checked),
            Err(refused) => outcomes[k] = Some(Err(refused)),
        }
    }

    let created = insert_orders(c, requests, &ready).await?;
    record_created(c, created.iter().map(|(k, order)| (requests[*k].0, order)).collect()).await?;
    for (k, order) in created {
        outcomes[k] = Some(Ok(Created::New(order)));
    }
    // An order the insert left out had no active warehouse to serve it.
    Ok(outcomes
        .into_iter()
        .zip(requests)
        .map(|(outcome, (_, new))| outcome.unwrap_or_else(|| Err(no_warehouse(new.warehouse_id))))
        .collect())
}

/// A request checked and priced, to insert.
struct Ready {
    /// Its place among the requests.
    k: usize,
    customer: (Option<String>, Option<String>),
    lines: Vec<Line>,
    subtotal: i64,
}

/// Request `k` with its customer and its lines as they are now, checked.
fn check(k: usize, new: &NewOrder, customers: &Customers, products: &Products) -> StoreResult<Ready> {
    let customer = customers.snapshot(new.customer_id)?;
    let (lines, subtotal) = priced(products.lines(&new.items)?, new.discount)?;
    Ok(Ready {
        k,
        customer,
        lines,
        subtotal,
    })
}

/// Answers the requests whose idempotency key created an order already (one look-up for all).
async fn replay_known_keys(
    c: &mut Conn<'_>,
    requests: &[(&Actor, &NewOrder)],
    outcomes: &mut [Option<StoreResult<Created>>],
) -> StoreResult<()> {
    let keys: Vec<&str> = requests
        .iter()
        .filter_map(|(_, new)| new.idempotency_key.as_deref())
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let known: Vec<(i64, String, Option<String>)> = sql::query_as(format!(
        "SELECT id, idempotency_key, request_hash FROM orders WHERE {}",
        sql::one_of(c.backend(), "idempotency_key", 1)
    ))
    .bind(sql::column(keys))
    .fetch_all(c)
    .await?;
    for (k, (_, new)) in requests.iter().enumerate() {
        let Some((id, _, stored)) = known
            .iter()
            .find(|(_, key, _)| new.idempotency_key.as_deref() == Some(key.as_str()))
        else {
            continue;
        };
        outcomes[k] = Some(
            replay(c, *id, stored.as_deref(), new.request_hash.as_deref())
                .await
                .map(Created::Replayed),
        );
    }
    Ok(())
}

/// Inserts the orders of `ready` with their items; returns each with its place among the
/// requests. An order with no active warehouse to serve it is left out.
async fn insert_orders(
    c: &mut Conn<'_>,
    requests: &[(&Actor, &NewOrder)],
    ready: &[Ready],
) -> StoreResult<Vec<(usize, OrderWithItems)>> {
    if ready.is_empty() {
        return Ok(Vec::new());
    }
    if c.backend() == Backend::Sqlite {
        let mut created = Vec::with_capacity(ready.len());
        for r in ready {
            if let Some(order) = insert_order(c, requests[r.k], r).await? {
                created.push((r.k, order));
            }
        }
        return Ok(created);
    }
    let new = |r: &Ready| requests[r.k].1;
    // $1 the time; then a column of the orders each (from `$2`), then one of the lines each.
    let order_columns = vec![
        sql::column(ready.iter().map(|r| r.k as i64)),
        sql::column(ready.iter().map(|r| new(r).customer_id)),
        sql::column(ready.iter().map(|r| new(r).warehouse_id)),
        sql::column(ready.iter().map(|r| new(r).idempotency_key.as_deref())),
        sql::column(ready.iter().map(|r| new(r).request_hash.as_deref())),
        sql::column(ready.iter().map(|r| r.customer.0.as_deref())),
        sql::column(ready.iter().map(|r| r.customer.1.as_deref())),
        sql::column(ready.iter().map(|r| r.subtotal)),
        sql::column(ready.iter().map(|r| new(r).discount)),
        sql::column(ready.iter().map(|r| r.subtotal - new(r).discount)),
        sql::column(ready.iter().map(|r| new(r).notes.as_deref())),
        sql::column(ready.iter().map(|r| requests[r.k].0.label.as_str())),
    ];
    let lines: Vec<(i64, &Line)> = ready
        .iter()
        .flat_map(|r| r.lines.iter().map(move |l| (r.k as i64, l)))
        .collect();
    let line_columns = vec![
        sql::column(lines.iter().map(|(k, _)| *k)),
        sql::column(0..lines.len() as i64),
        sql::column(lines.iter().map(|(_, l)| l.product_id)),
        sql::column(lines.iter().map(|(_, l)| l.sku.as_str())),
        sql::column(lines.iter().map(|(_, l)| l.product_name.as_str())),
        sql::column(lines.iter().map(|(_, l)| l.unit_price)),
        sql::column(lines.iter().map(|(_, l)| l.quantity)),
        sql::column(lines.iter().map(|(_, l)| l.unit_price * l.quantity)),
    ];
    // All in one statement on PostgreSQL. The ids are drawn first, so the items can name their
    // order; the warehouse is checked (and the default picked) by the insert itself, with a
    // join rather than a look-up per order: its cost then hardly grows with the rows, so
    // PostgreSQL keeps the generic plan instead of planning every batch (≈ 0.3 ms each).
    let statement = format!(
        "WITH h AS MATERIALIZED (
             SELECT h.*, nextval(pg_get_serial_sequence('orders', 'id')::regclass) AS id
             FROM {order_rows} AS h (k, customer_id, warehouse_id, idempotency_key, request_hash, customer_name,
                                     customer_email, subtotal, discount, total, notes, created_by)),
         o AS (INSERT INTO orders (id, customer_id, warehouse_id, status, payment_status, idempotency_key,
                   request_hash, customer_name, customer_email, subtotal, discount, total, notes, created_by,
                   created_at, updated_at)
               SELECT h.id, h.customer_id, w.id, 'pending', 'unpaid', h.idempotency_key, h.request_hash,
                      h.customer_name, h.customer_email, h.subtotal, h.discount, h.total, h.notes, h.created_by, $1, $1
               FROM h JOIN warehouses w
                    ON w.id = COALESCE(h.warehouse_id, (SELECT MIN(id) FROM warehouses WHERE is_active)) AND w.is_active
               ORDER BY h.id
               RETURNING *),
         i AS (INSERT INTO order_items (order_id, product_id, sku, product_name, unit_price, quantity, line_total)
               SELECT o.id, l.product_id, l.sku, l.product_name, l.unit_price, l.quantity, l.line_total
               FROM {line_rows} AS l (k, n, product_id, sku, product_name, unit_price, quantity, line_total)
               JOIN h ON h.k = l.k JOIN o ON o.id = h.id
               ORDER BY l.n
               RETURNING *)
         SELECT h.k AS request_k, o.*, {ITEM_COLUMNS}, NULL::BIGINT AS sale_id
         FROM o JOIN h ON h.id = o.id JOIN i ON i.order_id = o.id
         ORDER BY o.id, i.id",
        order_rows = sql::unnest(2, &order_columns),
        line_rows = sql::unnest(2 + order_columns.len(), &line_columns),
    );
    let rows: Vec<CreatedRow> = sql::query_as(statement)
        .bind(now())
        .bind_all(order_columns)
        .bind_all(line_columns)
        .fetch_all(c)
        .await?;
    let mut created: Vec<(usize, Vec<OrderRow>)> = Vec::with_capacity(ready.len());
    for CreatedRow { k, row } in rows {
        match created.last_mut() {
            Some((last, rows)) if *last == k => rows.push(row),
            _ => created.push((k, vec![row])),
        }
    }
    Ok(created
        .into_iter()
        .filter_map(|(k, rows)| super::assemble(rows).map(|order| (k, order)))
        .collect())
}

/// Inserts one order with its items (SQLite: it has no arrays, and its statements run
/// in-process); `None` when no active warehouse serves it.
async fn insert_order(
    c: &mut Conn<'_>,
    (actor, new): (&Actor, &NewOrder),
    ready: &Ready,
) -> StoreResult<Option<OrderWithItems>> {
    let header = [
        new.customer_id.to_value(),
        new.warehouse_id.to_value(),
        new.idempotency_key.to_value(),
        new.request_hash.to_value(),
        ready.customer.0.to_value(),
        ready.customer.1.to_value(),
        ready.subtotal.to_value(),
        new.discount.to_value(),
        (ready.subtotal - new.discount).to_value(),
        new.notes.to_value(),
        actor.label.to_value(),
        now().to_value(),
    ];
    let inserted: Option<Order> = sql::query_as(
        "INSERT INTO orders (customer_id, warehouse_id, status, payment_status, idempotency_key, request_hash,
             customer_name, customer_email, subtotal, discount, total, notes, created_by, created_at, updated_at)
         SELECT $1, w.id, 'pending', 'unpaid', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12
         FROM warehouses w WHERE w.is_active AND ($2 IS NULL OR w.id = $2) ORDER BY w.id LIMIT 1
         RETURNING *",
    )
    .bind_all(header)
    .fetch_optional(c)
    .await?;
    let Some(order) = inserted else {
        return Ok(None);
    };
    Ok(Some(OrderWithItems {
        items: insert_items(c, order.id, order.revision, &ready.lines).await?,
        order,
        sale_id: None,
    }))
}

/// A row of [`insert_orders`]: an order's item, with the order's place among the requests.
struct CreatedRow {
    k: usize,
    row: OrderRow,
}

impl sql::FromRow for CreatedRow {
    fn from_row(row: &sql::Row<'_>) -> StoreResult<Self> {
        let k: i64 = row.get("request_k")?;
        Ok(Self {
            k: usize::try_from(k).map_err(|_| StoreError::Database("a negative request index".into()))?,
            row: OrderRow::from_row(row)?,
        })
    }
}

/// The audit entries and `order.created` events of orders just inserted.
async fn record_created(c: &mut Conn<'_>, created: Vec<(&Actor, &OrderWithItems)>) -> StoreResult<()> {
    if created.is_empty() {
        return Ok(());
    }
    let mut entries = Vec::with_capacity(created.len());
    let mut events = Vec::with_capacity(created.len());
    for (actor, order) in created {
        let id = order.order.id;
        entries.push(audit::entry(actor, "create", "order", id, None::<&()>, Some(order)));
        events.push(outbox::event(topics::ORDERS, "order.created", id, order));
    }
    audit::record_all_with_events(c, entries, events).await
}

fn no_warehouse(asked: Option<i64>) -> StoreError {
    StoreError::Rule {
        field: Some("warehouse_id".into()),
        message: match asked {
            Some(id) => format!("no active warehouse {id}"),
            None => "no active warehouse; create one first".into(),
        },
    }
}

/// The insert of an order's items, by their number: the order and its revision, then each
/// line's six values ([`sales::bind_lines`]).
static INSERT_ITEMS: sql::ByCount = sql::ByCount::new(|lines| {
    let rows: Vec<String> = (0..lines)
        .map(|i| format!("($1, $2, {})", sales::placeholders(3 + i * 6, 6)))
        .collect();
    format!(
        "INSERT INTO order_items (order_id, revision, product_id, sku, product_name, unit_price, quantity, line_total)
         VALUES {} RETURNING *",
        rows.join(", ")
    )
});

/// Writes the items of revision `revision` of order `order_id`; returned in id order.
pub(super) async fn insert_items(
    c: &mut Conn<'_>,
    order_id: i64,
    revision: i64,
    lines: &[Line],
) -> StoreResult<Vec<OrderItem>> {
    let insert = INSERT_ITEMS.query_as(lines.len()).bind(order_id).bind(revision);
    let mut items: Vec<OrderItem> = sales::bind_lines(insert, lines).fetch_all(c).await?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// The name and e-mail an order keeps of its customer, as they are now.
pub(super) async fn customer_snapshot(
    c: &mut Conn<'_>,
    customer_id: Option<i64>,
) -> StoreResult<(Option<String>, Option<String>)> {
    Customers::fetch(c, customer_id.into_iter().collect())
        .await?
        .snapshot(customer_id)
}

/// Customers as they are now (not deleted), read once for many orders.
struct Customers(Vec<(i64, String, String, Option<String>)>);

impl Customers {
    async fn fetch(c: &mut Conn<'_>, mut ids: Vec<i64>) -> StoreResult<Self> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Self(Vec::new()));
        }
        let wanted = sql::one_of(c.backend(), "id", 1);
        let found = sql::query_as(format!(
            "SELECT id, first_name, last_name, email FROM customers WHERE {wanted} AND deleted_at IS NULL ORDER BY id"
        ))
        .bind(ids)
        .fetch_all(c)
        .await?;
        Ok(Self(found))
    }

    /// The name and e-mail of customer `id` (none without one); an unknown customer is refused.
    fn snapshot(&self, id: Option<i64>) -> StoreResult<(Option<String>, Option<String>)> {
        let Some(id) = id else {
            return Ok((None, None));
        };
        let at = self
            .0
            .binary_search_by_key(&id, |c| c.0)
            .map_err(|_| StoreError::Rule {
                field: Some("customer_id".into()),
                message: format!("no customer {id}"),
            })?;
        let (_, first, last, email) = &self.0[at];
        Ok((Some(format!("{first} {last}").trim().to_string()), email.clone()))
    }
}

/// An order's lines with the products' names, SKUs and prices as they are now, and their
/// subtotal, which the discount may not exceed.
pub(super) async fn priced_lines(
    c: &mut Conn<'_>,
    items: &[LineRequest],
    discount: i64,
) -> StoreResult<(Vec<Line>, i64)> {
    priced(sales::snapshot_lines(c, items).await?, discount)
}

/// The lines with their subtotal, checked: at least one line, a discount within the subtotal.
fn priced(lines: Vec<Line>, discount: i64) -> StoreResult<(Vec<Line>, i64)> {
    if lines.is_empty() {
        return Err(StoreError::Rule {
            field: Some("items".into()),
            message: "an order needs at least one item".into(),
        });
    }
    let subtotal = sales::lines_total(&lines)?;
    if discount > subtotal {
        return Err(StoreError::Rule {
            field: Some("discount".into()),
            message: "discount exceeds the order subtotal".into(),
        });
    }
    Ok((lines, subtotal))
}
