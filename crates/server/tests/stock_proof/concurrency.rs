//! Races over the in-process router: hundreds of tokio tasks fire at once (a barrier lines them
//! up) and the outcome must be exact: no oversell, no lost unit, no 5xx, no drift.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use bodega_store::sql;

use crate::helpers::{Response, TestApp};
use crate::{
    assert_no_drift, assert_not_5xx, check_orders, code, drift, entry, level, main_warehouse, new_product,
    new_warehouse,
};

crate::on_both_stores!(
    confirms_racing_for_the_last_units_never_oversell,
    quick_sales_racing_for_the_last_units_sell_exactly_the_stock,
    mixed_order_steps_sales_and_transfers_keep_the_ledger_consistent,
    one_order_stepped_by_many_at_once_moves_once,
    orders_sharing_products_shipped_at_once_each_take_their_reservations,
    a_warehouse_deactivated_while_stock_comes_in_strands_nothing,
    orders_changed_while_being_confirmed_reserve_what_they_hold,
    creates_racing_with_one_key_make_one_order,
);

/// Runs every request of `requests` in its own task, all released at once, and returns the
/// responses in the order of `requests`.
async fn race(app: &Arc<TestApp>, requests: Vec<(Method, String, Option<Value>)>) -> Vec<Response> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(method, uri, body)| {
            let app = Arc::clone(app);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                app.call(method, &uri, &app.admin, body).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn create_order(app: &TestApp, warehouse_id: i64, items: Value) -> i64 {
    let r = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"warehouse_id": warehouse_id, "items": items}),
        )
        .await
        .expect(201);
    r.body["id"].as_i64().unwrap()
}

/// (a) 50 units, 200 pending orders of one unit each confirmed at once: exactly 50 win, the
/// other 150 get 409 `insufficient_stock`; on hand untouched, 50 reserved.
async fn confirms_racing_for_the_last_units_never_oversell(app: TestApp) {
    const STOCK: i64 = 50;
    const ORDERS: usize = 200;
    let app = Arc::new(app);
    let w = main_warehouse(&app).await;
    let p = new_product(&app, STOCK).await;
    let mut ids = Vec::with_capacity(ORDERS);
    for _ in 0..ORDERS {
        ids.push(create_order(&app, w, json!([{"product_id": p, "quantity": 1}])).await);
    }
    let requests = ids
        .iter()
        .map(|id| (Method::POST, format!("/api/orders/{id}/confirm"), None))
        .collect();
    let responses = race(&app, requests).await;
    let mut confirmed = 0;
    let mut refused = 0;
    for r in &responses {
        assert_not_5xx("confirm", r);
        match r.status.as_u16() {
            200 => {
                assert_eq!(r.body["status"], "confirmed", "{}", r.body);
                confirmed += 1;
            }
            409 => {
                assert_eq!(code(&r.body), "insufficient_stock", "{}", r.body);
                refused += 1;
            }
            other => panic!("confirm answered {other}: {}", r.body),
        }
    }
    assert_eq!(confirmed, STOCK, "confirmed orders");
    assert_eq!(refused, ORDERS as i64 - STOCK, "refused orders");
    assert_eq!(level(&app, p, w).await, (STOCK, STOCK), "(on_hand, reserved)");
    assert_no_drift(&drift(&app).await);
    let counts = check_orders(&app).await;
    assert_eq!(counts.get("confirmed").copied(), Some(STOCK as usize));
    assert_eq!(counts.get("pending").copied(), Some(ORDERS - STOCK as usize));
}

/// (d) One two-line order confirmed by 16 requests at once, then shipped by 16: each step
/// runs exactly once (one 200, fifteen 409 naming the state the winner left), so the stock is
/// reserved and taken out once.
async fn one_order_stepped_by_many_at_once_moves_once(app: TestApp) {
    const RACERS: usize = 16;
    let app = Arc::new(app);
    let w = main_warehouse(&app).await;
    let (a, b) = (new_product(&app, 10).await, new_product(&app, 10).await);
    let id = create_order(
        &app,
        w,
        json!([{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 3}]),
    )
    .await;
    // Totals over both products after each step: (on hand, reserved).
    for (action, done, totals) in [("confirm", "confirmed", (20, 5)), ("ship", "shipped", (15, 0))] {
        let requests = (0..RACERS)
            .map(|_| (Method::POST, format!("/api/orders/{id}/{action}"), None))
            .collect();
        let responses = race(&app, requests).await;
        let mut won = 0;
        for r in &responses {
            assert_not_5xx(action, r);
            match r.status.as_u16() {
                200 => {
                    assert_eq!(r.body["status"], done, "{}", r.body);
                    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2), "{}", r.body);
                    won += 1;
                }
                409 => assert_eq!(
                    r.body["error"]["message"],
                    format!("cannot {action} an order that is {done}"),
                    "{}",
                    r.body
                ),
                other => panic!("{action} answered {other}: {}", r.body),
            }
        }
        assert_eq!(won, 1, "{action}: winners");
        let (on_a, res_a) = level(&app, a, w).await;
        let (on_b, res_b) = level(&app, b, w).await;
        assert_eq!((on_a + on_b, res_a + res_b), totals, "after {action}");
    }
    assert_no_drift(&drift(&app).await);
    check_orders(&app).await;
}

/// (e) 30 confirmed orders over three shared products (some with one product on two lines at
/// two prices: two items, one reservation) shipped all at once: every ship succeeds and takes
/// out exactly its own reservations, once; each level's movements form one unbroken chain of
/// balances (each the previous plus its quantity, in id order), and every sale movement has
/// its `stock.moved` event carrying that balance.
async fn orders_sharing_products_shipped_at_once_each_take_their_reservations(app: TestApp) {
    const ORDERS: usize = 30;
    const STOCK: i64 = 200;
    let app = Arc::new(app);
    let w = main_warehouse(&app).await;
    let mut products = Vec::new();
    for _ in 0..3 {
        products.push(new_product(&app, STOCK).await);
    }
    let mut orders = Vec::with_capacity(ORDERS);
    let mut taken = [0i64; 3];
    for i in 0..ORDERS {
        let mut lines = Vec::new();
        for (k, &p) in products.iter().enumerate() {
            let quantity = 1 + ((i + k) % 3) as i64;
            taken[k] += quantity;
            lines.push(json!({"product_id": p, "quantity": quantity}));
        }
        if i % 4 == 0 {
            // The first product again at another price: a second item of the same product.
            taken[0] += 1;
            lines.push(json!({"product_id": products[0], "quantity": 1, "unit_price": 5}));
        }
        let id = create_order(&app, w, Value::Array(lines)).await;
        app.post(&format!("/api/orders/{id}/confirm"), &app.admin, json!({}))
            .await
            .expect(200);
        orders.push(id);
    }
    let requests = orders
        .iter()
        .map(|id| (Method::POST, format!("/api/orders/{id}/ship"), None))
        .collect();
    for r in race(&app, requests).await {
        assert_not_5xx("ship", &r);
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        assert_eq!(r.body["status"], "shipped", "{}", r.body);
        assert!(r.body["sale_id"].as_i64().is_some(), "{}", r.body);
    }
    for (k, &p) in products.iter().enumerate() {
        assert_eq!(level(&app, p, w).await, (STOCK - taken[k], 0), "product {k}");
    }
    assert_no_drift(&drift(&app).await);
    let counts = check_orders(&app).await;
    assert_eq!(counts.get("shipped").copied(), Some(ORDERS));

    let mut conn = app.state.db.read().await.unwrap();
    let c = &mut conn.conn();
    for &p in &products {
        let moves: Vec<(i64, i64, i64, String)> = sql::query_as(
            "SELECT id, quantity, balance_after, kind FROM stock_movements
             WHERE product_id = $1 AND warehouse_id = $2 ORDER BY id",
        )
        .bind(p)
        .bind(w)
        .fetch_all(c)
        .await
        .unwrap();
        let mut balance = 0;
        for (id, quantity, balance_after, kind) in &moves {
            balance += quantity;
            assert_eq!(
                *balance_after, balance,
                "movement {id} ({kind}) of product {p}: {moves:?}"
            );
        }
        let sales = moves.iter().filter(|m| m.3 == "sale").count();
        assert_eq!(sales, ORDERS, "one sale movement per order of product {p}");
        let events: Vec<String> = sql::query_scalar("SELECT payload FROM outbox WHERE event_type = 'stock.moved'")
            .fetch_all(c)
            .await
            .unwrap();
        for (id, _, balance_after, kind) in moves.iter().filter(|m| m.3 == "sale") {
            let found: Vec<Value> = events
                .iter()
                .map(|e| serde_json::from_str::<Value>(e).unwrap())
                .filter(|e| e["data"]["movement"]["id"].as_i64() == Some(*id))
                .collect();
            assert_eq!(found.len(), 1, "stock.moved events of movement {id} ({kind})");
            assert_eq!(
                found[0]["data"]["on_hand"].as_i64(),
                Some(*balance_after),
                "{}",
                found[0]
            );
            assert_eq!(
                found[0]["data"]["movement"]["balance_after"].as_i64(),
                Some(*balance_after)
            );
        }
    }
    let recorded: i64 = sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = 'sale.recorded'")
        .fetch_one(c)
        .await
        .unwrap();
    assert_eq!(recorded, ORDERS as i64, "one sale.recorded event per order");
}

/// (b) 240 quick sales racing for 60 units of A and 40 of B: single-unit till sales of A,
/// `/sell` of A and of B, and two-line baskets [B, A] (all or nothing). Demand for each product
/// alone exceeds its stock, so both must sell out exactly; never below zero.
async fn quick_sales_racing_for_the_last_units_sell_exactly_the_stock(app: TestApp) {
    const A_STOCK: i64 = 60;
    const B_STOCK: i64 = 40;
    const REQUESTS: usize = 240;
    let app = Arc::new(app);
    let w = main_warehouse(&app).await;
    let a = new_product(&app, A_STOCK).await;
    let b = new_product(&app, B_STOCK).await;
    let requests: Vec<_> = (0..REQUESTS)
        .map(|i| match i % 4 {
            0 => (
                Method::POST,
                "/api/pos/sales".to_string(),
                Some(json!({"warehouse_id": w, "items": [{"product_id": a, "quantity": 1}]})),
            ),
            1 => (
                Method::POST,
                format!("/api/products/{a}/sell"),
                Some(json!({"quantity": 1, "warehouse_id": w})),
            ),
            2 => (
                Method::POST,
                "/api/pos/sales".to_string(),
                Some(json!({"warehouse_id": w, "items": [
                    {"product_id": b, "quantity": 1}, {"product_id": a, "quantity": 1}]})),
            ),
            _ => (
                Method::POST,
                format!("/api/products/{b}/sell"),
                Some(json!({"quantity": 1})),
            ),
        })
        .collect();
    let responses = race(&app, requests).await;
    let (mut sold_a, mut sold_b) = (0, 0);
    for (i, r) in responses.iter().enumerate() {
        assert_not_5xx("quick sale", r);
        match r.status.as_u16() {
            201 => {
                match i % 4 {
                    0 | 1 => sold_a += 1,
                    2 => {
                        sold_a += 1;
                        sold_b += 1;
                    }
                    _ => sold_b += 1,
                }
                if i % 4 == 1 || i % 4 == 3 {
                    assert!(r.body["updated_stock"].as_i64().unwrap() >= 0, "{}", r.body);
                }
            }
            409 => assert_eq!(code(&r.body), "insufficient_stock", "{}", r.body),
            other => panic!("quick sale answered {other}: {}", r.body),
        }
    }
    assert_eq!(sold_a, A_STOCK, "units of A sold");
    assert_eq!(sold_b, B_STOCK, "units of B sold");
    assert_eq!(level(&app, a, w).await, (0, 0));
    assert_eq!(level(&app, b, w).await, (0, 0));
    assert_no_drift(&drift(&app).await);
    check_orders(&app).await;
    // The sales recorded carry exactly the units that left.
    let stats = app.get("/api/sales/stats?channel=pos", &app.admin).await.expect(200);
    assert_eq!(
        stats.body["units"].as_i64().unwrap(),
        A_STOCK + B_STOCK,
        "{}",
        stats.body
    );
}

/// (c) Deadlock bait: 120 multi-line orders over five overlapping products, lines listed in
/// different orders, driven through confirm → (process) → ship → (return) or cancel while other
/// tasks cancel the same orders, till baskets in reverse product order sell the same products,
/// and transfers move them back and forth between two warehouses. No 5xx, every answer is a
/// success or a clean 409, and the ledger and every order stay consistent.
async fn mixed_order_steps_sales_and_transfers_keep_the_ledger_consistent(app: TestApp) {
    const ORDERS: usize = 120;
    let app = Arc::new(app);
    let w1 = main_warehouse(&app).await;
    let w2 = new_warehouse(&app).await;
    const W1_STOCK: i64 = 120;
    const W2_STOCK: i64 = 30;
    let mut products = Vec::new();
    for _ in 0..5 {
        let p = new_product(&app, W1_STOCK).await;
        entry(&app, p, w2, W2_STOCK).await;
        products.push(p);
    }
    let mut orders = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        // 2 to 4 lines, starting at a different product each time, half of them descending.
        let n = 2 + i % 3;
        let mut lines: Vec<Value> = (0..n)
            .map(|k| json!({"product_id": products[(i + k * 2) % 5], "quantity": 1 + (i + k) % 3}))
            .collect();
        if i % 2 == 1 {
            lines.reverse();
        }
        let w = if i % 5 == 4 { w2 } else { w1 };
        orders.push(create_order(&app, w, Value::Array(lines)).await);
    }

    // One driver task per order runs its saga; extra tasks cancel every third order while it
    // runs, sell baskets, and transfer stock both ways.
    let mut tasks = Vec::new();
    let barrier = Arc::new(Barrier::new(ORDERS + ORDERS / 3 + 60 + 40));
    for (i, &id) in orders.iter().enumerate() {
        let app = Arc::clone(&app);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut seen = Vec::new();
            let step = |action: &'static str| {
                let app = Arc::clone(&app);
                async move {
                    let r = app
                        .call(Method::POST, &format!("/api/orders/{id}/{action}"), &app.admin, None)
                        .await;
                    (action, r)
                }
            };
            let confirm = step("confirm").await;
            let ok = confirm.1.status.as_u16() == 200;
            seen.push(confirm);
            if ok {
                let plan: &[&'static str] = match i % 6 {
                    0 => &["ship"],
                    1 => &["process", "ship"],
                    2 => &["cancel"],
                    3 => &["ship", "return"],
                    4 => &["process", "cancel"],
                    _ => &["ship", "deliver", "complete"],
                };
                for action in plan {
                    let r = step(action).await;
                    let stop = r.1.status.as_u16() != 200;
                    seen.push(r);
                    if stop {
                        break;
                    }
                }
            }
            seen
        }));
    }
    for &id in orders.iter().step_by(3) {
        let app = Arc::clone(&app);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            tokio::task::yield_now().await;
            let r = app
                .call(Method::POST, &format!("/api/orders/{id}/cancel"), &app.admin, None)
                .await;
            vec![("cancel", r)]
        }));
    }
    for i in 0..60 {
        let app = Arc::clone(&app);
        let barrier = Arc::clone(&barrier);
        let (x, y) = (products[i % 5], products[(i + 3) % 5]);
        let (first, second) = if i % 2 == 0 { (x.max(y), x.min(y)) } else { (x, y) };
        let w = if i % 4 == 0 { w2 } else { w1 };
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = app
                .post(
                    "/api/pos/sales",
                    &app.admin,
                    json!({"warehouse_id": w, "items": [
                        {"product_id": first, "quantity": 1 + i % 2},
                        {"product_id": second, "quantity": 1}]}),
                )
                .await;
            vec![("pos sale", r)]
        }));
    }
    for i in 0..40 {
        let app = Arc::clone(&app);
        let barrier = Arc::clone(&barrier);
        let p = products[i % 5];
        let (from, to) = if i % 2 == 0 { (w1, w2) } else { (w2, w1) };
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = app
                .post(
                    "/api/stock/transfers",
                    &app.admin,
                    json!({"product_id": p, "from_warehouse_id": from, "to_warehouse_id": to, "quantity": 1}),
                )
                .await;
            vec![("transfer", r)]
        }));
    }
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        for (what, r) in t.await.unwrap() {
            assert_not_5xx(what, &r);
            match r.status.as_u16() {
                200 | 201 => {}
                // Only confirm, till sales and transfers can run short of stock; a saga step
                // refused otherwise lost a race for the order (conflict), never for stock.
                409 => {
                    let allowed: &[&str] = match what {
                        "confirm" => &["insufficient_stock", "conflict"],
                        "pos sale" | "transfer" => &["insufficient_stock"],
                        _ => &["conflict"],
                    };
                    assert!(allowed.contains(&code(&r.body)), "{what}: {}", r.body);
                }
                other => panic!("{what} answered {other}: {}", r.body),
            }
            *outcomes.entry(format!("{what} {}", r.status.as_u16())).or_default() += 1;
        }
    }
    eprintln!("outcomes: {outcomes:?}");
    assert_no_drift(&drift(&app).await);
    let counts = check_orders(&app).await;
    eprintln!("orders by status: {counts:?}");
    assert!(
        counts.contains_key("shipped") || counts.contains_key("completed"),
        "{counts:?}"
    );
    // Conservation per product: opening stock = on hand in both warehouses + units that left.
    for &p in &products {
        let (on1, _) = level(&app, p, w1).await;
        let (on2, _) = level(&app, p, w2).await;
        let mut conn = app.state.db.read().await.unwrap();
        let mut c = conn.conn();
        let sold: i64 = bodega_store::sql::query_scalar(
            "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) FROM sale_items i WHERE i.product_id = $1",
        )
        .bind(p)
        .fetch_one(&mut c)
        .await
        .unwrap();
        let returned: i64 = bodega_store::sql::query_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM stock_movements WHERE product_id = $1 AND kind = 'return'"
        )
        .bind(p)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(
            on1 + on2,
            W1_STOCK + W2_STOCK - sold + returned,
            "product {p}: units conserved"
        );
    }
}

/// (f) An empty warehouse deactivated while entries race into it, ten times over: either the
/// deactivation wins and the entries that had not committed are refused (4xx), or entries win
/// and the deactivation is refused (409). Never a deactivated warehouse holding stock, which
/// nothing could take out again.
async fn a_warehouse_deactivated_while_stock_comes_in_strands_nothing(app: TestApp) {
    const ENTRIES: usize = 8;
    let app = Arc::new(app);
    for round in 0..10 {
        let code = format!("CLOSING-{round}");
        let body = |active: bool| json!({"code": code, "name": "Closing", "is_active": active});
        let w = app
            .post("/api/warehouses", &app.admin, body(true))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .unwrap();
        let p = new_product(&app, 0).await;
        let mut requests: Vec<(Method, String, Option<Value>)> = (0..ENTRIES)
            .map(|_| {
                let entry =
                    json!({"product_id": p, "warehouse_id": w, "kind": "entry", "quantity": 1, "unit_cost": 400});
                (Method::POST, "/api/stock/movements".to_string(), Some(entry))
            })
            .collect();
        requests.insert(
            ENTRIES / 2,
            (Method::PUT, format!("/api/warehouses/{w}"), Some(body(false))),
        );
        let responses = race(&app, requests).await;
        let mut booked = 0;
        for (i, r) in responses.iter().enumerate() {
            assert_not_5xx("entry or deactivation", r);
            if i == ENTRIES / 2 {
                assert!(
                    matches!(r.status.as_u16(), 200 | 409),
                    "deactivation: {} {}",
                    r.status,
                    r.body
                );
            } else if r.status.as_u16() == 201 {
                booked += 1;
            } else {
                assert!(matches!(r.status.as_u16(), 409 | 422), "entry: {} {}", r.status, r.body);
            }
        }
        let active = app
            .get(&format!("/api/warehouses/{w}"), &app.admin)
            .await
            .expect(200)
            .body["is_active"]
            .as_bool()
            .unwrap();
        let (on_hand, _) = level(&app, p, w).await;
        assert_eq!(on_hand, booked, "round {round}: units booked");
        assert!(
            active || on_hand == 0,
            "round {round}: deactivated holding {on_hand} units"
        );
    }
    assert_no_drift(&drift(&app).await);
}

/// (g) 24 pending orders, each changed (`PUT`: other products and quantities) and confirmed at
/// the same moment. A change either commits first, and the confirm reserves the new items, or
/// is refused (409) because the order is confirmed already; never a reservation of items the
/// order no longer holds (`check_orders` compares them order by order).
async fn orders_changed_while_being_confirmed_reserve_what_they_hold(app: TestApp) {
    const ORDERS: usize = 24;
    let app = Arc::new(app);
    let w = main_warehouse(&app).await;
    let (a, b, c) = (
        new_product(&app, 1_000).await,
        new_product(&app, 1_000).await,
        new_product(&app, 1_000).await,
    );
    let mut ids = Vec::with_capacity(ORDERS);
    for _ in 0..ORDERS {
        ids.push(
            create_order(
                &app,
                w,
                json!([{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 2}]),
            )
            .await,
        );
    }
    let mut requests = Vec::with_capacity(2 * ORDERS);
    for id in &ids {
        let changed = json!({"items": [{"product_id": b, "quantity": 1}, {"product_id": c, "quantity": 3}]});
        requests.push((Method::PUT, format!("/api/orders/{id}"), Some(changed)));
        requests.push((Method::POST, format!("/api/orders/{id}/confirm"), None));
    }
    let responses = race(&app, requests).await;
    let mut changed = 0;
    for pair in responses.chunks(2) {
        let (change, confirm) = (&pair[0], &pair[1]);
        assert_not_5xx("change", change);
        assert_not_5xx("confirm", confirm);
        assert_eq!(confirm.status.as_u16(), 200, "confirm: {}", confirm.body);
        match change.status.as_u16() {
            200 => changed += 1,
            409 => assert!(code(&change.body) == "conflict", "{}", change.body),
            other => panic!("change answered {other}: {}", change.body),
        }
    }
    let counts = check_orders(&app).await;
    assert_eq!(counts.get("confirmed").copied(), Some(ORDERS));
    let reserved = |p: i64| {
        let app = Arc::clone(&app);
        async move { level(&app, p, w).await.1 }
    };
    let unchanged = (ORDERS - changed) as i64;
    assert_eq!(reserved(a).await, unchanged, "A reserved");
    assert_eq!(reserved(b).await, 2 * unchanged + changed as i64, "B reserved");
    assert_eq!(reserved(c).await, 3 * changed as i64, "C reserved");
    assert_no_drift(&drift(&app).await);
}

/// (h) 60 creates at once (on PostgreSQL they are created in batches): 30 share six
/// idempotency keys, five each with the same body; 30 have none. Each key makes one order,
/// answered 201 once and 200 (replayed, the same order) to the other four, whether they met
/// in one batch or raced from two; every request without a key makes its own order.
async fn creates_racing_with_one_key_make_one_order(app: TestApp) {
    let app = Arc::new(app);
    let product = new_product(&app, 0).await;
    let barrier = Arc::new(Barrier::new(60));
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let app = Arc::clone(&app);
            let barrier = Arc::clone(&barrier);
            let key = (i < 30).then(|| format!("race-{}", i % 6));
            let body = json!({"items": [{"product_id": product, "quantity": 1 + i % 6}], "notes": key});
            tokio::spawn(async move {
                let mut request = Request::builder()
                    .method(Method::POST)
                    .uri("/api/orders")
                    .header("authorization", format!("Bearer {}", app.admin))
                    .header("content-type", "application/json");
                if let Some(key) = &key {
                    request = request.header("idempotency-key", key);
                }
                barrier.wait().await;
                let response = app.send(request.body(Body::from(body.to_string())).unwrap()).await;
                (key, response)
            })
        })
        .collect();
    let mut by_key: std::collections::BTreeMap<String, Vec<(u16, i64)>> = Default::default();
    let mut unkeyed = Vec::new();
    for task in tasks {
        let (key, r) = task.await.unwrap();
        assert_not_5xx("create", &r);
        let id = r.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no order: {} {}", r.status, r.body));
        match key {
            Some(key) => by_key.entry(key).or_default().push((r.status.as_u16(), id)),
            None => {
                assert_eq!(r.status.as_u16(), 201, "{}", r.body);
                unkeyed.push(id);
            }
        }
    }
    assert_eq!(by_key.len(), 6);
    for (key, answers) in &by_key {
        let created: Vec<_> = answers.iter().filter(|(status, _)| *status == 201).collect();
        assert_eq!(created.len(), 1, "{key}: {answers:?}");
        assert!(
            answers
                .iter()
                .all(|&(status, id)| (status == 201 || status == 200) && id == created[0].1),
            "{key}: {answers:?}"
        );
    }
    unkeyed.sort_unstable();
    unkeyed.dedup();
    assert_eq!(unkeyed.len(), 30);
    let pending = app
        .get("/api/orders?status=pending&per_page=1", &app.admin)
        .await
        .expect(200);
    assert_eq!(pending.body["total"], 36);
}
