//! The orders saga: idempotent creation, price snapshots, confirm (all or nothing), illegal
//! transitions, ship (sale + movements), cancel, return, payment status.

use axum::body::Body;
use axum::http::{Method, Request};
use bodega_domain::OrderAction;
use bodega_store::audit::Actor;
use bodega_store::orders::{Created, NewOrder};
use bodega_store::sales::LineRequest;
use bodega_store::{orders, StoreError};
use serde_json::{json, Value};

use crate::common::{assert_no_drift, id, level, main_warehouse, movements, simple_product, written};
use crate::helpers::{Response, TestApp};

crate::on_both_stores!(
    idempotent_creation_and_snapshots,
    saga_ship_deliver_return,
    saga_refusals_and_cancel,
    steps_run_together,
    creates_run_together,
    a_pending_order_changes_until_it_is_confirmed
);

async fn create_with_key(app: &TestApp, key: &str, body: &Value) -> Response {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/orders")
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    app.send(request).await
}

async fn step(app: &TestApp, order: i64, action: &str) -> Response {
    app.post(&format!("/api/orders/{order}/{action}"), &app.admin, json!({}))
        .await
}

async fn idempotent_creation_and_snapshots(app: TestApp) {
    let a = simple_product(&app, "ORD-A", 1000, 400, 10).await;
    let b = simple_product(&app, "ORD-B", 2500, 1000, 5).await;
    let body = json!({"items": [{"product_id": b, "quantity": 1}, {"product_id": a, "quantity": 2}],
        "discount": 500, "notes": "Entrega rápida"});
    let first = create_with_key(&app, "pedido-1", &body).await.expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let order = first.body;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["payment_status"], "unpaid");
    assert_eq!(order["subtotal"], 4500);
    assert_eq!(order["discount"], 500);
    assert_eq!(order["total"], 4000);
    assert_eq!(order["notes"], "Entrega rápida");
    assert_eq!(order["idempotency_key"], "pedido-1");
    assert_eq!(order["sale_id"], Value::Null);
    assert!(order.get("request_hash").is_none());
    // Lines are ordered by product and carry the product as it was.
    let items = order["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["product_id"], a);
    assert_eq!(items[0]["sku"], "ORD-A");
    assert_eq!(items[0]["product_name"], "Producto ORD-A");
    assert_eq!(items[0]["unit_price"], 1000);
    assert_eq!(items[0]["quantity"], 2);
    assert_eq!(items[0]["line_total"], 2000);
    assert_eq!(items[1]["product_id"], b);
    assert_eq!(items[1]["line_total"], 2500);
    let oid = id(&order);

    // A retry with the same key and body answers with the same order.
    let replay = create_with_key(&app, "pedido-1", &body).await.expect(200);
    assert_eq!(
        replay.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(id(&replay.body), oid);
    assert_eq!(replay.body["items"], order["items"]);
    // The same key with another body is refused.
    let other = json!({"items": [{"product_id": a, "quantity": 3}]});
    create_with_key(&app, "pedido-1", &other)
        .await
        .expect_error(422, "validation", Some("Idempotency-Key"));
    let list = app.get("/api/orders", &app.admin).await.expect(200).body;
    assert_eq!(list["total"], 1);

    // A later price and name change does not touch the order.
    app.put(
        &format!("/api/products/{a}"),
        &app.admin,
        json!({"name": "Producto A renombrado", "price": 1500, "cost": 400}),
    )
    .await
    .expect(200);
    let got = app
        .get(&format!("/api/orders/{oid}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(got["items"][0]["unit_price"], 1000);
    assert_eq!(got["items"][0]["product_name"], "Producto ORD-A");
    assert_eq!(got["total"], 4000);
    // A new order takes the new price.
    let second = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": a, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(second["items"][0]["unit_price"], 1500);
    assert_eq!(second["items"][0]["product_name"], "Producto A renombrado");
    assert_eq!(second["total"], 1500);

    // Bad input.
    app.post("/api/orders", &app.admin, json!({"items": []}))
        .await
        .expect_error(422, "validation", Some("items"));
    app.post(
        "/api/orders",
        &app.admin,
        json!({"items": [{"product_id": 999_999, "quantity": 1}]}),
    )
    .await
    .expect_error(422, "validation", Some("items[0].product_id"));
    app.post(
        "/api/orders",
        &app.admin,
        json!({"items": [{"product_id": a, "quantity": 1}], "discount": 1501}),
    )
    .await
    .expect_error(422, "validation", Some("discount"));
    app.get("/api/orders/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    assert_eq!(app.get("/api/orders", &app.admin).await.expect(200).body["total"], 2);
    assert_eq!(
        app.get("/api/orders?status=pending", &app.admin).await.expect(200).body["total"],
        2
    );
    // Creating orders touches no stock.
    let main = main_warehouse(&app).await;
    assert_eq!(level(&app, a, main).await, (10, 0, 10, 400));
    assert_no_drift(&app).await;
}

async fn saga_ship_deliver_return(app: TestApp) {
    let main = main_warehouse(&app).await;
    let a = simple_product(&app, "SAGA-A", 1000, 400, 10).await;
    let b = simple_product(&app, "SAGA-B", 2500, 1000, 5).await;
    let order = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body;
    let oid = id(&order);

    // Shipping a pending order is refused, saying why; a step on a missing order is 404.
    let refused = step(&app, oid, "ship").await.expect_error(409, "conflict", None);
    assert_eq!(refused.body["error"]["message"], "cannot ship an order that is pending");
    for action in ["confirm", "ship", "cancel"] {
        step(&app, 999_999, action).await.expect_error(404, "not_found", None);
    }
    let confirmed = step(&app, oid, "confirm").await.expect(200).body;
    assert_eq!(confirmed["status"], "confirmed");
    assert!(confirmed["confirmed_at"].is_string());
    assert_eq!(level(&app, a, main).await, (10, 2, 8, 400));
    assert_eq!(level(&app, b, main).await, (5, 1, 4, 1000));
    step(&app, oid, "confirm").await.expect_error(409, "conflict", None);

    let paid = app
        .post(
            &format!("/api/orders/{oid}/payment"),
            &app.admin,
            json!({"status": "paid"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(paid["payment_status"], "paid");
    assert_eq!(paid["status"], "confirmed");
    app.post(
        &format!("/api/orders/{oid}/payment"),
        &app.admin,
        json!({"status": "gratis"}),
    )
    .await
    .expect_error(422, "validation", Some("status"));
    app.post("/api/orders/999999/payment", &app.admin, json!({"status": "paid"}))
        .await
        .expect_error(404, "not_found", None);

    let processing = step(&app, oid, "process").await.expect(200).body;
    assert_eq!(processing["status"], "processing");
    let shipped = step(&app, oid, "ship").await.expect(200).body;
    assert_eq!(shipped["status"], "shipped");
    assert!(shipped["shipped_at"].is_string());
    let sale_id = shipped["sale_id"].as_i64().expect("sale_id after shipping");
    // Reserved units left as sales.
    assert_eq!(level(&app, a, main).await, (8, 0, 8, 400));
    assert_eq!(level(&app, b, main).await, (4, 0, 4, 1000));
    let sale = app
        .get(&format!("/api/sales/{sale_id}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(sale["order_id"], oid);
    assert_eq!(sale["channel"], "order");
    assert_eq!(sale["total"], 4500);
    assert_eq!(sale["items_count"], 3);
    let sale_items = sale["items"].as_array().unwrap();
    assert_eq!(sale_items.len(), 2);
    assert_eq!(sale_items[0]["product_id"], a);
    assert_eq!(sale_items[0]["unit_cost"], 400);
    assert_eq!(sale_items[1]["unit_cost"], 1000);
    let sold = movements(&app, &format!("reference_type=sale&reference_id={sale_id}")).await;
    assert_eq!(sold["total"], 2);
    let mut lines: Vec<(i64, String, i64)> = sold["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["product_id"].as_i64().unwrap(),
                m["kind"].as_str().unwrap().to_string(),
                m["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(lines, [(a, "sale".into(), -2), (b, "sale".into(), -1)]);

    step(&app, oid, "cancel").await.expect_error(409, "conflict", None);
    step(&app, oid, "ship").await.expect_error(409, "conflict", None);
    step(&app, oid, "complete").await.expect_error(409, "conflict", None);
    let delivered = step(&app, oid, "deliver").await.expect(200).body;
    assert_eq!(delivered["status"], "delivered");
    // Return after delivery books the goods back and refunds a paid order.
    let returned = step(&app, oid, "return").await.expect(200).body;
    assert_eq!(returned["status"], "returned");
    assert_eq!(returned["payment_status"], "refunded");
    assert!(returned["returned_at"].is_string());
    assert_eq!(returned["sale_id"], sale_id);
    let back = movements(&app, &format!("reference_type=order&reference_id={oid}")).await;
    assert_eq!(back["total"], 2);
    for m in back["items"].as_array().unwrap() {
        assert_eq!(m["kind"], "return");
    }
    assert_eq!(level(&app, a, main).await, (10, 0, 10, 400));
    assert_eq!(level(&app, b, main).await, (5, 0, 5, 1000));
    step(&app, oid, "return").await.expect_error(409, "conflict", None);

    // The straight path to completion.
    let c2 = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": b, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body);
    for action in ["confirm", "ship", "deliver", "complete"] {
        step(&app, c2, action).await.expect(200);
    }
    let done = app.get(&format!("/api/orders/{c2}"), &app.admin).await.expect(200).body;
    assert_eq!(done["status"], "completed");
    assert!(done["completed_at"].is_string());
    assert_eq!(done["payment_status"], "unpaid");
    assert_eq!(level(&app, b, main).await, (3, 0, 3, 1000));
    assert_eq!(
        app.get("/api/orders?status=completed", &app.admin)
            .await
            .expect(200)
            .body["total"],
        1
    );
    step(&app, 999_999, "confirm")
        .await
        .expect_error(404, "not_found", None);
    assert_no_drift(&app).await;
}

async fn saga_refusals_and_cancel(app: TestApp) {
    let main = main_warehouse(&app).await;
    let a = simple_product(&app, "SHORT-A", 1000, 400, 10).await;
    let b = simple_product(&app, "SHORT-B", 2500, 1000, 5).await;
    let c = simple_product(&app, "SHORT-C", 700, 300, 3).await;

    // Two short lines: 409 lists both, and nothing is reserved (not even the line that fits).
    let order = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": c, "quantity": 1}, {"product_id": b, "quantity": 6},
                {"product_id": a, "quantity": 11}]}),
        )
        .await
        .expect(201)
        .body;
    let oid = id(&order);
    let before = written(&app).await;
    let refused = step(&app, oid, "confirm")
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        refused["error"]["details"],
        json!([
            {"product_id": a, "sku": "SHORT-A", "product_name": "Producto SHORT-A", "warehouse_id": main, "requested": 11, "available": 10},
            {"product_id": b, "sku": "SHORT-B", "product_name": "Producto SHORT-B", "warehouse_id": main, "requested": 6, "available": 5},
        ])
    );
    assert_eq!(level(&app, a, main).await, (10, 0, 10, 400));
    assert_eq!(level(&app, b, main).await, (5, 0, 5, 1000));
    assert_eq!(level(&app, c, main).await, (3, 0, 3, 300));
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");
    let still = app
        .get(&format!("/api/orders/{oid}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(still["status"], "pending");
    assert_eq!(still["confirmed_at"], Value::Null);

    // A product never stocked in the order's warehouse (no stock level there): refused as
    // short, beside a line that fits, and nothing is written.
    let other = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "SHORT-W", "name": "Never stocked"}),
        )
        .await
        .expect(201)
        .body);
    app.post(
        "/api/stock/movements",
        &app.admin,
        json!({"product_id": c, "warehouse_id": other, "kind": "entry", "quantity": 2, "unit_cost": 300}),
    )
    .await
    .expect(201);
    let elsewhere = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"warehouse_id": other, "items": [{"product_id": c, "quantity": 1}, {"product_id": a, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body);
    let before = written(&app).await;
    let unstocked = step(&app, elsewhere, "confirm")
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        unstocked["error"]["details"],
        json!([{"product_id": a, "sku": "SHORT-A", "product_name": "Producto SHORT-A", "warehouse_id": other, "requested": 1, "available": 0}])
    );
    assert_eq!(level(&app, c, other).await, (2, 0, 2, 300));
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");

    // Repeated lines of one product are reserved together.
    let twice = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": c, "quantity": 2}, {"product_id": c, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body);
    let short = step(&app, twice, "confirm")
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        short["error"]["details"],
        json!([{"product_id": c, "sku": "SHORT-C", "product_name": "Producto SHORT-C", "warehouse_id": main, "requested": 4, "available": 3}])
    );

    // Cancel of a confirmed order releases its reservations.
    let o3 = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": a, "quantity": 3}]}),
        )
        .await
        .expect(201)
        .body);
    step(&app, o3, "confirm").await.expect(200);
    assert_eq!(level(&app, a, main).await, (10, 3, 7, 400));
    let cancelled = step(&app, o3, "cancel").await.expect(200).body;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    assert_eq!(level(&app, a, main).await, (10, 0, 10, 400));
    step(&app, o3, "cancel").await.expect_error(409, "conflict", None);
    step(&app, o3, "confirm").await.expect_error(409, "conflict", None);
    step(&app, o3, "return").await.expect_error(409, "conflict", None);

    // Cancel of a pending order touches no stock; a pending order cannot be returned.
    step(&app, oid, "return").await.expect_error(409, "conflict", None);
    step(&app, oid, "deliver").await.expect_error(409, "conflict", None);
    step(&app, oid, "cancel").await.expect(200);
    // The reservations of an order cannot be committed or released by hand.
    let o4 = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": b, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body);
    step(&app, o4, "confirm").await.expect(200);
    let reservation_id: i64 = {
        let mut conn = app.state.db.read().await.unwrap();
        let held = bodega_store::reservations::for_order(&mut conn.conn(), o4)
            .await
            .unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].quantity, 1);
        held[0].id
    };
    app.post(
        &format!("/api/stock/reservations/{reservation_id}/commit"),
        &app.admin,
        json!({}),
    )
    .await
    .expect_error(409, "conflict", None);
    app.post(
        &format!("/api/stock/reservations/{reservation_id}/release"),
        &app.admin,
        json!({}),
    )
    .await
    .expect_error(409, "conflict", None);
    assert_eq!(level(&app, b, main).await, (5, 1, 4, 1000));
    assert_eq!(
        app.get("/api/orders?status=cancelled", &app.admin)
            .await
            .expect(200)
            .body["total"],
        2
    );
    assert_eq!(
        app.get("/api/orders?status=confirmed", &app.admin)
            .await
            .expect(200)
            .body["total"],
        1
    );
    app.get("/api/orders?status=lost", &app.admin)
        .await
        .expect_error(422, "validation", Some("status"));
    assert_no_drift(&app).await;
}

/// Creates a pending order of `items` (`(product, quantity)`) and returns its id.
async fn pending_order(app: &TestApp, items: &[(i64, i64)]) -> i64 {
    let items: Vec<Value> = items
        .iter()
        .map(|(product, quantity)| json!({"product_id": product, "quantity": quantity}))
        .collect();
    id(&app
        .post("/api/orders", &app.admin, json!({ "items": items }))
        .await
        .expect(201)
        .body)
}

/// Runs `action` on `ids` together (what the API does with concurrent confirms and ships),
/// committing only when the batch as a whole succeeded.
async fn together(app: &TestApp, ids: &[i64], action: OrderAction) -> Result<Vec<Result<Value, String>>, StoreError> {
    let actor = Actor::system("batch-test");
    let steps: Vec<(&Actor, i64)> = ids.iter().map(|&id| (&actor, id)).collect();
    let mut tx = app.state.db.begin().await.unwrap();
    let outcomes = orders::transition_all(&mut tx.conn(), &steps, action).await?;
    tx.commit().await.unwrap();
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.map(|order| serde_json::to_value(order).unwrap())
                .map_err(|e| e.to_string())
        })
        .collect())
}

async fn steps_run_together(app: TestApp) {
    let main = main_warehouse(&app).await;
    let a = simple_product(&app, "BATCH-A", 1000, 400, 10).await;
    let b = simple_product(&app, "BATCH-B", 2500, 1000, 5).await;
    // An alert opens when B's available stock falls below 3: in the middle of a batch.
    app.put(
        &format!("/api/products/{b}"),
        &app.admin,
        json!({"sku": "BATCH-B", "name": "Producto BATCH-B", "price": 2500, "cost": 1000, "low_stock_threshold": 3}),
    )
    .await
    .expect(200);
    let first = pending_order(&app, &[(a, 2), (b, 1)]).await;
    let second = pending_order(&app, &[(b, 2), (a, 1), (b, 1)]).await;
    let done = pending_order(&app, &[(a, 1)]).await;
    step(&app, done, "confirm").await.expect(200);
    let before = written(&app).await;

    // Each order gets its own outcome: two confirmed, one refused by its state, one missing.
    let outcomes = together(&app, &[second, done, 999_999, first], OrderAction::Confirm)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 4);
    let confirmed = outcomes[0].as_ref().unwrap();
    assert_eq!(confirmed["id"], second);
    assert_eq!(confirmed["status"], "confirmed");
    assert!(confirmed["confirmed_at"].is_string());
    assert_eq!(
        outcomes[1].as_ref().unwrap_err(),
        "cannot confirm an order that is confirmed"
    );
    assert_eq!(outcomes[2].as_ref().unwrap_err(), "not found");
    assert_eq!(outcomes[3].as_ref().unwrap()["id"], first);
    assert_eq!(level(&app, a, main).await, (10, 4, 6, 400));
    assert_eq!(level(&app, b, main).await, (5, 4, 1, 1000));
    // One audit entry and one order event per confirmed order, besides the alert's.
    let after = written(&app).await;
    assert_eq!(after.1 - before.1, 2, "audit entries");
    let alerts = app.get("/api/alerts", &app.admin).await.expect(200).body;
    let open: Vec<&Value> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["product_id"] == b)
        .collect();
    assert_eq!(open.len(), 1, "one open alert for B: {alerts}");
    assert_eq!(after.0 - before.0, 3, "two order events and the alert's");

    // Shipped together: one sale per order, every reservation committed into a sale exit.
    let shipped = together(&app, &[first, second], OrderAction::Ship).await.unwrap();
    let sales: Vec<i64> = shipped
        .iter()
        .map(|o| o.as_ref().unwrap()["sale_id"].as_i64().unwrap())
        .collect();
    assert_ne!(sales[0], sales[1]);
    // Each sale holds its own order's lines, and each sale exit names its order's sale.
    let lines = |body: &Value| -> Vec<(i64, i64)> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["product_id"].as_i64().unwrap(), i["quantity"].as_i64().unwrap()))
            .collect()
    };
    let exits = movements(&app, "kind=sale").await;
    for (order, sale) in [first, second].into_iter().zip(&sales) {
        let ordered = lines(
            &app.get(&format!("/api/orders/{order}"), &app.admin)
                .await
                .expect(200)
                .body,
        );
        let sold = lines(
            &app.get(&format!("/api/sales/{sale}"), &app.admin)
                .await
                .expect(200)
                .body,
        );
        assert_eq!(sold, ordered, "the items of sale {sale} are order {order}'s");
        let reference = sale.to_string();
        for product in [a, b] {
            let out: i64 = exits["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["reference_id"] == reference.as_str() && m["product_id"] == product)
                .map(|m| -m["quantity"].as_i64().unwrap())
                .sum();
            let wanted: i64 = ordered.iter().filter(|(p, _)| *p == product).map(|(_, q)| q).sum();
            assert_eq!(out, wanted, "sale {sale}'s exits of product {product}");
        }
    }
    assert_eq!(level(&app, a, main).await, (7, 1, 6, 400));
    assert_eq!(level(&app, b, main).await, (1, 0, 1, 1000));
    // B's two sale exits chain their balances in movement order, from the 5 units it held.
    let exits = movements(&app, &format!("product_id={b}&kind=sale")).await;
    let mut exits: Vec<(i64, i64, i64)> = exits["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                id(m),
                m["quantity"].as_i64().unwrap(),
                m["balance_after"].as_i64().unwrap(),
            )
        })
        .collect();
    exits.sort_unstable();
    assert_eq!(exits.len(), 2);
    let mut balance = 5;
    for (_, quantity, after) in exits {
        balance += quantity;
        assert_eq!(after, balance, "balances chained across the batch");
    }
    assert_eq!(balance, 1);
    assert_no_drift(&app).await;

    // One short order fails the batch as a whole: the caller rolls back, nothing changed.
    let short = pending_order(&app, &[(a, 6)]).await;
    let fits = pending_order(&app, &[(a, 1)]).await;
    let before = written(&app).await;
    match together(&app, &[fits, short], OrderAction::Confirm).await {
        Err(StoreError::Insufficient(lines)) => assert_eq!(lines.len(), 1),
        other => panic!("expected a shortage, got {other:?}"),
    }
    assert_eq!(level(&app, a, main).await, (7, 1, 6, 400));
    assert_eq!(written(&app).await, before);
    for order in [fits, short] {
        let now = app
            .get(&format!("/api/orders/{order}"), &app.admin)
            .await
            .expect(200)
            .body;
        assert_eq!(now["status"], "pending");
    }

    // An order twice in one batch is refused before anything runs.
    assert!(together(&app, &[fits, fits], OrderAction::Confirm).await.is_err());
    assert_eq!(level(&app, a, main).await, (7, 1, 6, 400));
    assert_no_drift(&app).await;
}

/// `PUT /api/orders/{id}` replaces a pending order's items (priced as the products are now),
/// customer, discount and notes, with an audit entry and an `order.updated` event; bad input is
/// a 422 that changes nothing; once confirmed the order no longer changes (409), and what is
/// reserved and shipped is what the order holds after its last change.
async fn a_pending_order_changes_until_it_is_confirmed(app: TestApp) {
    let main = main_warehouse(&app).await;
    let a = simple_product(&app, "CHG-A", 1_000, 400, 10).await;
    let b = simple_product(&app, "CHG-B", 2_500, 900, 10).await;
    let order = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": a, "quantity": 2}], "notes": "first"}),
        )
        .await
        .expect(201)
        .body;
    let oid = id(&order);
    assert_eq!(order["revision"], 0);

    // B's price changes before the order does: the new line takes today's price.
    app.put(
        &format!("/api/products/{b}"),
        &app.admin,
        json!({"sku": "CHG-B", "name": "Producto B", "price": 2_700, "cost": 900, "low_stock_threshold": 0}),
    )
    .await
    .expect(200);

    let changed = app
        .put(
            &format!("/api/orders/{oid}"),
            &app.admin,
            json!({"items": [{"product_id": b, "quantity": 3}, {"product_id": a, "quantity": 1, "unit_price": 800}],
                   "discount": 100, "notes": "second"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(changed["revision"], 1);
    assert_eq!(changed["status"], "pending");
    assert_eq!(changed["notes"], "second");
    let items: Vec<(i64, i64, i64)> = changed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["product_id"].as_i64().unwrap(),
                i["quantity"].as_i64().unwrap(),
                i["unit_price"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(items, [(a, 1, 800), (b, 3, 2_700)], "{changed}");
    assert_eq!(changed["subtotal"], 800 + 3 * 2_700);
    assert_eq!(changed["total"], 800 + 3 * 2_700 - 100);
    let audit = app
        .get(
            &format!("/api/audit?resource=order&resource_id={oid}&action=update"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(audit["total"], 1, "{audit}");
    let events = {
        let mut conn = app.state.db.read().await.unwrap();
        bodega_store::outbox::list(&mut conn.conn(), Some("erp.orders"), 0, 1_000)
            .await
            .unwrap()
    };
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "order.updated" && e.event_key.as_deref() == Some(&oid.to_string())),
        "no order.updated event"
    );

    // Refused changes leave everything as it was.
    let before = written(&app).await;
    let path = format!("/api/orders/{oid}");
    app.put(&path, &app.admin, json!({"items": []}))
        .await
        .expect_error(422, "validation", Some("items"));
    app.put(
        &path,
        &app.admin,
        json!({"items": [{"product_id": 999_999, "quantity": 1}]}),
    )
    .await
    .expect_error(422, "validation", Some("items[0].product_id"));
    app.put(
        &path,
        &app.admin,
        json!({"items": [{"product_id": a, "quantity": 1}], "discount": 5_000}),
    )
    .await
    .expect_error(422, "validation", Some("discount"));
    app.put(
        &path,
        &app.admin,
        json!({"items": [{"product_id": a, "quantity": 1}], "warehouse_id": 999_999}),
    )
    .await
    .expect_error(422, "validation", Some("warehouse_id"));
    app.put(
        &path,
        &app.admin,
        json!({"items": [{"product_id": a, "quantity": 1}], "customer_id": 999_999}),
    )
    .await
    .expect_error(422, "validation", Some("customer_id"));
    app.put(
        "/api/orders/999999",
        &app.admin,
        json!({"items": [{"product_id": a, "quantity": 1}]}),
    )
    .await
    .expect(404);
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");
    assert_eq!(app.get(&path, &app.admin).await.expect(200).body, changed);

    // Confirmed: what is reserved is what the order holds now; it no longer changes.
    step(&app, oid, "confirm").await.expect(200);
    assert_eq!(level(&app, a, main).await.1, 1, "A reserved");
    assert_eq!(level(&app, b, main).await.1, 3, "B reserved");
    let refused = app
        .put(&path, &app.admin, json!({"items": [{"product_id": a, "quantity": 1}]}))
        .await
        .expect_error(409, "conflict", None)
        .body;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only a pending order"),
        "{refused}"
    );
    let shipped = step(&app, oid, "ship").await.expect(200).body;
    let sale = app
        .get(&format!("/api/sales/{}", shipped["sale_id"]), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(sale["total"], changed["total"], "{sale}");
    assert_eq!(level(&app, b, main).await, (7, 0, 7, 900));
    assert_no_drift(&app).await;
}

/// An order of `items` (`(product, quantity)`) with everything else left out.
fn new_order(items: &[(i64, i64)]) -> NewOrder {
    NewOrder {
        customer_id: None,
        warehouse_id: None,
        items: items
            .iter()
            .map(|&(product_id, quantity)| LineRequest {
                product_id,
                quantity,
                unit_price: None,
            })
            .collect(),
        discount: 0,
        notes: None,
        idempotency_key: None,
        request_hash: None,
    }
}

/// Creates `requests` together (what the API does with concurrent creates on PostgreSQL) and
/// commits: each outcome is the order's JSON and whether it was replayed, or the refusal.
async fn created_together(app: &TestApp, requests: &[NewOrder]) -> Vec<Result<(Value, bool), String>> {
    let actor = Actor::system("batch-test");
    let requests: Vec<(&Actor, &NewOrder)> = requests.iter().map(|new| (&actor, new)).collect();
    let mut tx = app.state.db.begin().await.unwrap();
    let outcomes = orders::create_all(&mut tx.conn(), &requests).await.unwrap();
    tx.commit().await.unwrap();
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(Created::New(order)) => Ok((serde_json::to_value(order).unwrap(), false)),
            Ok(Created::Replayed(order)) => Ok((serde_json::to_value(order).unwrap(), true)),
            Err(refused) => Err(refused.to_string()),
        })
        .collect()
}

async fn creates_run_together(app: TestApp) {
    let main = main_warehouse(&app).await;
    let a = simple_product(&app, "NEW-A", 1000, 400, 10).await;
    let b = simple_product(&app, "NEW-B", 2500, 1000, 5).await;
    let customer = id(&app
        .post(
            "/api/customers",
            &app.admin,
            json!({"first_name": "Ana", "last_name": "López", "email": "ana@test.cl"}),
        )
        .await
        .expect(201)
        .body);
    let before = written(&app).await;

    // Each request gets its own outcome: the refused ones write nothing.
    let keyed = NewOrder {
        customer_id: Some(customer),
        warehouse_id: Some(main),
        idempotency_key: Some("lote-1".into()),
        request_hash: Some("hash-1".into()),
        notes: Some("por la tarde".into()),
        discount: 500,
        ..new_order(&[(b, 1), (a, 2), (a, 1)])
    };
    let too_much_off = NewOrder {
        discount: 1001,
        ..new_order(&[(a, 1)])
    };
    let nowhere = NewOrder {
        warehouse_id: Some(999_999),
        ..new_order(&[(a, 1)])
    };
    let outcomes = created_together(
        &app,
        &[
            keyed,
            new_order(&[(999_999, 1)]),
            too_much_off,
            nowhere,
            new_order(&[(b, 2)]),
        ],
    )
    .await;
    assert_eq!(outcomes.len(), 5);
    let (first, replayed) = outcomes[0].as_ref().unwrap();
    assert!(!replayed);
    assert_eq!(first["status"], "pending");
    assert_eq!(first["warehouse_id"], main);
    assert_eq!(first["customer_name"], "Ana López");
    assert_eq!(first["customer_email"], "ana@test.cl");
    assert_eq!(first["notes"], "por la tarde");
    assert_eq!(
        (first["subtotal"].as_i64(), first["total"].as_i64()),
        (Some(5500), Some(5000))
    );
    // Lines merged and in product order, with the names, SKUs and prices of now.
    let items: Vec<(i64, String, i64, i64)> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["product_id"].as_i64().unwrap(),
                i["sku"].as_str().unwrap().to_string(),
                i["unit_price"].as_i64().unwrap(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(items, vec![(a, "NEW-A".into(), 1000, 3), (b, "NEW-B".into(), 2500, 1)]);
    assert_eq!(outcomes[1].as_ref().unwrap_err(), "no product 999999");
    assert_eq!(outcomes[2].as_ref().unwrap_err(), "discount exceeds the order subtotal");
    assert_eq!(outcomes[3].as_ref().unwrap_err(), "no active warehouse 999999");
    let (last, _) = outcomes[4].as_ref().unwrap();
    assert!(id(last) > id(first));
    assert_eq!(last["items"][0]["quantity"], 2);
    // What was returned is what was stored.
    for order in [first, last] {
        let stored = app
            .get(&format!("/api/orders/{}", id(order)), &app.admin)
            .await
            .expect(200)
            .body;
        assert_eq!(&stored, order);
    }
    // One audit entry and one `order.created` event per order created; no stock touched.
    let after = written(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 2));
    assert_eq!(level(&app, a, main).await, (10, 0, 10, 400));

    // A key already used: replayed with the same body, refused with another.
    let again = |hash: &str, customer_id| NewOrder {
        customer_id,
        idempotency_key: Some("lote-1".into()),
        request_hash: Some(hash.into()),
        ..new_order(&[(a, 1)])
    };
    let outcomes = created_together(
        &app,
        &[
            again("hash-1", Some(customer)),
            again("hash-2", Some(customer)),
            NewOrder {
                customer_id: Some(999_999),
                ..new_order(&[(a, 1)])
            },
        ],
    )
    .await;
    let (replay, replayed) = outcomes[0].as_ref().unwrap();
    assert!(replayed);
    assert_eq!(replay, first);
    assert_eq!(
        outcomes[1].as_ref().unwrap_err(),
        "this Idempotency-Key was already used with a different request body"
    );
    assert_eq!(outcomes[2].as_ref().unwrap_err(), "no customer 999999");
    assert_eq!(written(&app).await, after);
    assert_no_drift(&app).await;
}
