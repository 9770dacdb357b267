//! Inputs at the edges of what Bodega stores: amounts whose sums would pass 64 bits, NUL
//! characters, expired holds, payments out of step with the order, filters with unknown
//! values. Each is refused with a JSON 4xx and changes nothing, or (the stock value) is
//! computed without overflow.

use serde_json::{json, Value};

use crate::common::{assert_no_drift, book, id, level, main_warehouse, simple_product, written};
use crate::helpers::TestApp;
use bodega_domain::limits::{MAX_AMOUNT, MAX_QUANTITY, MAX_TOTAL};

crate::on_both_stores!(
    totals_past_the_limit_are_refused,
    entries_are_bounded_and_average_without_overflow,
    nul_characters_are_refused,
    expired_reservations_cannot_be_committed,
    payments_follow_the_money,
    unknown_filter_values_and_exit_costs,
    a_warehouse_holding_stock_stays_active,
    a_deactivated_warehouse_takes_no_stock,
);

async fn totals_past_the_limit_are_refused(app: TestApp) {
    let p = simple_product(&app, "LIM-TOTAL", MAX_AMOUNT / 1_000, 0, 5_000).await;
    let line = MAX_TOTAL / (MAX_AMOUNT / 1_000); // 1,000 units: one line reaches the limit exactly
    let before = written(&app).await;
    let two_lines = json!([{"product_id": p, "quantity": line}, {"product_id": p, "quantity": line}]);
    let refused = app
        .post("/api/pos/sales", &app.admin, json!({"items": two_lines}))
        .await
        .expect_error(422, "validation", Some("items"))
        .body;
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("add up"),
        "{refused}"
    );
    app.post(
        &format!("/api/products/{p}/sell"),
        &app.admin,
        json!({"quantity": 2 * line}),
    )
    .await
    .expect_error(422, "validation", Some("items"));
    // An order names the real reason, not a discount larger than a wrapped subtotal.
    app.post("/api/orders", &app.admin, json!({"items": two_lines}))
        .await
        .expect_error(422, "validation", Some("items"));
    assert_eq!(written(&app).await, before, "nothing written");

    // At the limit exactly, the sale goes through with its exact total.
    let sale = app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": line}]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(sale["total"], MAX_TOTAL);
    let stats = app.get("/api/sales/stats", &app.admin).await.expect(200).body;
    assert_eq!(stats["revenue"], MAX_TOTAL, "{stats}");
    assert_no_drift(&app).await;
}

async fn entries_are_bounded_and_average_without_overflow(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "LIM-COST", 100, 0, 0).await;
    // 10^6 units at a cost of 10^12: an entry worth 10^18, past MAX_TOTAL.
    let before = written(&app).await;
    book(
        &app,
        json!({"product_id": p, "kind": "entry", "quantity": MAX_QUANTITY, "unit_cost": MAX_AMOUNT}),
    )
    .await
    .expect_error(422, "validation", Some("unit_cost"));
    assert_eq!(written(&app).await, before, "nothing written");
    assert_eq!(level(&app, p, main).await, (0, 0, 0, 0));
    // At the bound: one unit at 10^12, then 999,999 units at 1. The average is computed wide
    // and truncated: (10^12 + 999,999) / 10^6 = 1,000,000.
    for (quantity, cost) in [(1, MAX_AMOUNT), (MAX_QUANTITY - 1, 1)] {
        book(
            &app,
            json!({"product_id": p, "kind": "entry", "quantity": quantity, "unit_cost": cost}),
        )
        .await
        .expect(201);
    }
    assert_eq!(level(&app, p, main).await, (MAX_QUANTITY, 0, MAX_QUANTITY, 1_000_000));
    let summary = app
        .get("/api/analytics/reports/inventory-summary", &app.admin)
        .await
        .expect(200)
        .body;
    let row = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["warehouse_id"] == main)
        .unwrap();
    assert_eq!(row["value"], MAX_QUANTITY * 1_000_000, "{row}");
    // A till sale of more than 10^6 units of one product, over several lines, is refused too.
    let lines = json!([{"product_id": p, "quantity": 600_000}, {"product_id": p, "quantity": 600_000}]);
    app.post("/api/pos/sales", &app.admin, json!({"items": lines}))
        .await
        .expect_error(422, "validation", Some("items"));

    // Small figures keep integer averages, truncated: (2 × 100 + 1 × 101) / 3 = 100.
    let q = simple_product(&app, "LIM-AVG", 100, 0, 0).await;
    for (quantity, cost) in [(2, 100), (1, 101)] {
        book(
            &app,
            json!({"product_id": q, "kind": "entry", "quantity": quantity, "unit_cost": cost}),
        )
        .await
        .expect(201);
    }
    assert_eq!(level(&app, q, main).await, (3, 0, 3, 100));
    assert_no_drift(&app).await;
}

async fn nul_characters_are_refused(app: TestApp) {
    let before = written(&app).await;
    for body in [
        json!({"sku": "NUL-1", "name": "a\u{0}b", "price": 100}),
        json!({"sku": "NUL-2", "name": "Fine", "price": 100, "category": "a\u{0}b"}),
        json!({"sku": "NUL-3", "name": "Fine", "price": 100, "image_url": "/a\u{0}b"}),
    ] {
        let r = app.post("/api/products", &app.admin, body).await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        assert_eq!(r.body["error"]["code"], "validation");
    }
    let r = app
        .post(
            "/api/auth/login",
            (),
            json!({"email": "a\u{0}b@bodega.local", "password": "x\u{0}"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    for uri in [
        "/api/products?q=a%00b",
        "/api/products?status=%00",
        "/api/stock/movements?reference_id=%00",
        "/api/sales?channel=%00",
        "/api/audit?action=%00",
    ] {
        app.get(uri, &app.admin).await.expect(422);
    }
    assert_eq!(written(&app).await, before, "nothing written");
    // A backslash followed by "u0000" is text, not a NUL.
    let p = app
        .post(
            "/api/products",
            &app.admin,
            json!({"sku": "NUL-4", "name": "a\\u0000b", "price": 100}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(p["name"], "a\\u0000b");
}

async fn expired_reservations_cannot_be_committed(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "LIM-EXP", 100, 10, 5).await;
    let r = app
        .post(
            "/api/stock/reservations",
            &app.admin,
            json!({"product_id": p, "quantity": 2, "expires_in_seconds": 1}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(level(&app, p, main).await, (5, 2, 3, 10));
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let refused = app
        .post(
            &format!("/api/stock/reservations/{}/commit", id(&r)),
            &app.admin,
            json!({}),
        )
        .await
        .expect(409)
        .body;
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
    assert_eq!(level(&app, p, main).await, (5, 2, 3, 10), "nothing booked");
    // Releasing it is still allowed, and gives the units back.
    app.post(
        &format!("/api/stock/reservations/{}/release", id(&r)),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(level(&app, p, main).await, (5, 0, 5, 10));
    assert_no_drift(&app).await;
}

async fn new_order(app: &TestApp, product: i64) -> i64 {
    id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": product, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body)
}

async fn pay(app: &TestApp, order: i64, status: &str) -> crate::helpers::Response {
    app.post(
        &format!("/api/orders/{order}/payment"),
        &app.admin,
        json!({"status": status}),
    )
    .await
}

async fn payment_status(app: &TestApp, order: i64) -> Value {
    app.get(&format!("/api/orders/{order}"), &app.admin)
        .await
        .expect(200)
        .body["payment_status"]
        .clone()
}

async fn payments_follow_the_money(app: TestApp) {
    let p = simple_product(&app, "LIM-PAY", 100, 10, 5).await;
    let a = new_order(&app, p).await;
    let refused = pay(&app, a, "refunded").await.expect(409).body;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only a paid order"),
        "{refused}"
    );
    assert_eq!(pay(&app, a, "paid").await.expect(200).body["payment_status"], "paid");
    assert_eq!(
        pay(&app, a, "refunded").await.expect(200).body["payment_status"],
        "refunded"
    );
    pay(&app, a, "paid").await.expect(409);
    assert_eq!(payment_status(&app, a).await, "refunded");

    let b = new_order(&app, p).await;
    app.post(&format!("/api/orders/{b}/cancel"), &app.admin, json!({}))
        .await
        .expect(200);
    pay(&app, b, "paid").await.expect(409);
    assert_eq!(payment_status(&app, b).await, "unpaid");
}

async fn unknown_filter_values_and_exit_costs(app: TestApp) {
    app.get("/api/products?status=bogus", &app.admin)
        .await
        .expect_error(422, "validation", Some("status"));
    app.get("/api/reorder-requests?status=bogus", &app.admin)
        .await
        .expect_error(422, "validation", Some("status"));
    app.get("/api/products?status=discontinued", &app.admin)
        .await
        .expect(200);
    app.post(
        "/api/products",
        &app.admin,
        json!({"sku": "LIM-NOWH", "name": "Sin bodega", "price": 100, "warehouse_id": -1}),
    )
    .await
    .expect_error(422, "validation", Some("warehouse_id"));

    let p = simple_product(&app, "LIM-EXIT", 100, 10, 5).await;
    let before = written(&app).await;
    book(
        &app,
        json!({"product_id": p, "kind": "adjustment", "quantity": i64::MIN}),
    )
    .await
    .expect_error(422, "validation", Some("quantity"));
    assert_eq!(written(&app).await, before);
    // An exit leaves at the average cost: a cost sent with it is not stored as its cost.
    let exit = book(
        &app,
        json!({"product_id": p, "kind": "exit", "quantity": 1, "unit_cost": 5}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(exit["unit_cost"], Value::Null, "{exit}");
    assert_no_drift(&app).await;
}

async fn a_warehouse_holding_stock_stays_active(app: TestApp) {
    let w: Value = app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "LIM-W", "name": "Bodega de paso"}),
        )
        .await
        .expect(201)
        .body;
    let wid = id(&w);
    let p = simple_product(&app, "LIM-WH", 100, 10, 0).await;
    book(
        &app,
        json!({"product_id": p, "warehouse_id": wid, "kind": "entry", "quantity": 3, "unit_cost": 10}),
    )
    .await
    .expect(201);
    let deactivate = json!({"code": "LIM-W", "name": "Bodega de paso", "is_active": false});
    let refused = app
        .put(&format!("/api/warehouses/{wid}"), &app.admin, deactivate.clone())
        .await
        .expect(409)
        .body;
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("3 units"),
        "{refused}"
    );
    assert_eq!(
        app.get(&format!("/api/warehouses/{wid}"), &app.admin)
            .await
            .expect(200)
            .body["is_active"],
        true
    );
    book(
        &app,
        json!({"product_id": p, "warehouse_id": wid, "kind": "exit", "quantity": 3}),
    )
    .await
    .expect(201);
    let w = app
        .put(&format!("/api/warehouses/{wid}"), &app.admin, deactivate)
        .await
        .expect(200)
        .body;
    assert_eq!(w["is_active"], false);
    assert_no_drift(&app).await;
}

/// Stock could never leave a deactivated warehouse, so nothing brings stock into one: not a
/// customer return, not a reorder request (neither made nor received there), and the refusal
/// changes nothing. Reactivated, it takes the return.
async fn a_deactivated_warehouse_takes_no_stock(app: TestApp) {
    let code = "LIM-CLOSED";
    let wid = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": code, "name": "Tienda por cerrar"}),
        )
        .await
        .expect(201)
        .body);
    let p = simple_product(&app, "LIM-CLOSE", 100, 10, 0).await;
    book(
        &app,
        json!({"product_id": p, "warehouse_id": wid, "kind": "entry", "quantity": 3, "unit_cost": 10}),
    )
    .await
    .expect(201);
    let order = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"warehouse_id": wid, "items": [{"product_id": p, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body);
    for step in ["confirm", "ship"] {
        app.post(&format!("/api/orders/{order}/{step}"), &app.admin, json!({}))
            .await
            .expect(200);
    }
    let pending_reorder = id(&app
        .post(
            "/api/reorder-requests",
            &app.admin,
            json!({"product_id": p, "warehouse_id": wid, "quantity": 5}),
        )
        .await
        .expect(201)
        .body);
    app.post(
        &format!("/api/reorder-requests/{pending_reorder}/status"),
        &app.admin,
        json!({"status": "ordered"}),
    )
    .await
    .expect(200);
    book(
        &app,
        json!({"product_id": p, "warehouse_id": wid, "kind": "exit", "quantity": 2}),
    )
    .await
    .expect(201);
    let close = |active: bool| json!({"code": code, "name": "Tienda por cerrar", "is_active": active});
    app.put(&format!("/api/warehouses/{wid}"), &app.admin, close(false))
        .await
        .expect(200);

    let before = written(&app).await;
    let refused = app
        .post(&format!("/api/orders/{order}/return"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None)
        .body;
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("deactivated"),
        "{refused}"
    );
    let received = app
        .post(
            &format!("/api/reorder-requests/{pending_reorder}/status"),
            &app.admin,
            json!({"status": "received"}),
        )
        .await
        .expect_error(409, "conflict", None)
        .body;
    assert!(
        received["error"]["message"].as_str().unwrap().contains(code),
        "{received}"
    );
    app.post(
        "/api/reorder-requests",
        &app.admin,
        json!({"product_id": p, "warehouse_id": wid, "quantity": 5}),
    )
    .await
    .expect_error(422, "validation", Some("warehouse_id"));
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");
    assert_eq!(level(&app, p, wid).await.0, 0);
    let still = app
        .get(&format!("/api/orders/{order}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(still["status"], "shipped");
    let reorder = app
        .get(&format!("/api/reorder-requests/{pending_reorder}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(reorder["status"], "ordered");

    app.put(&format!("/api/warehouses/{wid}"), &app.admin, close(true))
        .await
        .expect(200);
    app.post(&format!("/api/orders/{order}/return"), &app.admin, json!({}))
        .await
        .expect(200);
    assert_eq!(level(&app, p, wid).await.0, 1);
    assert_no_drift(&app).await;
}
