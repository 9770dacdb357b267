//! `bodega demo`'s data: a deterministic, realistic store. "Almacenes Cordillera", a chain of
//! neighbourhood minimarkets in Santiago with a central warehouse, a catalogue of groceries and
//! household goods in a category tree, suppliers, customers, and a year of trading simulated
//! day by day through the real store functions (the stock ledger, sales, the order saga,
//! reorder requests), so that every stock level equals the sum of its movements at the end.
//!
//! The structure later features learn from is planted on purpose and documented here:
//! - **Baskets** ([`data::AFFINITIES`]): when an anchor article is in a basket its partner is
//!   added with a fixed probability (marraqueta → palta, carbón → longaniza, pisco → bebida
//!   cola…), so co-purchase lift is far above independence. Identified customers also have two
//!   favourite articles each, which they add to some of their baskets.
//! - **Demand**: tickets per store and day follow a weekly profile (Saturday highest, Monday
//!   lowest), month and holiday factors, a +8 % yearly trend, day-level log-normal noise and
//!   Poisson counts; each article has a yearly profile ([`data::Season`]: summer, winter,
//!   Fiestas Patrias barbecue, Christmas, back to school). Popularity is long-tailed, so slow
//!   movers sell intermittently.
//! - **Promotions**: some products get 1–2 windows of 7–14 days at 10–30 % off (recorded in
//!   the product's `attributes.promotions`); their demand rises with the discount and their
//!   sale lines carry the discounted price.
//! - **Stock-outs censor sales**: stores are replenished from the warehouse on Monday,
//!   Wednesday and Friday (order-up-to), the warehouse from suppliers by reorder requests that
//!   arrive after the supplier's lead time. Planted supply disruptions stop deliveries of a few
//!   popular products to the stores; demand then goes unserved (lost, not back-ordered), and
//!   the last disruption runs to the end so open alerts exist.
//!
//! The same [`DemoConfig`] (seed included) gives the same store, row for row.

mod data;

use std::collections::{HashMap, HashSet};
use std::f64::consts::PI;

use anyhow::bail;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use bodega_domain::{rut, MovementKind, OrderAction};
use bodega_store::audit::Actor;
use bodega_store::catalog::{self, ProductInput, WarehouseInput};
use bodega_store::outbox::{self, topics};
use bodega_store::people::{self, Customer, Field, PersonInput, Supplier};
use bodega_store::sales::{Line, LineRequest};
use bodega_store::stock::{self, NewMovement};
use bodega_store::{alerts, orders, reorders, sql, Conn, Db};

use data::{Base, Season, AFFINITIES, BASES};

/// What to generate. The same configuration gives the same store.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub seed: u64,
    /// Shops (the central warehouse comes on top).
    pub stores: usize,
    pub products: usize,
    pub customers: usize,
    /// Days of history, ending on `end_date` (included).
    pub days: u32,
    /// Fixed, so that output does not depend on the day the demo runs; must be in the past.
    pub end_date: NaiveDate,
    /// Mean till tickets per shop and day before the weekly, yearly and shop factors.
    pub tickets_per_day: f64,
    /// Mean online orders per day (delivered from the warehouse through the order saga).
    pub orders_per_day: f64,
    /// Planted supply disruptions (a popular product stops reaching the shops).
    pub disruptions: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 2026,
            stores: 3,
            products: 300,
            customers: 3000,
            days: 365,
            end_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or_default(),
            tickets_per_day: 40.0,
            orders_per_day: 2.0,
            disruptions: 4,
        }
    }
}

impl DemoConfig {
    /// A few weeks of two shops: seconds to generate, still with every planted structure.
    pub fn small() -> Self {
        Self {
            seed: 7,
            stores: 2,
            products: 48,
            customers: 150,
            days: 42,
            tickets_per_day: 14.0,
            orders_per_day: 1.0,
            disruptions: 2,
            ..Self::default()
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    pub seed: u64,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub warehouses: usize,
    pub categories: usize,
    pub products: usize,
    pub suppliers: usize,
    pub customers: usize,
    pub pos_sales: u64,
    pub sale_lines: u64,
    pub revenue: i64,
    pub orders: u64,
    pub orders_cancelled: u64,
    pub orders_returned: u64,
    pub transfers: u64,
    pub reorders: u64,
    pub promotions: usize,
    /// Units asked for at a till when the shop had none left (censored demand).
    pub lost_units: u64,
    /// (product, shop, day) closing with zero stock, for products that normally sell.
    pub stockout_days: u64,
    pub open_alerts: i64,
    /// The article names of the planted co-purchase pairs present in the catalogue.
    pub planted_pairs: Vec<(String, String)>,
    /// SKUs of the products whose supply was disrupted.
    pub disrupted: Vec<String>,
}

const BY: &str = "demo";

/// Generates the demo into an empty, migrated database. `progress(stage, done, total)` is
/// called as work advances.
pub async fn generate(
    db: &Db,
    cfg: &DemoConfig,
    mut progress: impl FnMut(&str, u64, u64),
) -> anyhow::Result<DemoSummary> {
    let first_day = cfg.end_date - Duration::days(i64::from(cfg.days.max(1)) - 1);
    let started = bodega_store::now();
    if local_to_utc(cfg.end_date + Duration::days(1), 0, 0) >= started {
        bail!("the demo's end date {} must be in the past", cfg.end_date);
    }
    if cfg.stores == 0 || cfg.stores + 1 > data::LOCATIONS.len() {
        bail!("stores must be between 1 and {}", data::LOCATIONS.len() - 1);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut sim = Sim::default();
    let mut summary = DemoSummary {
        seed: cfg.seed,
        first_day: Some(first_day),
        last_day: Some(cfg.end_date),
        ..Default::default()
    };
    let actor = Actor::system(BY);

    // ---- Locations, suppliers, categories, products --------------------------------------
    let mut tx = db.begin().await?;
    {
        let c = &mut tx.conn();
        for (i, (code, name, address, factor)) in data::LOCATIONS.iter().take(cfg.stores + 1).enumerate() {
            let w = catalog::create_warehouse(
                c,
                &actor,
                &WarehouseInput {
                    code: code.to_string(),
                    name: name.to_string(),
                    kind: if i == 0 { "warehouse" } else { "store" }.into(),
                    address: Some(address.to_string()),
                    is_active: true,
                },
            )
            .await?;
            sim.locations.push(Location {
                id: w.id,
                factor: *factor,
            });
        }
        let mut ruts = HashSet::new();
        for (name, contact, lead) in data::SUPPLIERS {
            let body = loop {
                let b = rng.gen_range(76_000_000..78_000_000u32);
                if ruts.insert(b) {
                    break b;
                }
            };
            let slug: String = name
                .split_whitespace()
                .filter(|w| !matches!(*w, "SpA" | "Ltda." | "S.A." | "de" | "del" | "y" | "Comercial"))
                .map(ascii)
                .collect::<Vec<_>>()
                .join("");
            let s: Supplier = people::create(
                c,
                &actor,
                &Input(vec![
                    ("name", text(name)),
                    ("contact_name", text(contact)),
                    ("email", text(&format!("ventas@{slug}.ejemplo.cl"))),
                    ("phone", text(&phone(&mut rng, true))),
                    (
                        "address",
                        text(&format!(
                            "{} {}, Santiago",
                            pick(&mut rng, data::STREETS),
                            rng.gen_range(100..9000)
                        )),
                    ),
                    ("rut", text(&format!("{body}-{}", rut::check_digit(body)))),
                    ("lead_time_days", Field::Int(Some(i64::from(*lead)))),
                ]),
            )
            .await?;
            sim.suppliers.push((s.id, *lead));
        }
        summary.suppliers = sim.suppliers.len();

        let chosen = choose_variants(cfg.products);
        let mut categories = HashSet::new();
        for (n, &(bi, brand, size)) in chosen.iter().enumerate() {
            let base = &BASES[bi];
            let category = catalog::ensure_category_path(c, &actor, base.category).await?;
            let mut path = String::new();
            for part in base.category.split(" / ") {
                path = if path.is_empty() {
                    part.to_string()
                } else {
                    format!("{path} / {part}")
                };
                categories.insert(path.clone());
            }
            let (brand_name, brand_factor) = match brand {
                "" => ("", 1.0),
                "Cordillera" => ("Cordillera", 0.85),
                b if base.brands.first() == Some(&b) => (b, 1.1),
                b => (b, 1.0),
            };
            let (size_name, size_factor) = base.sizes[size];
            let price = round_price(base.price as f64 * size_factor * brand_factor * rng.gen_range(0.95..1.05));
            let (lo, hi) = data::margin_range(base.category);
            let margin = rng.gen_range(lo..hi);
            let cost = ((price as f64) * (1.0 - margin)).round() as i64;
            let name = [base.name, brand_name, size_name]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            // Variants split their article's popularity; a log-normal factor makes the tail.
            let share = match sim.products.iter().filter(|p| p.base == bi).count() {
                0 => 0.6,
                1 => 0.3,
                _ => 0.15,
            };
            let pop = base.pop * share * (normal(&mut rng) * 0.5).exp();
            let promos = plan_promotions(&mut rng, cfg.days, pop);
            summary.promotions += promos.len();
            let sku = format!("{}-{:04}", sku_prefix(base.category), n + 1);
            let promo_json: Vec<serde_json::Value> = promos
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "from": first_day + Duration::days(i64::from(p.start)),
                        "to": first_day + Duration::days(i64::from(p.end) - 1),
                        "discount_pct": p.pct,
                    })
                })
                .collect();
            let product = catalog::create_product(
                c,
                &actor,
                &ProductInput {
                    sku: sku.clone(),
                    name: name.clone(),
                    description: format!("{} ({}).", base.name, base.category.to_lowercase()),
                    category_id: Some(category.id),
                    supplier_id: Some(sim.suppliers[base.supplier].0),
                    price,
                    cost,
                    status: "active".into(),
                    keywords: base
                        .category
                        .split(" / ")
                        .map(|s| s.to_lowercase())
                        .chain([base.key.to_string()])
                        .collect(),
                    image_url: None,
                    low_stock_threshold: 0,
                    attributes: serde_json::json!({
                        "article": base.key, "brand": brand_name, "size": size_name,
                        "season": format!("{:?}", base.season).to_lowercase(), "promotions": promo_json,
                    }),
                },
            )
            .await?;
            sim.products.push(Prod {
                id: product.id,
                sku,
                name,
                category: category.path.clone(),
                price,
                cost,
                pop,
                base: bi,
                promos,
                threshold: 0,
            });
            progress("catálogo", n as u64 + 1, chosen.len() as u64);
        }
        summary.categories = categories.len();
        summary.products = sim.products.len();
        summary.warehouses = sim.locations.len();
    }
    tx.commit().await?;
    sim.prepare(cfg);
    for (a, b, _) in AFFINITIES {
        let has = |k: &str| sim.products.iter().find(|p| BASES[p.base].key == k);
        if let (Some(pa), Some(pb)) = (has(a), has(b)) {
            summary
                .planted_pairs
                .push((BASES[pa.base].name.into(), BASES[pb.base].name.into()));
        }
    }

    // Thresholds: about two days of a shop's ordinary demand.
    let mut tx = db.begin().await?;
    {
        let c = &mut tx.conn();
        for p in 0..sim.products.len() {
            let top = (1..sim.locations.len())
                .map(|s| sim.base_rate[s][p])
                .fold(0.0, f64::max);
            let threshold = ((top * 2.0).ceil() as i64).max(2);
            sim.products[p].threshold = threshold;
            sql::query("UPDATE products SET low_stock_threshold = $1 WHERE id = $2")
                .bind(threshold)
                .bind(sim.products[p].id)
                .execute(c)
                .await?;
        }
    }
    tx.commit().await?;

    // ---- Customers ----------------------------------------------------------------------
    let mut tx = db.begin().await?;
    {
        let c = &mut tx.conn();
        let mut ruts = HashSet::new();
        let mut emails = HashSet::new();
        for i in 0..cfg.customers {
            let female = rng.gen_bool(0.52);
            let first = if female {
                pick(&mut rng, data::FIRST_NAMES_F)
            } else {
                pick(&mut rng, data::FIRST_NAMES_M)
            };
            let paternal = pick(&mut rng, data::SURNAMES);
            let maternal = pick(&mut rng, data::SURNAMES);
            let body = loop {
                let b = rng.gen_range(6_000_000..26_000_000u32);
                if ruts.insert(b) {
                    break b;
                }
            };
            let domain = pick(&mut rng, data::EMAIL_DOMAINS);
            let mut email = format!("{}.{}@{domain}", ascii(first), ascii(paternal));
            let mut k = 1;
            while !emails.insert(email.clone()) {
                k += 1;
                email = format!(
                    "{}.{}{}{k}@{domain}",
                    ascii(first),
                    ascii(paternal),
                    &ascii(maternal)[..1]
                );
            }
            let home = 1 + rng.gen_range(0..cfg.stores);
            let comuna = pick(&mut rng, data::COMUNAS[(home - 1) % data::COMUNAS.len()]);
            let customer: Customer = people::create(
                c,
                &actor,
                &Input(vec![
                    ("first_name", text(first)),
                    ("last_name", text(&format!("{paternal} {maternal}"))),
                    ("email", text(&email)),
                    ("phone", text(&phone(&mut rng, false))),
                    (
                        "address",
                        text(&format!(
                            "{} {}, {comuna}",
                            pick(&mut rng, data::STREETS),
                            rng.gen_range(10..4000)
                        )),
                    ),
                    ("rut", text(&format!("{body}-{}", rut::check_digit(body)))),
                    ("notes", Field::Text(None)),
                ]),
            )
            .await?;
            let favourites = [
                rng.gen_range(0..sim.products.len()),
                rng.gen_range(0..sim.products.len()),
            ];
            sim.customers.push(Cust {
                id: customer.id,
                home,
                weight: (normal(&mut rng) * 1.0).exp(),
                favourites,
            });
            if i % 100 == 99 || i + 1 == cfg.customers {
                progress("clientes", i as u64 + 1, cfg.customers as u64);
            }
        }
        summary.customers = sim.customers.len();
    }
    tx.commit().await?;
    sim.prepare_customers();
    sim.plan_disruptions(&mut rng, cfg);
    summary.disrupted = sim
        .disruptions
        .iter()
        .map(|d| sim.products[d.product].sku.clone())
        .collect();

    // ---- Opening stock ----------------------------------------------------------------------
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

    // ---- A year of trading, one transaction per day --------------------------------------
    let mut pending_orders: Vec<(u32, u32, i64, OrderAction)> = Vec::new();
    let mut arrivals: Vec<(u32, i64, usize, i64, i64)> = Vec::new();
    for day in 0..cfg.days {
        let date = first_day + Duration::days(i64::from(day));
        let mut tx = db.begin().await?;
        {
            let c = &mut tx.conn();
            // 07:30 supplier deliveries at the warehouse.
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
                reorders::advance(c, &actor, reorder_id, "received").await?;
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
            // 08:00 deliveries from the warehouse to the shops (Monday, Wednesday, Friday).
            if matches!(date.weekday(), Weekday::Mon | Weekday::Wed | Weekday::Fri) {
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
                        for (l, kind, quantity) in
                            [(0, MovementKind::TransferOut, -qty), (s, MovementKind::TransferIn, qty)]
                        {
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
                            check_alert(c, &mut sim, l, p, at).await?;
                        }
                    }
                }
                flush(c, &mut sim, at).await?;
            }
            // Order saga steps due today.
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
                let before = orders::transition(c, &actor, order_id, action).await?;
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

            // The shops' till tickets.
            let weights = sim.day_weights(day, date);
            for s in 1..sim.locations.len() {
                let lambda = cfg.tickets_per_day
                    * sim.locations[s].factor
                    * traffic(date, day, cfg.days)
                    * (normal(&mut rng) * 0.12).exp();
                let n = poisson(&mut rng, lambda);
                let mut times: Vec<u32> = (0..n).map(|_| ticket_minute(&mut rng)).collect();
                times.sort_unstable();
                let mut requested = vec![0i64; sim.products.len()];
                for minute in times {
                    let customer = if rng.gen_bool(0.42) {
                        sim.pick_customer(&mut rng, s)
                    } else {
                        None
                    };
                    let basket = sim.basket(&mut rng, &weights, customer);
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
                        "INSERT INTO sales (order_id, warehouse_id, customer_id, channel, external_ref, historical, total, items_count, created_by, sold_at, created_at)
                         VALUES (NULL, $1, $2, 'pos', NULL, $3, $4, $5, $6, $7, $7) RETURNING id"
                    )
                    .bind(warehouse_id)
                    .bind(customer_id)
                    .bind(false)
                    .bind(total)
                    .bind(units)
                    .bind(BY)
                    .bind(at)
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
                        check_alert(c, &mut sim, s, p, at).await?;
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

            // Online orders, delivered from the warehouse.
            let n = poisson(&mut rng, cfg.orders_per_day * traffic(date, day, cfg.days));
            let mut times: Vec<u32> = (0..n).map(|_| ticket_minute(&mut rng)).collect();
            times.sort_unstable();
            for minute in times {
                let home = 1 + rng.gen_range(0..cfg.stores);
                let Some(k) = sim.pick_customer(&mut rng, home) else {
                    continue;
                };
                let mut basket = sim.basket(&mut rng, &weights, Some(k));
                for _ in 0..rng.gen_range(1..5) {
                    basket.extend(sim.basket(&mut rng, &weights, Some(k)));
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
                    &actor,
                    &orders::NewOrder {
                        customer_id: Some(sim.customers[k].id),
                        warehouse_id: sim.locations[0].id,
                        items: &items,
                        discount: 0,
                        notes: Some("pedido web, despacho a domicilio"),
                        idempotency_key: None,
                        request_hash: None,
                    },
                )
                .await?;
                let order_id = match created {
                    orders::Created::New(o) | orders::Created::Replayed(o) => o.order.id,
                };
                orders::transition(c, &actor, order_id, OrderAction::Confirm).await?;
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
                pending_orders.push((day + 1, rng.gen_range(9 * 60..12 * 60), order_id, next));
                summary.orders += 1;
            }

            // At closing time the warehouse reviews its stock and orders from suppliers.
            let evening = local_to_utc(date, 19, 55);
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
                    &actor,
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
                reorders::advance(c, &actor, r.id, "ordered").await?;
                stamp(
                    c,
                    "UPDATE reorder_requests SET created_at = $1, ordered_at = $1, updated_at = $1 WHERE id = $2",
                    evening,
                    r.id,
                )
                .await?;
                sim.on_order[p] += qty;
                let arrival = day + lead + u32::from(rng.gen_bool(0.2));
                arrivals.push((arrival, r.id, p, qty, unit_cost));
                summary.reorders += 1;
            }
            flush(c, &mut sim, evening).await?;
            // Alerts raised or resolved by the saga and the reorders were stamped now.
            for column in ["created_at", "resolved_at"] {
                let sql = format!("UPDATE stock_alerts SET {column} = $1 WHERE {column} >= $2");
                sql::query(&sql).bind(evening).bind(started).execute(c).await?;
            }
        }
        tx.commit().await?;
        progress("ventas", u64::from(day) + 1, u64::from(cfg.days));
    }

    let mut tx = db.begin().await?;
    {
        let c = &mut tx.conn();
        sql::query("UPDATE sales SET created_at = sold_at WHERE created_at >= $1")
            .bind(started)
            .execute(c)
            .await?;
        summary.open_alerts = sql::query_scalar("SELECT COUNT(*) FROM stock_alerts WHERE status = 'open'")
            .fetch_one(c)
            .await?;
    }
    tx.commit().await?;
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// The simulation's state

#[derive(Default)]
struct Sim {
    locations: Vec<Location>,
    suppliers: Vec<(i64, i32)>,
    products: Vec<Prod>,
    customers: Vec<Cust>,
    /// Cumulative customer weights per location (index 0 unused).
    customer_cum: Vec<Vec<f64>>,
    /// Variants of each base article present, by product index.
    variants: Vec<Vec<usize>>,
    /// (anchor product indexes, partner base, probability).
    affinities: Vec<(usize, usize, f64)>,
    on_hand: Vec<Vec<i64>>,
    reserved: Vec<i64>,
    on_order: Vec<i64>,
    /// Smoothed units asked for per shop and product (what the shop plans with).
    demand: Vec<Vec<f64>>,
    /// Ordinary units per day per location and product (flat season, no promotion).
    base_rate: Vec<Vec<f64>>,
    disruptions: Vec<Disruption>,
    pop_total: f64,
    /// Product id → index.
    index: HashMap<i64, usize>,
    /// Average unit cost per location and product, as the ledger computes it.
    avg: Vec<Vec<i64>>,
    /// Whether a live stock alert exists per location and product.
    live: Vec<Vec<bool>>,
    /// Movements and sale lines written in bulk, and the levels they changed.
    moves: Vec<MoveRow>,
    items: Vec<ItemRow>,
    dirty: std::collections::BTreeSet<(usize, usize)>,
    /// The live alert of each shop product (shops' alerts are written by this generator).
    alert_ids: HashMap<(usize, usize), i64>,
}

struct MoveRow {
    product_id: i64,
    warehouse_id: i64,
    kind: &'static str,
    quantity: i64,
    unit_cost: Option<i64>,
    balance_after: i64,
    reference_type: &'static str,
    reference_id: String,
    note: Option<&'static str>,
    at: DateTime<Utc>,
}

struct ItemRow {
    sale_id: i64,
    product: usize,
    unit_price: i64,
    unit_cost: i64,
    quantity: i64,
}

struct Location {
    id: i64,
    factor: f64,
}

struct Prod {
    id: i64,
    sku: String,
    name: String,
    category: String,
    price: i64,
    cost: i64,
    pop: f64,
    base: usize,
    promos: Vec<Promo>,
    threshold: i64,
}

struct Promo {
    start: u32,
    end: u32,
    pct: i64,
    uplift: f64,
}

struct Cust {
    id: i64,
    home: usize,
    weight: f64,
    favourites: [usize; 2],
}

struct Disruption {
    product: usize,
    start: u32,
    end: u32,
}

/// Mean lines per ticket before affinities (1 + Poisson(1.7)).
const LINES_PER_TICKET: f64 = 2.7;

impl Sim {
    fn prepare(&mut self, cfg: &DemoConfig) {
        let n = self.products.len();
        let locations = self.locations.len();
        self.on_hand = vec![vec![0; n]; locations];
        self.avg = vec![vec![0; n]; locations];
        self.live = vec![vec![false; n]; locations];
        self.reserved = vec![0; n];
        self.on_order = vec![0; n];
        self.variants = vec![Vec::new(); BASES.len()];
        for (i, p) in self.products.iter().enumerate() {
            self.variants[p.base].push(i);
            self.index.insert(p.id, i);
        }
        self.affinities = AFFINITIES
            .iter()
            .filter_map(|(a, b, prob)| {
                let ai = BASES.iter().position(|x| x.key == *a)?;
                let bi = BASES.iter().position(|x| x.key == *b)?;
                (!self.variants[ai].is_empty() && !self.variants[bi].is_empty()).then_some((ai, bi, *prob))
            })
            .collect();
        self.pop_total = self.products.iter().map(|p| p.pop).sum();
        self.base_rate = (0..locations)
            .map(|l| {
                self.products
                    .iter()
                    .map(|p| {
                        cfg.tickets_per_day * self.locations[l].factor * LINES_PER_TICKET * p.pop / self.pop_total
                            * mean_qty(&BASES[p.base])
                    })
                    .collect()
            })
            .collect();
        self.demand = self.base_rate.clone();
    }

    fn prepare_customers(&mut self) {
        self.customer_cum = (0..self.locations.len())
            .map(|l| {
                let mut acc = 0.0;
                self.customers
                    .iter()
                    .map(|c| {
                        acc += if c.home == l { c.weight } else { c.weight * 0.03 };
                        acc
                    })
                    .collect()
            })
            .collect();
    }

    fn plan_disruptions(&mut self, rng: &mut ChaCha8Rng, cfg: &DemoConfig) {
        // Among the most popular products; the last one runs to the end of the history.
        let mut ranked: Vec<usize> = (0..self.products.len()).collect();
        ranked.sort_by(|a, b| self.products[*b].pop.total_cmp(&self.products[*a].pop));
        let candidates: Vec<usize> = ranked.into_iter().take(12).collect();
        let mut used = HashSet::new();
        for i in 0..cfg.disruptions {
            let product = loop {
                let p = candidates[rng.gen_range(0..candidates.len())];
                if used.insert(p) || used.len() >= candidates.len() {
                    break p;
                }
            };
            let length = rng.gen_range(12..18u32).min(cfg.days / 2);
            let start = if i + 1 == cfg.disruptions {
                cfg.days.saturating_sub(length)
            } else {
                let span = cfg.days.saturating_sub(2 * length).max(1);
                length / 2 + (span * (i as u32 + 1)) / (cfg.disruptions as u32 + 1)
            };
            self.disruptions.push(Disruption {
                product,
                start,
                end: start + length,
            });
        }
    }

    fn disrupted(&self, p: usize, day: u32) -> bool {
        self.disruptions
            .iter()
            .any(|d| d.product == p && d.start <= day && day < d.end)
    }

    fn disruption_end(&self, p: usize) -> u32 {
        self.disruptions
            .iter()
            .filter(|d| d.product == p)
            .map(|d| d.end)
            .max()
            .unwrap_or(0)
    }

    fn index_of(&self, product_id: i64) -> usize {
        self.index.get(&product_id).copied().unwrap_or(0)
    }

    fn lead(&self, p: usize) -> u32 {
        let supplier = BASES[self.products[p].base].supplier;
        self.suppliers[supplier].1.max(1) as u32
    }

    /// Books a quantity in memory as `stock::book` does in the database (the average cost
    /// moves on inbound goods with a cost); returns the balance after.
    fn apply(&mut self, l: usize, p: usize, quantity: i64, unit_cost: Option<i64>) -> i64 {
        let on_hand = self.on_hand[l][p];
        if let Some(cost) = unit_cost.filter(|_| quantity > 0) {
            if on_hand + quantity > 0 {
                self.avg[l][p] = (on_hand * self.avg[l][p] + quantity * cost) / (on_hand + quantity);
            }
        }
        self.on_hand[l][p] = on_hand + quantity;
        self.dirty.insert((l, p));
        self.on_hand[l][p]
    }

    fn available(&self, l: usize, p: usize) -> i64 {
        if l == 0 {
            self.cd_available(p)
        } else {
            self.on_hand[l][p]
        }
    }

    /// After a store function evaluated the alert of a warehouse product.
    fn sync_live(&mut self, l: usize, p: usize) {
        self.live[l][p] = self.available(l, p) < self.products[p].threshold;
    }

    fn cd_available(&self, p: usize) -> i64 {
        self.on_hand[0][p] - self.reserved[p]
    }

    fn price_on(&self, p: usize, day: u32) -> i64 {
        let prod = &self.products[p];
        match prod.promos.iter().find(|x| x.start <= day && day < x.end) {
            Some(x) => round_price(prod.price as f64 * (1.0 - x.pct as f64 / 100.0)),
            None => prod.price,
        }
    }

    fn uplift(&self, p: usize, day: u32) -> f64 {
        self.products[p]
            .promos
            .iter()
            .find(|x| x.start <= day && day < x.end)
            .map_or(1.0, |x| x.uplift)
    }

    /// What a shop expects to sell per day now: its recent demand, or the planned rate
    /// (season and promotions known ahead), whichever is higher.
    fn planned_rate(&self, s: usize, p: usize, date: NaiveDate, cfg: &DemoConfig) -> f64 {
        let day = (date - (cfg.end_date - Duration::days(i64::from(cfg.days) - 1)))
            .num_days()
            .max(0) as u32;
        let season = season_factor(BASES[self.products[p].base].season, date + Duration::days(2));
        let planned = self.base_rate[s][p] * season * self.uplift(p, day + 1);
        planned.max(self.demand[s][p])
    }

    /// (order-up-to level, reorder point) of a shop for the next delivery.
    fn store_target(&self, s: usize, p: usize, date: NaiveDate, cfg: &DemoConfig) -> (i64, i64) {
        let rate = self.planned_rate(s, p, date, cfg);
        let safety = 1.5 * (rate * 3.0).sqrt() + 1.0;
        let target = (rate * 4.5 + safety).ceil() as i64;
        let point = (rate * 3.0 + safety).ceil() as i64;
        (target.max(self.products[p].threshold + 1), point)
    }

    fn cd_rate(&self, p: usize, date: NaiveDate, cfg: &DemoConfig) -> f64 {
        let shops: f64 = (1..self.locations.len())
            .map(|s| self.planned_rate(s, p, date, cfg))
            .sum();
        shops + cfg.orders_per_day * LINES_PER_TICKET * 2.5 * self.products[p].pop / self.pop_total
    }

    fn cd_target(&self, p: usize, _day: u32, date: NaiveDate, cfg: &DemoConfig) -> i64 {
        (self.cd_rate(p, date, cfg) * (f64::from(self.lead(p)) + 10.0)).ceil() as i64 + 2
    }

    /// Cumulative product weights of a day: popularity × season × promotion.
    fn day_weights(&self, day: u32, date: NaiveDate) -> Vec<f64> {
        let mut acc = 0.0;
        self.products
            .iter()
            .enumerate()
            .map(|(i, p)| {
                acc += p.pop * season_factor(BASES[p.base].season, date) * self.uplift(i, day);
                acc
            })
            .collect()
    }

    fn pick_customer(&self, rng: &mut ChaCha8Rng, s: usize) -> Option<usize> {
        let cum = self.customer_cum.get(s)?;
        let total = *cum.last()?;
        if total <= 0.0 {
            return None;
        }
        let x = rng.gen_range(0.0..total);
        Some(cum.partition_point(|w| *w <= x).min(cum.len() - 1))
    }

    /// One basket: (product index, quantity), products distinct.
    fn basket(&self, rng: &mut ChaCha8Rng, weights: &[f64], customer: Option<usize>) -> Vec<(usize, i64)> {
        let mut basket: Vec<(usize, i64)> = Vec::new();
        let total = weights.last().copied().unwrap_or(0.0);
        let add = |basket: &mut Vec<(usize, i64)>, p: usize, q: i64| match basket.iter_mut().find(|(x, _)| *x == p) {
            Some((_, n)) => *n += q,
            None => basket.push((p, q)),
        };
        if total > 0.0 {
            let lines = 1 + poisson(rng, 1.7);
            for _ in 0..lines {
                let x = rng.gen_range(0.0..total);
                let p = weights.partition_point(|w| *w <= x).min(weights.len() - 1);
                add(&mut basket, p, quantity(rng, &BASES[self.products[p].base]));
            }
        }
        if let Some(k) = customer {
            if rng.gen_bool(0.3) {
                let p = self.customers[k].favourites[rng.gen_range(0..2)];
                add(&mut basket, p, 1);
            }
        }
        for &(anchor, partner, prob) in &self.affinities {
            let has_anchor = basket.iter().any(|(p, _)| self.products[*p].base == anchor);
            let has_partner = basket.iter().any(|(p, _)| self.products[*p].base == partner);
            if has_anchor && !has_partner && rng.gen_bool(prob) {
                let variants = &self.variants[partner];
                let p = if rng.gen_bool(0.7) {
                    variants[0]
                } else {
                    variants[rng.gen_range(0..variants.len())]
                };
                add(&mut basket, p, quantity(rng, &BASES[self.products[p].base]));
            }
        }
        for (p, q) in basket.iter_mut() {
            *q = (*q).min(i64::from(BASES[self.products[*p].base].max_qty.max(1)) * 2);
        }
        basket
    }
}

// ---------------------------------------------------------------------------------------------
// Writes

/// Opens or resolves the alert of a product in a warehouse when its available stock crossed
/// the threshold (what `stock::book` does on every movement).
async fn check_alert(c: &mut Conn<'_>, sim: &mut Sim, l: usize, p: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
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
async fn flush(c: &mut Conn<'_>, sim: &mut Sim, at: DateTime<Utc>) -> anyhow::Result<()> {
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
async fn stamp(c: &mut Conn<'_>, sql: &str, at: DateTime<Utc>, id: i64) -> anyhow::Result<()> {
    sql::query(sql).bind(at).bind(id).execute(c).await?;
    Ok(())
}

/// Re-stamps the movements of a reference.
async fn stamp_ref(
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

/// A person's columns, as the people store takes them.
struct Input(Vec<(&'static str, Field)>);

impl PersonInput for Input {
    fn fields(&self) -> Vec<(&'static str, Field)> {
        self.0.clone()
    }
}

fn text(s: &str) -> Field {
    Field::Text(Some(s.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Catalogue helpers

/// (base index, brand, size index) of the products, most important articles first: every
/// article's first variant, then every second variant, and so on.
fn choose_variants(count: usize) -> Vec<(usize, &'static str, usize)> {
    let all: Vec<Vec<(usize, &'static str, usize)>> = BASES
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut v = Vec::new();
            for size in 0..b.sizes.len() {
                for brand in b.brands {
                    v.push((i, *brand, size));
                }
            }
            // Interleave so that the second variant is another brand or size.
            v.sort_by_key(|(_, brand, size)| (b.brands.iter().position(|x| x == brand).unwrap_or(0) + *size, *size));
            v
        })
        .collect();
    let mut chosen = Vec::new();
    let depth = all.iter().map(Vec::len).max().unwrap_or(0);
    for level in 0..depth {
        for v in &all {
            if let Some(x) = v.get(level) {
                if chosen.len() < count {
                    chosen.push(*x);
                }
            }
        }
    }
    chosen
}

fn sku_prefix(category: &str) -> &'static str {
    match category.split(" / ").next().unwrap_or("") {
        "Almacén" => "ALM",
        "Panadería" => "PAN",
        "Lácteos y Huevos" => "LAC",
        "Frutas y Verduras" => "FYV",
        "Carnes y Fiambres" => "CAR",
        "Bebidas y Licores" => "BEB",
        "Limpieza" => "LIM",
        "Cuidado Personal" => "CPE",
        _ => "HOG",
    }
}

/// Chilean shelf prices: to 10 pesos below 1.000, otherwise ending in 90.
fn round_price(x: f64) -> i64 {
    if x < 1000.0 {
        ((x / 10.0).round() as i64 * 10).max(100)
    } else {
        (x / 100.0).round() as i64 * 100 - 10
    }
}

fn plan_promotions(rng: &mut ChaCha8Rng, days: u32, pop: f64) -> Vec<Promo> {
    let chance = if pop > 1.0 { 0.5 } else { 0.2 };
    if days < 21 || !rng.gen_bool(chance) {
        return Vec::new();
    }
    let count = if days >= 120 && rng.gen_bool(0.5) { 2 } else { 1 };
    let mut promos: Vec<Promo> = Vec::new();
    for i in 0..count {
        let length = rng.gen_range(7..15u32);
        let slot = days / count;
        let start = i * slot + rng.gen_range(0..slot.saturating_sub(length).max(1));
        let pct = [10, 15, 20, 25, 30][rng.gen_range(0..5)];
        // Roughly an elasticity of 3 to 4: 20 % off sells about 1.7 times as much.
        let uplift = 1.0 + pct as f64 / 100.0 * rng.gen_range(3.0..4.0);
        promos.push(Promo {
            start,
            end: (start + length).min(days),
            pct,
            uplift,
        });
    }
    promos
}

fn quantity(rng: &mut ChaCha8Rng, base: &Base) -> i64 {
    let mut q = 1;
    if base.max_qty >= 2 && rng.gen_bool(0.3) {
        q += 1;
    }
    if base.max_qty >= 3 && rng.gen_bool(0.15) {
        q += 1;
    }
    q
}

fn mean_qty(base: &Base) -> f64 {
    1.0 + if base.max_qty >= 2 { 0.3 } else { 0.0 } + if base.max_qty >= 3 { 0.15 } else { 0.0 }
}

// ---------------------------------------------------------------------------------------------
// Calendar

/// The yearly profile of an article on a date.
fn season_factor(season: Season, date: NaiveDate) -> f64 {
    let doy = f64::from(date.ordinal());
    let wave = |peak: f64| (2.0 * PI * (doy - peak) / 365.25).cos();
    let (m, d) = (date.month(), date.day());
    match season {
        Season::Flat => 1.0 + 0.05 * wave(15.0),
        Season::Summer => 1.0 + 0.55 * wave(20.0),
        Season::Winter => 1.0 + 0.5 * wave(200.0),
        Season::Asado => {
            let patrias = match (m, d) {
                (9, 10..=13) => 2.0,
                (9, 14..=17) => 4.5,
                (9, 18..=19) => 3.0,
                (9, 20) => 1.3,
                (12, 24) | (12, 31) => 1.8,
                _ => 1.0,
            };
            (1.0 + 0.45 * wave(20.0)) * patrias
        }
        Season::Christmas => match (m, d) {
            (12, 10..=31) => 5.0 + f64::from(d - 10) * 0.4,
            (11, 20..=30) | (12, 1..=9) => 1.5,
            (1, 1..=2) => 0.8,
            _ => 0.08,
        },
        Season::School => match (m, d) {
            (3, _) => 2.0,
            (2, 20..=29) => 1.7,
            (1, _) | (2, _) => 0.7,
            _ => 1.0,
        },
    }
}

/// Till traffic of a day against an ordinary day: weekday, month, holidays, paydays, trend.
fn traffic(date: NaiveDate, day: u32, days: u32) -> f64 {
    let weekday = match date.weekday() {
        Weekday::Mon => 0.82,
        Weekday::Tue => 0.85,
        Weekday::Wed => 0.9,
        Weekday::Thu => 0.97,
        Weekday::Fri => 1.18,
        Weekday::Sat => 1.35,
        Weekday::Sun => 0.93,
    };
    let month = [0.95, 0.85, 1.0, 0.97, 0.98, 0.97, 1.0, 0.98, 1.08, 1.0, 1.0, 1.15][date.month0() as usize];
    let holiday = match (date.month(), date.day()) {
        (1, 1) => 0.45,
        (5, 1) => 0.7,
        (9, 14..=17) => 1.3,
        (9, 18) => 0.8,
        (9, 19) => 0.7,
        (12, 24) => 1.4,
        (12, 25) => 0.4,
        (12, 31) => 1.3,
        _ => 1.0,
    };
    let payday = if date.day() >= 28 || date.day() <= 2 { 1.08 } else { 1.0 };
    let trend = 0.96 + 0.08 * f64::from(day) / f64::from(days.max(1));
    weekday * month * holiday * payday * trend
}

/// A till ticket's local time in minutes after midnight: 08:00–19:59, peaks at lunch and after
/// work.
fn ticket_minute(rng: &mut ChaCha8Rng) -> u32 {
    const HOURS: [f64; 12] = [3.0, 4.0, 5.0, 7.0, 6.0, 4.0, 4.0, 5.0, 7.0, 9.0, 8.0, 5.0];
    let total: f64 = HOURS.iter().sum();
    let mut x = rng.gen_range(0.0..total);
    let mut hour = 8;
    for (i, w) in HOURS.iter().enumerate() {
        if x < *w {
            hour = 8 + i as u32;
            break;
        }
        x -= w;
    }
    hour * 60 + rng.gen_range(0..60)
}

/// Santiago local time to UTC (UTC−3 in summer time, September to early April; UTC−4
/// otherwise). Shops close at 20:00, so the UTC date of a sale is its local date.
fn local_to_utc(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let summer = match date.month() {
        10..=12 | 1..=3 => true,
        9 => date.day() >= 7,
        4 => date.day() < 5,
        _ => false,
    };
    let offset = if summer { 3 } else { 4 };
    let naive = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc) + Duration::hours(offset)
}

// ---------------------------------------------------------------------------------------------
// Small random helpers (no extra dependency for distributions)

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.gen::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

fn phone(rng: &mut ChaCha8Rng, landline: bool) -> String {
    if landline {
        format!("+56 2 2{:03} {:04}", rng.gen_range(0..1000), rng.gen_range(0..10000))
    } else {
        format!("+56 9 {:04} {:04}", rng.gen_range(1000..10000), rng.gen_range(0..10000))
    }
}

/// Lower-case ASCII for e-mail addresses: accents dropped, ñ → n, other characters removed.
fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'á' | 'à' => Some('a'),
            'é' => Some('e'),
            'í' => Some('i'),
            'ó' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_look_chilean() {
        assert_eq!(round_price(1234.0), 1190);
        assert_eq!(round_price(987.0), 990);
        assert_eq!(round_price(2290.0), 2290);
    }

    #[test]
    fn shop_hours_keep_the_local_date_in_utc() {
        for (m, d) in [(1, 15), (7, 15), (9, 18), (4, 2)] {
            let date = NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default();
            assert_eq!(local_to_utc(date, 19, 59).date_naive(), date);
            assert_eq!(local_to_utc(date, 8, 0).date_naive(), date);
        }
    }

    #[test]
    fn variants_cover_the_planted_pairs_first() {
        let chosen = choose_variants(48);
        assert_eq!(chosen.len(), 48);
        for key in ["marraqueta", "palta", "detergente", "suavizante"] {
            assert!(chosen.iter().any(|(b, _, _)| BASES[*b].key == key), "{key}");
        }
        assert!(choose_variants(1000).len() >= 300);
    }

    #[test]
    fn ascii_slugs() {
        assert_eq!(ascii("Núñez"), "nunez");
        assert_eq!(ascii("José Ángel"), "joseangel");
    }
}
