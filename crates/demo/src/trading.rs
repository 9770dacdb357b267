//! The history phase: the opening stock, then a year of trading, one transaction per day,
//! through the real store functions (the stock ledger, sales, the order saga, reorder
//! requests) and the bulk writes of the simulation. A day runs in a fixed order: supplier
//! deliveries at the warehouse, deliveries to the shops, the order saga's steps, the shops'
//! till tickets, online orders, and the warehouse's reorders at closing time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use bodega_domain::{MovementKind, OrderAction};
use bodega_store::sales::{Line, LineRequest};
use bodega_store::stock::{self, NewMovement};
use bodega_store::{alerts, orders, reorders, sql, Conn};

use crate::calendar::{local_to_utc, ticket_minute, traffic};
use crate::random::{normal, poisson};
use crate::simulation::{ItemRow, MoveRow};
use crate::writes::{check_alert, flush, stamp, stamp_ref};
use crate::{Run, BY};

/// How a shop's till tickets are paid, with each method's share: mostly card, a good part in
/// cash, some by bank transfer (seed 003's "método de pago").
const PAYMENT_MIX: [(&str, f64); 3] = [("card", 0.6), ("cash", 0.3), ("transfer", 0.1)];

/// A payment method drawn from [`PAYMENT_MIX`].
fn payment_method(rng: &mut ChaCha8Rng) -> &'static str {
    let mut x: f64 = rng.gen();
    for (method, share) in PAYMENT_MIX {
        if x < share {
            return method;
        }
        x -= share;
    }
    PAYMENT_MIX[0].0
}

/// What falls due on a later day.
#[derive(Default)]
struct Schedule {
    /// Order saga steps: (day, minute, order id, action).
    orders: Vec<(u32, u32, i64, OrderAction)>,
    /// Supplier deliveries: (day, reorder id, product, quantity, unit cost).
    arrivals: Vec<(u32, i64, usize, i64, i64)>,
}

impl Run<'_> {
    /// The stock every location opens with the day before the history starts, and the shops'
    /// alerts it leaves open.
    pub(crate) async fn opening_stock(&mut self) -> anyhow::Result<()> {
        let Run {
            db,
            cfg,
            first_day,
            ref mut sim,
            ..
        } = *self;
        let mut tx = db.begin().await?;
        {
            let c = &mut tx.conn();
            let at = local_to_utc(first_day - Duration::days(1), 7, 0);
            for l in 0..sim.locations.len() {
                for p in 0..sim.products.len() {
                    let qty = if l == 0 {
                        sim.cd_target(p, 0, first_day, cfg)
                    } else {
                        sim.store_target(l, p, first_day, cfg).0
                    };
                    if qty <= 0 {
                        continue;
                    }
                    let m = NewMovement {
                        product_id: sim.products[p].id,
                        warehouse_id: sim.locations[l].id,
                        kind: MovementKind::Opening,
                        quantity: qty,
                        unit_cost: Some(sim.products[p].cost),
                        reference_type: Some("opening"),
                        reference_id: None,
                        note: Some("inventario inicial"),
                        created_by: BY,
                    };
                    stock::book_at(c, &m, 0, at).await?;
                    sim.on_hand[l][p] += qty;
                    sim.avg[l][p] = sim.products[p].cost;
                }
            }
            for l in 0..sim.locations.len() {
                for p in 0..sim.products.len() {
                    sim.live[l][p] = sim.available(l, p) < sim.products[p].threshold;
                    if l > 0 && sim.live[l][p] {
                        if let Some(a) = alerts::live_for(c, sim.products[p].id, sim.locations[l].id).await? {
                            sim.alert_ids.insert((l, p), a.id);
                        }
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A year of trading, one transaction per day.
    pub(crate) async fn trade(&mut self, progress: &mut impl FnMut(&str, u64, u64)) -> anyhow::Result<()> {
        let mut schedule = Schedule::default();
        for day in 0..self.cfg.days {
            let date = self.first_day + Duration::days(i64::from(day));
            let mut tx = self.db.begin().await?;
            {
                let c = &mut tx.conn();
                self.supplier_deliveries(c, &mut schedule, day, date).await?;
                if matches!(date.weekday(), Weekday::Mon | Weekday::Wed | Weekday::Fri) {
                    self.shop_deliveries(c, day, date).await?;
                }
                self.order_steps(c, &mut schedule, day, date).await?;
                let weights = self.sim.day_weights(day, date);
                self.till_tickets(c, &weights, day, date).await?;
                self.online_orders(c, &mut schedule, &weights, day, date).await?;
                // At closing time the warehouse reviews its stock and orders from suppliers.
                let evening = local_to_utc(date, 19, 55);
                self.warehouse_reorders(c, &mut schedule, day, date, evening).await?;
                self.close_day(c, evening).await?;
            }
            tx.commit().await?;
            progress("ventas", u64::from(day) + 1, u64::from(self.cfg.days));
        }
        Ok(())
    }

    /// 07:30 supplier deliveries at the warehouse.
    async fn supplier_deliveries(
        &mut self,
        c: &mut Conn<'_>,
        schedule: &mut Schedule,
        day: u32,
        date: NaiveDate,
    ) -> anyhow::Result<()> {
        let Run {
            ref actor, ref mut sim, ..
        } = *self;
        let arrivals = &mut schedule.arrivals;
        let morning = local_to_utc(date, 7, 30);
        let mut due: Vec<(u32, i64, usize, i64, i64)> = Vec::new();
        arrivals.retain(|a| {
            if a.0 <= day {
                due.push(*a);
                false
            } else {
                true
            }
        });
        for (_, reorder_id, p, qty, unit_cost) in due {
            if sim.disrupted(p, day) {
                // The supplier cannot deliver yet.
                arrivals.push((sim.disruption_end(p).max(day + 1), reorder_id, p, qty, unit_cost));
                continue;
            }
            reorders::advance(c, actor, reorder_id, "received").await?;
            stamp(
                c,
                "UPDATE reorder_requests SET received_at = $1, updated_at = $1 WHERE id = $2",
                morning,
                reorder_id,
            )
            .await?;
            stamp_ref(c, "reorder", &reorder_id.to_string(), morning).await?;
            sim.apply(0, p, qty, Some(unit_cost));
            sim.sync_live(0, p);
            sim.on_order[p] -= qty;
        }
        Ok(())
    }

    /// 08:00 deliveries from the warehouse to the shops (Monday, Wednesday, Friday).
    async fn shop_deliveries(&mut self, c: &mut Conn<'_>, day: u32, date: NaiveDate) -> anyhow::Result<()> {
        let Run {
            cfg,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        let at = local_to_utc(date, 8, 0);
        for s in 1..sim.locations.len() {
            for p in 0..sim.products.len() {
                if sim.disrupted(p, day) {
                    continue;
                }
                let (target, reorder_point) = sim.store_target(s, p, date, cfg);
                if sim.on_hand[s][p] >= reorder_point {
                    continue;
                }
                let qty = (target - sim.on_hand[s][p]).min(sim.cd_available(p));
                if qty <= 0 {
                    continue;
                }
                summary.transfers += 1;
                let reference = format!("DESP-{:06}", summary.transfers);
                let cost = sim.avg[0][p];
                for (l, kind, quantity) in [(0, MovementKind::TransferOut, -qty), (s, MovementKind::TransferIn, qty)] {
                    let balance = sim.apply(l, p, quantity, Some(cost));
                    sim.moves.push(MoveRow {
                        product_id: sim.products[p].id,
                        warehouse_id: sim.locations[l].id,
                        kind: kind.as_str(),
                        quantity,
                        unit_cost: Some(cost),
                        balance_after: balance,
                        reference_type: "transfer",
                        reference_id: reference.clone(),
                        note: Some("despacho a tienda"),
                        at,
                    });
                    check_alert(c, sim, l, p, at).await?;
                }
            }
        }
        flush(c, sim, at).await?;
        Ok(())
    }

    /// Order saga steps due today.
    async fn order_steps(
        &mut self,
        c: &mut Conn<'_>,
        schedule: &mut Schedule,
        day: u32,
        date: NaiveDate,
    ) -> anyhow::Result<()> {
        let Run {
            ref actor,
            ref mut rng,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        let pending_orders = &mut schedule.orders;
        let mut steps: Vec<(u32, i64, OrderAction)> = Vec::new();
        pending_orders.retain(|o| {
            if o.0 <= day {
                steps.push((o.1, o.2, o.3));
                false
            } else {
                true
            }
        });
        steps.sort_by_key(|s| (s.0, s.1));
        for (minute, order_id, action) in steps {
            let at = local_to_utc(date, minute / 60, minute % 60);
            // The order after the step (its items do not change).
            let before = orders::transition(c, actor, order_id, action).await?;
            let column = match action {
                OrderAction::Ship => "shipped_at",
                OrderAction::Deliver => "delivered_at",
                OrderAction::Complete => "completed_at",
                OrderAction::Cancel => "cancelled_at",
                OrderAction::Return => "returned_at",
                _ => "confirmed_at",
            };
            stamp(
                c,
                &format!("UPDATE orders SET {column} = $1, updated_at = $1 WHERE id = $2"),
                at,
                order_id,
            )
            .await?;
            let touched: Vec<usize> = before.items.iter().map(|i| sim.index_of(i.product_id)).collect();
            match action {
                OrderAction::Ship => {
                    stamp(
                        c,
                        "UPDATE reservations SET updated_at = $1 WHERE order_id = $2",
                        at,
                        order_id,
                    )
                    .await?;
                    let sale_id = before.sale_id.unwrap_or_default();
                    stamp(c, "UPDATE sales SET sold_at = $1 WHERE id = $2", at, sale_id).await?;
                    stamp_ref(c, "sale", &sale_id.to_string(), at).await?;
                    for item in &before.items {
                        let p = sim.index_of(item.product_id);
                        sim.on_hand[0][p] -= item.quantity;
                        sim.reserved[p] -= item.quantity;
                    }
                    pending_orders.push((day + 1, rng.gen_range(11 * 60..19 * 60), order_id, OrderAction::Deliver));
                }
                OrderAction::Cancel => {
                    stamp(
                        c,
                        "UPDATE reservations SET updated_at = $1 WHERE order_id = $2",
                        at,
                        order_id,
                    )
                    .await?;
                    for item in &before.items {
                        {
                            let p = sim.index_of(item.product_id);
                            sim.reserved[p] -= item.quantity;
                        }
                    }
                    summary.orders_cancelled += 1;
                }
                OrderAction::Deliver => {
                    pending_orders.push((day + 2, rng.gen_range(9 * 60..20 * 60), order_id, OrderAction::Complete));
                }
                // A few customers send their order back.
                OrderAction::Complete if rng.gen_bool(0.03) => {
                    pending_orders.push((day + 3, rng.gen_range(10 * 60..18 * 60), order_id, OrderAction::Return));
                }
                OrderAction::Return => {
                    stamp_ref(c, "order", &order_id.to_string(), at).await?;
                    for item in &before.items {
                        {
                            let p = sim.index_of(item.product_id);
                            sim.on_hand[0][p] += item.quantity;
                        }
                    }
                    summary.orders_returned += 1;
                }
                _ => {}
            }
            for p in touched {
                sim.sync_live(0, p);
            }
        }
        Ok(())
    }

    /// The shops' till tickets: what the shop has left is sold, the rest of the demand is lost.
    async fn till_tickets(
        &mut self,
        c: &mut Conn<'_>,
        weights: &[f64],
        day: u32,
        date: NaiveDate,
    ) -> anyhow::Result<()> {
        let Run {
            cfg,
            ref mut rng,
            ref mut payments,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        for s in 1..sim.locations.len() {
            let lambda = cfg.tickets_per_day
                * sim.locations[s].factor
                * traffic(date, day, cfg.days)
                * (normal(rng) * 0.12).exp();
            let n = poisson(rng, lambda);
            let mut times: Vec<u32> = (0..n).map(|_| ticket_minute(rng)).collect();
            times.sort_unstable();
            let mut requested = vec![0i64; sim.products.len()];
            for minute in times {
                let customer = if rng.gen_bool(0.42) {
                    sim.pick_customer(rng, s)
                } else {
                    None
                };
                let basket = sim.basket(rng, weights, customer);
                let mut lines: Vec<Line> = Vec::new();
                for (p, qty) in basket {
                    requested[p] += qty;
                    let served = qty.min(sim.on_hand[s][p]);
                    summary.lost_units += (qty - served) as u64;
                    if served == 0 {
                        continue;
                    }
                    let prod = &sim.products[p];
                    lines.push(Line {
                        product_id: prod.id,
                        sku: prod.sku.clone(),
                        product_name: prod.name.clone(),
                        category: Some(prod.category.clone()),
                        unit_price: sim.price_on(p, day),
                        quantity: served,
                    });
                }
                if lines.is_empty() {
                    continue;
                }
                lines.sort_by_key(|l| l.product_id);
                let at = local_to_utc(date, minute / 60, minute % 60) + Duration::seconds(rng.gen_range(0..60));
                let total: i64 = lines.iter().map(|l| l.unit_price * l.quantity).sum();
                let units: i64 = lines.iter().map(|l| l.quantity).sum();
                let customer_id = customer.map(|k| sim.customers[k].id);
                let warehouse_id = sim.locations[s].id;
                let sale_id: i64 = sql::query_scalar(
                    "INSERT INTO sales (order_id, warehouse_id, customer_id, channel, external_ref, historical, total, items_count, created_by, sold_at, created_at, payment_method)
                     VALUES (NULL, $1, $2, 'pos', NULL, $3, $4, $5, $6, $7, $7, $8) RETURNING id"
                )
                .bind(warehouse_id)
                .bind(customer_id)
                .bind(false)
                .bind(total)
                .bind(units)
                .bind(BY)
                .bind(at)
                .bind(payment_method(payments))
                .fetch_one(c)
                .await?;
                let reference = sale_id.to_string();
                for l in &lines {
                    let p = sim.index_of(l.product_id);
                    let unit_cost = if sim.avg[s][p] > 0 {
                        sim.avg[s][p]
                    } else {
                        sim.products[p].cost
                    };
                    sim.items.push(ItemRow {
                        sale_id,
                        product: p,
                        unit_price: l.unit_price,
                        unit_cost,
                        quantity: l.quantity,
                    });
                    let balance = sim.apply(s, p, -l.quantity, None);
                    sim.moves.push(MoveRow {
                        product_id: l.product_id,
                        warehouse_id,
                        kind: MovementKind::Sale.as_str(),
                        quantity: -l.quantity,
                        unit_cost: None,
                        balance_after: balance,
                        reference_type: "sale",
                        reference_id: reference.clone(),
                        note: None,
                        at,
                    });
                    check_alert(c, sim, s, p, at).await?;
                }
                summary.pos_sales += 1;
                summary.sale_lines += lines.len() as u64;
                summary.revenue += total;
            }
            for (p, &asked) in requested.iter().enumerate() {
                sim.demand[s][p] = 0.8 * sim.demand[s][p] + 0.2 * asked as f64;
                if sim.on_hand[s][p] == 0 && sim.base_rate[s][p] >= 0.15 {
                    summary.stockout_days += 1;
                }
            }
        }
        Ok(())
    }

    /// Online orders, delivered from the warehouse: created and confirmed today, shipped (or
    /// cancelled) tomorrow.
    async fn online_orders(
        &mut self,
        c: &mut Conn<'_>,
        schedule: &mut Schedule,
        weights: &[f64],
        day: u32,
        date: NaiveDate,
    ) -> anyhow::Result<()> {
        let Run {
            cfg,
            ref actor,
            ref mut rng,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        let n = poisson(rng, cfg.orders_per_day * traffic(date, day, cfg.days));
        let mut times: Vec<u32> = (0..n).map(|_| ticket_minute(rng)).collect();
        times.sort_unstable();
        for minute in times {
            let home = 1 + rng.gen_range(0..cfg.stores);
            let Some(k) = sim.pick_customer(rng, home) else {
                continue;
            };
            let mut basket = sim.basket(rng, weights, Some(k));
            for _ in 0..rng.gen_range(1..5) {
                basket.extend(sim.basket(rng, weights, Some(k)));
            }
            let mut items: Vec<LineRequest> = Vec::new();
            for (p, qty) in basket {
                let taken: i64 = items
                    .iter()
                    .filter(|i| i.product_id == sim.products[p].id)
                    .map(|i| i.quantity)
                    .sum();
                let qty = qty.min(sim.cd_available(p) - taken);
                if qty <= 0 {
                    continue;
                }
                match items.iter_mut().find(|i| i.product_id == sim.products[p].id) {
                    Some(i) => i.quantity += qty,
                    None => items.push(LineRequest {
                        product_id: sim.products[p].id,
                        quantity: qty,
                        unit_price: Some(sim.price_on(p, day)),
                    }),
                }
            }
            if items.is_empty() {
                continue;
            }
            let at = local_to_utc(date, minute / 60, minute % 60);
            let created = orders::create(
                c,
                actor,
                &orders::NewOrder {
                    customer_id: Some(sim.customers[k].id),
                    warehouse_id: Some(sim.locations[0].id),
                    items: items.clone(),
                    discount: 0,
                    notes: Some("pedido web, despacho a domicilio".into()),
                    idempotency_key: None,
                    request_hash: None,
                },
            )
            .await?;
            let order_id = match created {
                orders::Created::New(o) | orders::Created::Replayed(o) => o.order.id,
            };
            orders::transition(c, actor, order_id, OrderAction::Confirm).await?;
            let confirmed = at + Duration::minutes(3);
            stamp(
                c,
                "UPDATE orders SET created_at = $1, updated_at = $1, payment_status = 'paid' WHERE id = $2",
                at,
                order_id,
            )
            .await?;
            stamp(
                c,
                "UPDATE orders SET confirmed_at = $1, updated_at = $1 WHERE id = $2",
                confirmed,
                order_id,
            )
            .await?;
            stamp(
                c,
                "UPDATE reservations SET created_at = $1, updated_at = $1 WHERE order_id = $2",
                confirmed,
                order_id,
            )
            .await?;
            for i in &items {
                let p = sim.index_of(i.product_id);
                sim.reserved[p] += i.quantity;
                sim.sync_live(0, p);
            }
            let next = if rng.gen_bool(0.04) {
                OrderAction::Cancel
            } else {
                OrderAction::Ship
            };
            schedule
                .orders
                .push((day + 1, rng.gen_range(9 * 60..12 * 60), order_id, next));
            summary.orders += 1;
        }
        Ok(())
    }

    /// The warehouse's review at closing time: a reorder request to the supplier for every
    /// product whose stock position no longer covers the lead time.
    async fn warehouse_reorders(
        &mut self,
        c: &mut Conn<'_>,
        schedule: &mut Schedule,
        day: u32,
        date: NaiveDate,
        evening: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Run {
            cfg,
            ref actor,
            ref mut rng,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        for p in 0..sim.products.len() {
            let lead = sim.lead(p);
            let rate = sim.cd_rate(p, date, cfg);
            let position = sim.cd_available(p) + sim.on_order[p];
            if position as f64 >= rate * (f64::from(lead) + 4.0) {
                continue;
            }
            let pack = match sim.products[p].price {
                0..=1499 => 12,
                1500..=4999 => 6,
                _ => 2,
            };
            let want = (rate * (f64::from(lead) + 28.0)).ceil() as i64 - position;
            let qty = (want.max(1) + pack - 1) / pack * pack;
            let unit_cost = (sim.products[p].cost as f64 * (1.0 + 0.045 * f64::from(day) / 365.0)).round() as i64;
            let r = reorders::create(
                c,
                actor,
                &reorders::NewReorder {
                    product_id: sim.products[p].id,
                    warehouse_id: sim.locations[0].id,
                    supplier_id: None,
                    quantity: qty,
                    unit_cost: Some(unit_cost),
                    note: Some("reposición automática"),
                },
            )
            .await?;
            reorders::advance(c, actor, r.id, "ordered").await?;
            stamp(
                c,
                "UPDATE reorder_requests SET created_at = $1, ordered_at = $1, updated_at = $1 WHERE id = $2",
                evening,
                r.id,
            )
            .await?;
            sim.on_order[p] += qty;
            let arrival = day + lead + u32::from(rng.gen_bool(0.2));
            schedule.arrivals.push((arrival, r.id, p, qty, unit_cost));
            summary.reorders += 1;
        }
        Ok(())
    }

    /// The day's remaining movements and sale lines are written; alerts raised or resolved by
    /// the saga and the reorders are stamped at closing time.
    async fn close_day(&mut self, c: &mut Conn<'_>, evening: DateTime<Utc>) -> anyhow::Result<()> {
        flush(c, &mut self.sim, evening).await?;
        for column in ["created_at", "resolved_at"] {
            let sql = format!("UPDATE stock_alerts SET {column} = $1 WHERE {column} >= $2");
            sql::query(&sql).bind(evening).bind(self.started).execute(c).await?;
        }
        Ok(())
    }

    /// After the history: sales were created when they were sold, and the alerts still open.
    pub(crate) async fn close(&mut self) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        {
            let c = &mut tx.conn();
            sql::query("UPDATE sales SET created_at = sold_at WHERE created_at >= $1")
                .bind(self.started)
                .execute(c)
                .await?;
            self.summary.open_alerts = sql::query_scalar("SELECT COUNT(*) FROM stock_alerts WHERE status = 'open'")
                .fetch_one(c)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
