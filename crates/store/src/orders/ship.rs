//! Shipping: the sales of shipped orders recorded and their reservations committed into sale
//! exits, for a batch of orders at once.

use crate::audit::Actor;
use crate::outbox;
use crate::reservations::{self, Committing};
use crate::sales::{self, Line, NewSale, Sale, SaleItem};
use crate::stock;
use crate::{now, sql, Backend, Conn, StoreError, StoreResult};
use bodega_domain::MovementKind;

use super::OrderWithItems;

/// The lines of an order's sale: its items as they were sold.
fn lines_of(order: &OrderWithItems) -> Vec<Line> {
    order
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
        .collect()
}

/// Records the sales of shipped orders and turns their reservations into sale exits; the sale
/// ids, in `orders` order. On PostgreSQL in one statement ([`in_one_statement`], when every
/// order has items); otherwise one insert of the sales, one of their items, one commit of their
/// reservations and one booking of all their exits, whatever the number of orders.
pub(super) async fn ship_all(
    c: &mut Conn<'_>,
    orders: &[(&Actor, &OrderWithItems)],
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Vec<i64>> {
    if c.backend() == Backend::Postgres && orders.iter().all(|(_, o)| !o.items.is_empty()) {
        return in_one_statement(c, orders, events).await;
    }
    let at = now();
    let lines: Vec<Vec<Line>> = orders.iter().map(|(_, o)| lines_of(o)).collect();
    let new_sales: Vec<NewSale<'_>> = orders
        .iter()
        .map(|(actor, o)| NewSale {
            order_id: Some(o.order.id),
            warehouse_id: Some(o.order.warehouse_id),
            customer_id: o.order.customer_id,
            channel: "order",
            external_ref: None,
            historical: false,
            discount: o.order.discount,
            // An order records whether it was paid, not how.
            payment_method: None,
            sold_at: at,
            created_by: &actor.label,
        })
        .collect();
    let recorded = sales::record_all(c, &new_sales, &lines, events).await?;
    let committing: Vec<Committing<'_>> = orders
        .iter()
        .zip(&recorded)
        .map(|((actor, o), sale)| Committing {
            order_id: o.order.id,
            reference_id: sale.sale.id.to_string(),
            created_by: &actor.label,
        })
        .collect();
    reservations::commit_for_orders(c, &committing, MovementKind::Sale, "sale", events).await?;
    Ok(recorded.iter().map(|s| s.sale.id).collect())
}

/// [`ship_all`] of orders (each with items) on PostgreSQL, in one statement: their sales
/// and sale items are inserted, their active reservations committed, the stock levels changed
/// (all locked in key order, as every writer does) and one sale exit per reservation written,
/// with each level's balances chained exit after exit. One round trip instead of four an order,
/// and a batch of ships holds its level locks for one statement only (SQLite has no writable
/// CTEs). The sale ids, in `orders` order.
///
/// The rows of the five sets it returns (sales, sale items, movements, per-level changes, the
/// levels after them) are zipped side by side by their position (`row_n`; the sales' own `n` is
/// one of their columns, so ordering by `n` would order by that), each set in id order (changes
/// and levels in key order): together they are everything the events and alert checks need.
async fn in_one_statement(
    c: &mut Conn<'_>,
    orders: &[(&Actor, &OrderWithItems)],
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Vec<i64>> {
    let at = now();
    let lines: Vec<Vec<Line>> = orders.iter().map(|(_, o)| lines_of(o)).collect();
    // $1 the time; then a column of the orders each (seven, the ids first: `$2`), then a column
    // of the lines each (eight): one statement text for any batch, prepared once per connection.
    let mut totals = Vec::with_capacity(orders.len());
    for ((_, order), lines) in orders.iter().zip(&lines) {
        totals.push(sales::lines_total(lines)? - order.order.discount);
    }
    let line_rows: Vec<(i64, &Line)> = orders
        .iter()
        .zip(&lines)
        .flat_map(|((_, o), lines)| lines.iter().map(move |l| (o.order.id, l)))
        .collect();
    let order_columns = vec![
        sql::column(orders.iter().map(|(_, o)| o.order.id)),
        sql::column(orders.iter().map(|(_, o)| o.order.warehouse_id)),
        sql::column(orders.iter().map(|(_, o)| o.order.customer_id)),
        sql::column(orders.iter().map(|(_, o)| o.order.discount)),
        sql::column(totals),
        sql::column(lines.iter().map(|ls| ls.iter().map(|l| l.quantity).sum::<i64>())),
        sql::column(orders.iter().map(|(actor, _)| actor.label.as_str())),
    ];
    let line_columns = vec![
        sql::column(line_rows.iter().map(|(order_id, _)| *order_id)),
        sql::column(0..line_rows.len() as i64),
        sql::column(line_rows.iter().map(|(_, l)| l.product_id)),
        sql::column(line_rows.iter().map(|(_, l)| l.sku.as_str())),
        sql::column(line_rows.iter().map(|(_, l)| l.product_name.as_str())),
        sql::column(line_rows.iter().map(|(_, l)| l.unit_price)),
        sql::column(line_rows.iter().map(|(_, l)| l.quantity)),
        sql::column(line_rows.iter().map(|(_, l)| l.unit_price * l.quantity)),
    ];
    let statement = format!(
        "WITH o (order_id, warehouse_id, customer_id, discount, total, items_count, created_by) AS (
             SELECT * FROM {order_rows}),
         s AS (INSERT INTO sales (order_id, warehouse_id, customer_id, channel, external_ref, historical, discount, total,
                   items_count, created_by, sold_at, created_at)
               SELECT order_id, warehouse_id, customer_id, 'order', NULL, FALSE, discount, total, items_count, created_by, $1, $1
               FROM o ORDER BY order_id RETURNING *),
         i AS (INSERT INTO sale_items (sale_id, product_id, sku, product_name, unit_price, unit_cost, quantity, line_total)
               SELECT s.id, l.product_id, l.sku, l.product_name, l.unit_price, {unit_cost}, l.quantity, l.line_total
               FROM {line_rows} AS l (order_id, k, product_id, sku, product_name, unit_price, quantity, line_total)
               JOIN s ON s.order_id = l.order_id ORDER BY l.k RETURNING *),
         r AS (UPDATE reservations SET status = 'committed', updated_at = $1
               WHERE order_id = ANY($2) AND status = 'active' RETURNING id, order_id, product_id, warehouse_id, quantity),
         change AS (SELECT product_id, warehouse_id, CAST(SUM(quantity) AS BIGINT) AS quantity
                    FROM r GROUP BY product_id, warehouse_id),
         locked AS MATERIALIZED (SELECT 1 FROM stock_levels
             WHERE (product_id, warehouse_id) IN (SELECT product_id, warehouse_id FROM change)
             ORDER BY product_id, warehouse_id FOR UPDATE),
         lv AS (UPDATE stock_levels SET on_hand = on_hand - change.quantity,
                    reserved = reserved - change.quantity, updated_at = $1
                FROM change
                WHERE stock_levels.product_id = change.product_id AND stock_levels.warehouse_id = change.warehouse_id
                  AND reserved - change.quantity >= 0 AND on_hand - reserved >= 0
                  AND (SELECT count(*) FROM locked) >= 0
                {level_after}),
         m AS (INSERT INTO stock_movements (product_id, warehouse_id, kind, quantity, unit_cost, balance_after,
                   reference_type, reference_id, note, created_by, created_at)
               SELECT r.product_id, r.warehouse_id, '{kind}', -r.quantity, NULL,
                      lv.on_hand + COALESCE(SUM(r.quantity) OVER later, 0), 'sale', CAST(s.id AS TEXT), NULL, s.created_by, $1
               FROM r JOIN lv ON lv.product_id = r.product_id AND lv.warehouse_id = r.warehouse_id
                    JOIN s ON s.order_id = r.order_id
               WINDOW later AS (PARTITION BY r.product_id, r.warehouse_id ORDER BY r.id
                                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
               ORDER BY r.product_id, r.warehouse_id, r.id
               RETURNING *)
         SELECT n AS row_n, ss.*,
                {item_columns}, ii.sale_id AS item_sale_id,
                mm.id AS move_id, mm.product_id AS move_product_id, mm.warehouse_id AS move_warehouse_id,
                mm.kind AS move_kind, mm.quantity AS move_quantity, mm.unit_cost AS move_unit_cost,
                mm.balance_after AS move_balance_after, mm.reference_type AS move_reference_type,
                mm.reference_id AS move_reference_id, mm.note AS move_note, mm.created_by AS move_created_by,
                mm.created_at AS move_created_at,
                cc.product_id AS change_product_id, cc.warehouse_id AS change_warehouse_id,
                cc.quantity AS change_quantity,
                ll.product_id AS level_product_id, ll.warehouse_id AS level_warehouse_id,
                ll.on_hand AS level_on_hand, ll.reserved AS level_reserved,
                ll.threshold AS level_threshold, ll.product_status AS level_product_status
         FROM (SELECT row_number() OVER (ORDER BY id) AS n, * FROM s) ss
             FULL JOIN (SELECT row_number() OVER (ORDER BY id) AS n, * FROM i) ii USING (n)
             FULL JOIN (SELECT row_number() OVER (ORDER BY id) AS n, * FROM m) mm USING (n)
             FULL JOIN (SELECT row_number() OVER (ORDER BY product_id, warehouse_id) AS n, * FROM change) cc
                 USING (n)
             FULL JOIN (SELECT row_number() OVER (ORDER BY product_id, warehouse_id) AS n, * FROM lv) ll
                 USING (n)
         ORDER BY row_n",
        order_rows = sql::unnest(2, &order_columns),
        line_rows = sql::unnest(2 + order_columns.len(), &line_columns),
        unit_cost = sales::unit_cost_sql("l.product_id", "s.warehouse_id"),
        item_columns = sales::item_columns("ii"),
        level_after = stock::LEVEL_AFTER,
        kind = MovementKind::Sale.as_str(),
    );
    let rows: Vec<ShipRow> = sql::query_as(statement)
        .bind(at)
        .bind_all(order_columns)
        .bind_all(line_columns)
        .fetch_all(c)
        .await?;
    let (mut sales, mut items, mut movements, mut levels, mut changes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        sales.extend(row.sale);
        items.extend(row.item);
        movements.extend(row.movement);
        changes.extend(row.change);
        levels.extend(row.level);
    }
    if levels.len() < changes.len() {
        // A level could not give up what its reservations hold (the ledger drifted): the
        // caller's transaction is given up, which undoes the whole statement.
        return Err(StoreError::Insufficient(stock::shortages(c, &changes, &levels).await?));
    }
    if levels
        .iter()
        .zip(&changes)
        .any(|(l, ch)| (l.product_id, l.warehouse_id) != ch.key())
    {
        return Err(StoreError::Database(
            "a ship's levels do not pair with its changes".into(),
        ));
    }
    let mut sale_ids = Vec::with_capacity(orders.len());
    for ((_, order), lines) in orders.iter().zip(&lines) {
        let sale = sales
            .iter()
            .find(|s| s.order_id == Some(order.order.id))
            .ok_or_else(|| StoreError::Database("a sale was not written".into()))?;
        // Items were inserted in line order: by id, they follow the lines.
        let of_sale: Vec<SaleItem> = items
            .iter()
            .filter(|(sale_id, _)| *sale_id == sale.id)
            .map(|(_, item)| item.clone())
            .collect();
        sales::push_events(sale, &of_sale, lines, events);
        sale_ids.push(sale.id);
    }
    let exit_changes: Vec<stock::LevelChange> = movements
        .iter()
        .map(|m| stock::LevelChange {
            product_id: m.product_id,
            warehouse_id: m.warehouse_id,
            on_hand: m.quantity,
            reserved: m.quantity,
        })
        .collect();
    stock::exits_booked(c, &exit_changes, &movements, &levels, &changes, at, events).await?;
    Ok(sale_ids)
}

/// A row of [`in_one_statement`]: the `n`-th sale, sale item (with its sale), movement, level
/// change and level after its change of each set that has that many. Changes and levels are
/// both in (product, warehouse) order, so when every level took its change they pair up by
/// position; a level that could not is missing from the levels. (Two sets rather than the
/// changes joined to their levels: PostgreSQL estimates one row for each and joins them by a
/// nested loop, ≈ 1 ms a batch of 27 orders.)
struct ShipRow {
    sale: Option<Sale>,
    item: Option<(i64, SaleItem)>,
    movement: Option<stock::Movement>,
    change: Option<stock::LevelChange>,
    level: Option<stock::LevelAfter>,
}

impl sql::FromRow for ShipRow {
    fn from_row(row: &sql::Row<'_>) -> StoreResult<Self> {
        let sale = match row.get::<Option<i64>, _>("id")? {
            None => None,
            Some(_) => Some(Sale::from_row(row)?),
        };
        let item = match row.get::<Option<i64>, _>("item_sale_id")? {
            None => None,
            Some(sale_id) => sales::item_from_columns(row, sale_id)?.map(|item| (sale_id, item)),
        };
        let movement = match row.get::<Option<i64>, _>("move_id")? {
            None => None,
            Some(id) => Some(stock::Movement {
                id,
                product_id: row.get("move_product_id")?,
                warehouse_id: row.get("move_warehouse_id")?,
                kind: row.get("move_kind")?,
                quantity: row.get("move_quantity")?,
                unit_cost: row.get("move_unit_cost")?,
                balance_after: row.get("move_balance_after")?,
                reference_type: row.get("move_reference_type")?,
                reference_id: row.get("move_reference_id")?,
                note: row.get("move_note")?,
                created_by: row.get("move_created_by")?,
                created_at: row.get("move_created_at")?,
            }),
        };
        let change = match row.get::<Option<i64>, _>("change_product_id")? {
            None => None,
            Some(product_id) => {
                let quantity: i64 = row.get("change_quantity")?;
                Some(stock::LevelChange {
                    product_id,
                    warehouse_id: row.get("change_warehouse_id")?,
                    on_hand: -quantity,
                    reserved: -quantity,
                })
            }
        };
        let level = match row.get::<Option<i64>, _>("level_product_id")? {
            None => None,
            Some(product_id) => Some(stock::LevelAfter {
                on_hand: row.get("level_on_hand")?,
                reserved: row.get("level_reserved")?,
                threshold: row.get("level_threshold")?,
                product_status: row.get("level_product_status")?,
                product_id,
                warehouse_id: row.get("level_warehouse_id")?,
            }),
        };
        Ok(Self {
            sale,
            item,
            movement,
            change,
            level,
        })
    }
}
