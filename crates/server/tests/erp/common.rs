//! Shared helpers of the ERP suite.

use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The `id` of a created record.
pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Fails when any stock level disagrees with its movements or active reservations.
pub async fn assert_no_drift(app: &TestApp) {
    let mut conn = app.state.db.read().await.unwrap();
    let drift = bodega_store::stock::drift(&mut conn.conn()).await.unwrap();
    assert!(drift.is_empty(), "ledger drift: {drift:?}");
}

/// The id of the warehouse every new shop starts with (code `MAIN`).
pub async fn main_warehouse(app: &TestApp) -> i64 {
    let list = app.get("/api/warehouses", &app.admin).await.expect(200).body;
    let main = list
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "MAIN")
        .unwrap_or_else(|| panic!("no MAIN warehouse in {list}"));
    id(main)
}

/// Creates a product (201) and returns its body.
pub async fn product(app: &TestApp, body: Value) -> Value {
    app.post("/api/products", &app.admin, body).await.expect(201).body
}

/// A product priced `price`, costing `cost`, holding `stock` units in MAIN, with no low-stock
/// threshold (so no alert gets in the way).
pub async fn simple_product(app: &TestApp, sku: &str, price: i64, cost: i64, stock: i64) -> i64 {
    let mut body = json!({"sku": sku, "name": format!("Producto {sku}"), "price": price, "cost": cost,
        "low_stock_threshold": 0});
    if stock > 0 {
        body["initial_stock"] = json!(stock);
    }
    id(&product(app, body).await)
}

/// `(on_hand, reserved, available, avg_cost)` of a product in a warehouse.
pub async fn level(app: &TestApp, product_id: i64, warehouse_id: i64) -> (i64, i64, i64, i64) {
    let page = app
        .get(
            &format!("/api/stock/levels?product_id={product_id}&warehouse_id={warehouse_id}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    match page["items"].as_array().unwrap().first() {
        None => (0, 0, 0, 0),
        Some(l) => (
            l["on_hand"].as_i64().unwrap(),
            l["reserved"].as_i64().unwrap(),
            l["available"].as_i64().unwrap(),
            l["avg_cost"].as_i64().unwrap(),
        ),
    }
}

/// A movement listing (`query` without the leading `?`).
pub async fn movements(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/api/stock/movements?{query}"), &app.admin)
        .await
        .expect(200)
        .body
}

/// Books a manual movement and returns the response (status not checked).
pub async fn book(app: &TestApp, body: Value) -> crate::helpers::Response {
    app.post("/api/stock/movements", &app.admin, body).await
}

/// How many events the outbox holds and how many audit entries exist: what a refused write
/// must leave unchanged.
pub async fn written(app: &TestApp) -> (usize, i64) {
    let events = {
        let mut conn = app.state.db.read().await.unwrap();
        bodega_store::outbox::list(&mut conn.conn(), None, 0, 1_000_000)
            .await
            .unwrap()
            .len()
    };
    let audit = app.get("/api/audit?per_page=1", &app.admin).await.expect(200).body;
    (events, audit["total"].as_i64().unwrap())
}
