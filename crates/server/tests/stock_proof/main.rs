//! Proof that the stock ledger never oversells nor loses a unit: concurrency races over the
//! in-process router (`concurrency`) and a randomized model check (`model`), on SQLite and on
//! PostgreSQL. Every test ends with the ledger invariants (`bodega_store::stock::drift`) and a
//! per-order consistency check.
#![allow(clippy::unwrap_used)]

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod concurrency;
mod model;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use bodega_store::stock::Drift;
use bodega_store::{sql, Conn};
use helpers::TestApp;

/// The first active warehouse (created at start-up).
pub async fn main_warehouse(app: &TestApp) -> i64 {
    let r = app.get("/api/warehouses", &app.admin).await.expect(200);
    r.body[0]["id"].as_i64().unwrap()
}

pub async fn new_warehouse(app: &TestApp) -> i64 {
    let code = format!("W-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let r = app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": code, "name": format!("Warehouse {code}")}),
        )
        .await
        .expect(201);
    r.body["id"].as_i64().unwrap()
}

/// A new active product with `stock` units of opening stock in the main warehouse.
pub async fn new_product(app: &TestApp, stock: i64) -> i64 {
    let mut body = json!({
        "name": format!("Product {}", uuid::Uuid::new_v4().simple()),
        "price": 1_000,
        "cost": 400,
        "low_stock_threshold": 3,
    });
    if stock > 0 {
        body["initial_stock"] = json!(stock);
    }
    let r = app.post("/api/products", &app.admin, body).await.expect(201);
    r.body["id"].as_i64().unwrap()
}

/// Books an entry of `quantity` units.
pub async fn entry(app: &TestApp, product_id: i64, warehouse_id: i64, quantity: i64) {
    app.post(
        "/api/stock/movements",
        &app.admin,
        json!({"product_id": product_id, "warehouse_id": warehouse_id, "kind": "entry",
               "quantity": quantity, "unit_cost": 400}),
    )
    .await
    .expect(201);
}

/// (on_hand, reserved) of a product in a warehouse as the API reports it; (0, 0) without a level.
pub async fn level(app: &TestApp, product_id: i64, warehouse_id: i64) -> (i64, i64) {
    let r = app
        .get(
            &format!("/api/stock/levels?product_id={product_id}&warehouse_id={warehouse_id}"),
            &app.admin,
        )
        .await
        .expect(200);
    match r.body["items"].as_array().and_then(|items| items.first()) {
        Some(l) => {
            let (on_hand, reserved) = (l["on_hand"].as_i64().unwrap(), l["reserved"].as_i64().unwrap());
            assert_eq!(l["available"].as_i64().unwrap(), on_hand - reserved, "level: {l}");
            (on_hand, reserved)
        }
        None => (0, 0),
    }
}

/// Every broken ledger invariant in the whole database.
pub async fn drift(app: &TestApp) -> Vec<Drift> {
    let mut conn = app.state.db.read().await.unwrap();
    bodega_store::stock::drift(&mut conn.conn()).await.unwrap()
}

#[track_caller]
pub fn assert_no_drift(drift: &[Drift]) {
    assert!(drift.is_empty(), "ledger drift: {drift:#?}");
}

/// Panics on any 5xx, printing the body.
#[track_caller]
pub fn assert_not_5xx(what: &str, r: &helpers::Response) {
    assert!(!r.status.is_server_error(), "{what} answered {}: {}", r.status, r.body);
}

type Qty = BTreeMap<i64, i64>;

fn add(map: &mut Qty, product_id: i64, quantity: i64) {
    *map.entry(product_id).or_default() += quantity;
    map.retain(|_, q| *q != 0);
}

/// Checks every order against the ledger, straight in the database:
/// - pending: no reservations at all;
/// - confirmed/processing: active reservations exactly covering its items, nothing committed;
/// - shipped/delivered/completed/returned: one sale with exactly its items, committed
///   reservations and sale movements (referencing that sale) equal to the items, none active;
///   returned orders also have return movements equal to the items;
/// - cancelled: no active reservation, nothing committed, no sale.
///
/// Also every sale of the database: its items equal its sale movements.
/// Returns the number of orders per status.
pub async fn check_orders(app: &TestApp) -> BTreeMap<String, usize> {
    let mut conn = app.state.db.read().await.unwrap();
    let mut c = conn.conn();
    check_orders_in(&mut c).await
}

pub async fn check_orders_in(c: &mut Conn<'_>) -> BTreeMap<String, usize> {
    let orders: Vec<(i64, String)> = sql::query_as("SELECT id, status FROM orders ORDER BY id")
        .fetch_all(c)
        .await
        .unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (id, status) in orders {
        *counts.entry(status.clone()).or_default() += 1;
        let items: Vec<(i64, i64)> = sql::query_as("SELECT product_id, quantity FROM order_items WHERE order_id = $1")
            .bind(id)
            .fetch_all(c)
            .await
            .unwrap();
        let mut wanted = Qty::new();
        for (p, q) in items {
            add(&mut wanted, p, q);
        }
        let reservations: Vec<(i64, i64, String)> =
            sql::query_as("SELECT product_id, quantity, status FROM reservations WHERE order_id = $1")
                .bind(id)
                .fetch_all(c)
                .await
                .unwrap();
        let by_status = |s: &str| {
            let mut m = Qty::new();
            for (p, q, st) in &reservations {
                if st == s {
                    add(&mut m, *p, *q);
                }
            }
            m
        };
        let (active, committed) = (by_status("active"), by_status("committed"));
        let sales: Vec<i64> = sql::query_scalar("SELECT id FROM sales WHERE order_id = $1")
            .bind(id)
            .fetch_all(c)
            .await
            .unwrap();
        let what = format!("order {id} ({status})");
        match status.as_str() {
            "pending" => {
                assert!(reservations.is_empty(), "{what}: reservations {reservations:?}");
                assert!(sales.is_empty(), "{what}: sales {sales:?}");
            }
            "confirmed" | "processing" => {
                assert_eq!(active, wanted, "{what}: active reservations vs items");
                assert!(committed.is_empty(), "{what}: committed {committed:?}");
                assert!(sales.is_empty(), "{what}: sales {sales:?}");
            }
            "shipped" | "delivered" | "completed" | "returned" => {
                assert!(active.is_empty(), "{what}: active {active:?}");
                assert_eq!(committed, wanted, "{what}: committed reservations vs items");
                assert_eq!(sales.len(), 1, "{what}: sales {sales:?}");
                let sale = sales[0];
                let sold: Vec<(i64, i64)> =
                    sql::query_as("SELECT product_id, quantity FROM sale_items WHERE sale_id = $1")
                        .bind(sale)
                        .fetch_all(c)
                        .await
                        .unwrap();
                let mut sold_qty = Qty::new();
                for (p, q) in sold {
                    add(&mut sold_qty, p, q);
                }
                assert_eq!(sold_qty, wanted, "{what}: sale {sale} items vs order items");
                let moved = movements(c, "sale", &sale.to_string()).await;
                let mut out = Qty::new();
                for (p, q) in moved {
                    add(&mut out, p, -q);
                }
                assert_eq!(out, wanted, "{what}: sale movements vs items");
                let returned = movements(c, "order", &id.to_string()).await;
                let mut back = Qty::new();
                for (p, q) in returned {
                    add(&mut back, p, q);
                }
                if status == "returned" {
                    assert_eq!(back, wanted, "{what}: return movements vs items");
                } else {
                    assert!(back.is_empty(), "{what}: return movements {back:?}");
                }
            }
            "cancelled" => {
                assert!(active.is_empty(), "{what}: active {active:?}");
                assert!(committed.is_empty(), "{what}: committed {committed:?}");
                assert!(sales.is_empty(), "{what}: sales {sales:?}");
            }
            other => panic!("{what}: unknown status {other}"),
        }
    }
    check_sales_in(c).await;
    counts
}

/// Every non-historical sale's items equal the sale movements that reference it.
pub async fn check_sales_in(c: &mut Conn<'_>) {
    let sales: Vec<i64> = sql::query_scalar("SELECT id FROM sales WHERE historical = FALSE ORDER BY id")
        .fetch_all(c)
        .await
        .unwrap();
    for sale in sales {
        let items: Vec<(i64, i64)> = sql::query_as("SELECT product_id, quantity FROM sale_items WHERE sale_id = $1")
            .bind(sale)
            .fetch_all(c)
            .await
            .unwrap();
        let mut sold = Qty::new();
        for (p, q) in items {
            add(&mut sold, p, q);
        }
        let mut out = Qty::new();
        for (p, q) in movements(c, "sale", &sale.to_string()).await {
            add(&mut out, p, -q);
        }
        assert_eq!(out, sold, "sale {sale}: movements vs items");
    }
}

async fn movements(c: &mut Conn<'_>, reference_type: &str, reference_id: &str) -> Vec<(i64, i64)> {
    sql::query_as("SELECT product_id, quantity FROM stock_movements WHERE reference_type = $1 AND reference_id = $2")
        .bind(reference_type)
        .bind(reference_id)
        .fetch_all(c)
        .await
        .unwrap()
}

/// The error code of a JSON error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}
