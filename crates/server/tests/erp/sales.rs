//! The till (`POST /api/pos/sales`), seed 002's sell-and-alert flow, low stock, and sales
//! listings and statistics.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};

use crate::common::{assert_no_drift, book, id, level, main_warehouse, movements, product, simple_product, written};
use crate::helpers::TestApp;

crate::on_both_stores!(
    pos_sales_all_or_nothing,
    sell_raises_one_alert,
    sales_list_and_stats,
    unreadable_lines_name_their_field,
    sales_record_how_they_were_paid
);

async fn pos_sales_all_or_nothing(app: TestApp) {
    let main = main_warehouse(&app).await;
    let x = simple_product(&app, "POS-X", 1000, 400, 5).await;
    let y = simple_product(&app, "POS-Y", 3000, 1200, 2).await;
    let sale = app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": y, "quantity": 1}, {"product_id": x, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(sale["channel"], "pos");
    assert_eq!(sale["total"], 5000);
    assert_eq!(sale["items_count"], 3);
    assert_eq!(sale["warehouse_id"], main);
    assert_eq!(sale["historical"], false);
    let items = sale["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            items[0]["product_id"].as_i64(),
            items[0]["quantity"].as_i64(),
            items[0]["unit_cost"].as_i64()
        ),
        (Some(x), Some(2), Some(400))
    );
    assert_eq!(items[0]["line_total"], 2000);
    assert_eq!(items[0]["sku"], "POS-X");
    assert_eq!(
        (
            items[1]["product_id"].as_i64(),
            items[1]["unit_price"].as_i64(),
            items[1]["unit_cost"].as_i64()
        ),
        (Some(y), Some(3000), Some(1200))
    );
    let sid = id(&sale);
    assert_eq!(level(&app, x, main).await, (3, 0, 3, 400));
    assert_eq!(level(&app, y, main).await, (1, 0, 1, 1200));
    assert_eq!(
        movements(&app, &format!("reference_type=sale&reference_id={sid}")).await["total"],
        2
    );

    // Both lines short: 409 lists both, and nothing is written.
    let before = written(&app).await;
    let refused = app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": x, "quantity": 4}, {"product_id": y, "quantity": 2}]}),
        )
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        refused["error"]["details"],
        json!([
            {"product_id": x, "sku": "POS-X", "product_name": "Producto POS-X", "warehouse_id": main, "requested": 4, "available": 3},
            {"product_id": y, "sku": "POS-Y", "product_name": "Producto POS-Y", "warehouse_id": main, "requested": 2, "available": 1},
        ])
    );
    // One short line of two: still nothing.
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": x, "quantity": 1}, {"product_id": y, "quantity": 2}]}),
    )
    .await
    .expect_error(409, "insufficient_stock", None);
    // A basket scanning one product twice is one line.
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": x, "quantity": 2}, {"product_id": x, "quantity": 2}]}),
    )
    .await
    .expect_error(409, "insufficient_stock", None);
    assert_eq!(level(&app, x, main).await, (3, 0, 3, 400));
    assert_eq!(level(&app, y, main).await, (1, 0, 1, 1200));
    assert_eq!(app.get("/api/sales", &app.admin).await.expect(200).body["total"], 1);
    assert_eq!(movements(&app, "reference_type=sale").await["total"], 2);
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");

    // A price given at the till overrides the catalogue.
    let discounted = app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": x, "quantity": 1, "unit_price": 800}]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(discounted["total"], 800);
    assert_eq!(discounted["items"][0]["unit_price"], 800);
    assert_eq!(level(&app, x, main).await, (2, 0, 2, 400));

    // Products that cannot be sold, bad input.
    let gone = simple_product(&app, "POS-GONE", 100, 10, 5).await;
    app.delete(&format!("/api/products/{gone}"), &app.admin)
        .await
        .expect(204);
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": gone, "quantity": 1}]}),
    )
    .await
    .expect_error(422, "validation", Some("items[0].product_id"));
    let inactive = id(&product(
        &app,
        json!({"sku": "POS-OFF", "name": "Apagado", "price": 100, "status": "inactive", "initial_stock": 5}),
    )
    .await);
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": inactive, "quantity": 1}]}),
    )
    .await
    .expect_error(422, "validation", Some("items[0].product_id"));
    app.post("/api/pos/sales", &app.admin, json!({"items": []}))
        .await
        .expect_error(422, "validation", Some("items"));
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": x, "quantity": 0}]}),
    )
    .await
    .expect_error(422, "validation", Some("items[0].quantity"));
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"customer_id": 999_999, "items": [{"product_id": x, "quantity": 1}]}),
    )
    .await
    .expect_error(422, "validation", Some("customer_id"));
    assert_eq!(app.get("/api/sales", &app.admin).await.expect(200).body["total"], 2);
    assert_no_drift(&app).await;
}

async fn sell_raises_one_alert(app: TestApp) {
    let main = main_warehouse(&app).await;
    let laptop = product(
        &app,
        json!({"name": "Laptop Dell", "keywords": ["laptop", "dell"], "stock": 12, "price": 500000}),
    )
    .await;
    assert_eq!(laptop["on_hand"], 12);
    assert_eq!(laptop["low_stock_threshold"], 10);
    assert_eq!(laptop["keywords"], json!(["laptop", "dell"]));
    let lid = id(&laptop);
    let alerts_of = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/alerts?{query}"), &app.admin)
                .await
                .expect(200)
                .body
        }
    };
    assert_eq!(alerts_of(format!("product_id={lid}")).await["total"], 0);

    let sold = app
        .post(&format!("/api/products/{lid}/sell"), &app.admin, json!({"quantity": 3}))
        .await
        .expect(201)
        .body;
    assert_eq!(sold["updated_stock"], 9);
    assert_eq!(sold["sale"]["total"], 1_500_000);
    assert_eq!(sold["sale"]["items"][0]["quantity"], 3);
    assert_eq!(sold["sale"]["items"][0]["unit_price"], 500000);
    let alert = &sold["alert"];
    assert_eq!(alert["product_name"], "Laptop Dell");
    assert_eq!(alert["product_id"], lid);
    assert_eq!(alert["warehouse_id"], main);
    assert_eq!(alert["current_stock"], 9);
    assert_eq!(alert["threshold"], 10);
    assert_eq!(alert["status"], "open");
    let message = alert["alert_message"].as_str().unwrap();
    assert!(message.contains("Laptop Dell") && message.contains('9'), "{message}");
    let alert_id = id(alert);

    // A second sale keeps the one alert.
    let again = app
        .post(&format!("/api/products/{lid}/sell"), &app.admin, json!({"quantity": 1}))
        .await
        .expect(201)
        .body;
    assert_eq!(again["updated_stock"], 8);
    assert_eq!(id(&again["alert"]), alert_id);
    assert_eq!(again["alert"]["current_stock"], 9);
    assert_eq!(alerts_of(format!("product_id={lid}")).await["total"], 1);

    let acked = app
        .post(&format!("/api/alerts/{alert_id}/ack"), &app.admin, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(acked["status"], "acknowledged");
    assert!(acked["acknowledged_at"].is_string());
    assert!(acked["acknowledged_by"].as_str().is_some_and(|s| !s.is_empty()));
    app.post(&format!("/api/alerts/{alert_id}/ack"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);
    app.post("/api/alerts/999999/ack", &app.admin, json!({}))
        .await
        .expect_error(404, "not_found", None);
    // Acknowledged is still live: no new alert.
    let third = app
        .post(&format!("/api/products/{lid}/sell"), &app.admin, json!({"quantity": 1}))
        .await
        .expect(201)
        .body;
    assert_eq!(third["updated_stock"], 7);
    assert_eq!(third["alert"]["status"], "acknowledged");
    assert_eq!(alerts_of(format!("product_id={lid}")).await["total"], 1);
    assert_eq!(alerts_of("status=acknowledged".into()).await["total"], 1);
    assert_eq!(alerts_of("status=open".into()).await["total"], 0);

    let low = app.get("/api/inventory/low-stock", &app.admin).await.expect(200).body;
    assert_eq!(
        low,
        json!([{"product_id": lid, "sku": laptop["sku"], "product_name": "Laptop Dell", "warehouse_id": main,
            "warehouse_name": "Bodega principal", "on_hand": 7, "reserved": 0, "available": 7, "threshold": 10}])
    );

    // Stock back above the threshold resolves it.
    book(&app, json!({"product_id": lid, "kind": "entry", "quantity": 10}))
        .await
        .expect(201);
    let resolved = alerts_of("status=resolved".into()).await;
    assert_eq!(resolved["total"], 1);
    assert_eq!(id(&resolved["items"][0]), alert_id);
    assert!(resolved["items"][0]["resolved_at"].is_string());
    assert_eq!(alerts_of("status=acknowledged".into()).await["total"], 0);
    let low = app.get("/api/inventory/low-stock", &app.admin).await.expect(200).body;
    assert_eq!(low, json!([]));
    app.post(&format!("/api/alerts/{alert_id}/ack"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);

    // Falling again opens a new alert; reservations count too (available, not on hand).
    let fourth = app
        .post(&format!("/api/products/{lid}/sell"), &app.admin, json!({"quantity": 7}))
        .await
        .expect(201)
        .body;
    assert_eq!(fourth["updated_stock"], 10);
    assert_eq!(fourth["alert"], Value::Null);
    app.post(
        "/api/stock/reservations",
        &app.admin,
        json!({"product_id": lid, "quantity": 2}),
    )
    .await
    .expect(201);
    let open = alerts_of("status=open".into()).await;
    assert_eq!(open["total"], 1);
    assert_ne!(id(&open["items"][0]), alert_id);
    assert_eq!(open["items"][0]["current_stock"], 8);
    assert_eq!(alerts_of(format!("product_id={lid}")).await["total"], 2);
    assert_eq!(alerts_of("product_id=999999".into()).await["total"], 0);
    app.get("/api/alerts?status=closed", &app.admin)
        .await
        .expect_error(422, "validation", Some("status"));
    let low = app.get("/api/inventory/low-stock", &app.admin).await.expect(200).body;
    assert_eq!(low[0]["available"], 8);
    assert_eq!(low[0]["reserved"], 2);
    assert_eq!(
        app.get("/api/inventory/low-stock?warehouse_id=999999", &app.admin)
            .await
            .expect(200)
            .body,
        json!([])
    );

    // Selling more than is available is refused and writes nothing.
    let refused = app
        .post(&format!("/api/products/{lid}/sell"), &app.admin, json!({"quantity": 9}))
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        refused["error"]["details"],
        json!([{"product_id": lid, "sku": laptop["sku"], "product_name": "Laptop Dell", "warehouse_id": main, "requested": 9, "available": 8}])
    );
    app.post(&format!("/api/products/{lid}/sell"), &app.admin, json!({"quantity": 0}))
        .await
        .expect_error(422, "validation", Some("quantity"));
    app.post(
        &format!("/api/products/{lid}/sell"),
        &app.admin,
        json!({"quantity": 1, "customer_id": 999_999}),
    )
    .await
    .expect_error(422, "validation", Some("customer_id"));
    app.post("/api/products/999999/sell", &app.admin, json!({"quantity": 1}))
        .await
        .expect_error(404, "not_found", None);
    assert_eq!(level(&app, lid, main).await, (10, 2, 8, 0));
    assert_eq!(app.get("/api/sales", &app.admin).await.expect(200).body["total"], 4);

    // Without a warehouse, a sale comes from where the product is in stock, not from the
    // first warehouse (which has none of it here).
    let shop = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "TIENDA-2", "name": "Tienda 2", "kind": "store"}),
        )
        .await
        .expect(201)
        .body);
    let elsewhere = simple_product(&app, "SOLO-TIENDA", 900, 300, 0).await;
    book(
        &app,
        json!({"product_id": elsewhere, "warehouse_id": shop, "kind": "entry", "quantity": 4}),
    )
    .await
    .expect(201);
    let sold = app
        .post(
            &format!("/api/products/{elsewhere}/sell"),
            &app.admin,
            json!({"quantity": 1}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        (sold["sale"]["warehouse_id"].as_i64(), sold["updated_stock"].as_i64()),
        (Some(shop), Some(3))
    );
    // Stocked nowhere: the first warehouse, which refuses it.
    let nowhere = simple_product(&app, "SIN-STOCK", 900, 300, 0).await;
    app.post(
        &format!("/api/products/{nowhere}/sell"),
        &app.admin,
        json!({"quantity": 1}),
    )
    .await
    .expect_error(409, "insufficient_stock", None);
    assert_no_drift(&app).await;
}

async fn sales_list_and_stats(app: TestApp) {
    let p1 = simple_product(&app, "ST-1", 1000, 400, 20).await;
    let p2 = simple_product(&app, "ST-2", 2500, 1000, 10).await;
    let customer = id(&app
        .post(
            "/api/customers",
            &app.admin,
            json!({"first_name": "Ana", "last_name": "Pérez", "email": "ana@test.cl"}),
        )
        .await
        .expect(201)
        .body);

    // S1: 3 × 1000 + 1 × 2500 = 5500, 4 units, cost 3 × 400 + 1000 = 2200 (customer).
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"customer_id": customer, "items": [{"product_id": p1, "quantity": 3}, {"product_id": p2, "quantity": 1}]}),
    )
    .await
    .expect(201);
    // S2: 1 × 800 (till price), 1 unit, cost 400.
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": p1, "quantity": 1, "unit_price": 800}]}),
    )
    .await
    .expect(201);
    // S3: 2 × 2500 = 5000, 2 units, cost 2000 (customer).
    app.post(
        &format!("/api/products/{p2}/sell"),
        &app.admin,
        json!({"quantity": 2, "customer_id": customer}),
    )
    .await
    .expect(201);
    // S4: an order of 2 × 1000 = 2000, 2 units, cost 800.
    let order = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": p1, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body);
    app.post(&format!("/api/orders/{order}/confirm"), &app.admin, json!({}))
        .await
        .expect(200);
    app.post(&format!("/api/orders/{order}/ship"), &app.admin, json!({}))
        .await
        .expect(200);

    let list = app.get("/api/sales", &app.admin).await.expect(200).body;
    assert_eq!(list["total"], 4);
    let totals: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, [2000, 5000, 800, 5500], "newest first");
    let by_order = app.get("/api/sales?channel=order", &app.admin).await.expect(200).body;
    assert_eq!(by_order["total"], 1);
    assert_eq!(by_order["items"][0]["order_id"], order);
    assert_eq!(
        app.get(&format!("/api/sales?customer_id={customer}"), &app.admin)
            .await
            .expect(200)
            .body["total"],
        2
    );
    assert_eq!(
        app.get("/api/sales?from=2999-01-01T00:00:00Z", &app.admin)
            .await
            .expect(200)
            .body["total"],
        0
    );
    app.get("/api/sales/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);

    let stats = |query: &str| {
        let app = &app;
        let uri = format!("/api/sales/stats?{query}");
        async move { app.get(&uri, &app.admin).await.expect(200).body }
    };
    // All: 4 sales, 5500 + 800 + 5000 + 2000 = 13300, 9 units, cost 2200 + 400 + 2000 + 800 = 5400.
    let all = stats("").await;
    assert_eq!(all["sales"], 4);
    assert_eq!(all["revenue"], 13300);
    assert_eq!(all["units"], 9);
    assert_eq!(all["gross_margin"], 13300 - 5400);
    assert_eq!(all["average_ticket"], 13300 / 4);
    assert_eq!(all["customers"], 1);
    // P2: 2500 + 5000 = 7500 over 3 units; P1: 3000 + 800 + 2000 = 5800 over 6 units.
    assert_eq!(
        all["top_products"],
        json!([
            {"product_id": p2, "sku": "ST-2", "product_name": "Producto ST-2", "units": 3, "revenue": 7500},
            {"product_id": p1, "sku": "ST-1", "product_name": "Producto ST-1", "units": 6, "revenue": 5800},
        ])
    );
    let pos = stats("channel=pos").await;
    assert_eq!(
        (pos["sales"].as_i64(), pos["revenue"].as_i64(), pos["units"].as_i64()),
        (Some(3), Some(11300), Some(7))
    );
    assert_eq!(pos["gross_margin"], 11300 - 4600);
    assert_eq!(pos["average_ticket"], 3766);
    // An unknown channel is refused, not answered with nothing.
    for path in ["/api/sales?channel=web", "/api/sales/stats?channel=POS"] {
        app.get(path, &app.admin)
            .await
            .expect_error(422, "validation", Some("channel"));
    }
    let orders = stats("channel=order").await;
    assert_eq!(
        (
            orders["sales"].as_i64(),
            orders["revenue"].as_i64(),
            orders["gross_margin"].as_i64()
        ),
        (Some(1), Some(2000), Some(1200))
    );
    assert_eq!(orders["average_ticket"], 2000);
    assert_eq!(orders["customers"], 0);
    assert_eq!(orders["top_products"][0]["units"], 2);
    let ana = stats(&format!("customer_id={customer}")).await;
    assert_eq!(
        (ana["sales"].as_i64(), ana["revenue"].as_i64(), ana["units"].as_i64()),
        (Some(2), Some(10500), Some(6))
    );
    assert_eq!(ana["gross_margin"], 10500 - 4200);
    assert_eq!(ana["average_ticket"], 5250);
    assert_eq!(stats("from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z").await, all);
    // A window from the third sale on: S3 and S4.
    let third_at = list["items"][1]["sold_at"].as_str().unwrap().to_string();
    let later = stats(&format!("from={}", third_at.replace('+', "%2B"))).await;
    assert_eq!(
        (
            later["sales"].as_i64(),
            later["revenue"].as_i64(),
            later["units"].as_i64()
        ),
        (Some(2), Some(7000), Some(4))
    );
    let earlier = stats(&format!("to={}", third_at.replace('+', "%2B"))).await;
    assert_eq!(
        (
            earlier["sales"].as_i64(),
            earlier["revenue"].as_i64(),
            earlier["units"].as_i64()
        ),
        (Some(2), Some(6300), Some(5))
    );
    let none = stats("from=2999-01-01T00:00:00Z").await;
    assert_eq!(
        none,
        json!({"sales": 0, "revenue": 0, "units": 0, "gross_margin": 0, "average_ticket": 0, "customers": 0,
            "returned_sales": 0, "returned_revenue": 0, "net_revenue": 0, "top_products": [],
            "by_payment_method": []})
    );
    assert_no_drift(&app).await;
}

/// A body that cannot be read names the line and field it failed at (`items[1].quantity`), or
/// the deepest part it could name, and writes nothing.
async fn unreadable_lines_name_their_field(app: TestApp) {
    let x = simple_product(&app, "POS-READ", 1000, 400, 5).await;
    let before = written(&app).await;
    let cases = [
        (
            format!(r#"{{"items":[{{"product_id":{x},"quantity":1}},{{"product_id":{x},"quantity":"two"}}]}}"#),
            422,
            "validation",
            Some("items[1].quantity"),
        ),
        (
            format!(r#"{{"items":[{{"product_id":{x}}}]}}"#),
            422,
            "validation",
            Some("items[0].quantity"),
        ),
        (
            format!(r#"{{"items":[{{"product_id":{x},"quantity": }}]}}"#),
            400,
            "bad_request",
            Some("items[0].quantity"),
        ),
        // A key that does not parse: the line it is on.
        (
            format!(r#"{{"items":[{{"product_id":{x},}}]}}"#),
            400,
            "bad_request",
            Some("items[0]"),
        ),
        (
            format!(r#"{{"items":[{{"product_id":{x}, quantity: 1}}]}}"#),
            400,
            "bad_request",
            Some("items[0]"),
        ),
        // Unreadable as a whole: no field.
        (
            format!(r#"{{"items":[{{"product_id":{x},"quantity":1}}],}}"#),
            400,
            "bad_request",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/pos/sales")
            .header("authorization", format!("Bearer {}", app.admin))
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let r = app.send(request).await.expect_error(status, code, field);
        let error = &r.body["error"];
        assert_eq!(error.get("field").and_then(Value::as_str), field, "{body}: {}", r.body);
    }
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");
}

/// A till sale records how it was paid (seed 003's "método de pago"); sales are listed and
/// summed by it, and a shipped order's sale records none.
async fn sales_record_how_they_were_paid(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "PAY-1", 1000, 400, 20).await;
    let till = |method: Option<&str>, quantity: i64| {
        let app = &app;
        let mut body = json!({"items": [{"product_id": p, "quantity": quantity}]});
        if let Some(m) = method {
            body["payment_method"] = json!(m);
        }
        async move { app.post("/api/pos/sales", &app.admin, body).await.expect(201).body }
    };
    let card = till(Some("card"), 2).await;
    let cash = till(Some("cash"), 1).await;
    let unrecorded = till(None, 1).await;
    assert_eq!(
        (
            &card["payment_method"],
            &cash["payment_method"],
            &unrecorded["payment_method"]
        ),
        (&json!("card"), &json!("cash"), &Value::Null)
    );
    let sold = app
        .post(
            &format!("/api/products/{p}/sell"),
            &app.admin,
            json!({"quantity": 3, "payment_method": "transfer"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(sold["sale"]["payment_method"], "transfer");
    assert_eq!(sold["sale"]["total"], 3000);
    let fetched = app
        .get(&format!("/api/sales/{}", id(&card)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(fetched["payment_method"], "card");
    // The live stream carries it too.
    let recorded: Vec<Value> = {
        let mut conn = app.state.db.read().await.unwrap();
        bodega_store::outbox::list(&mut conn.conn(), None, 0, 1_000_000)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "sale.recorded")
            .map(|e| e.payload_json()["data"].clone())
            .collect()
    };
    let method_of = |sale: &Value| {
        recorded
            .iter()
            .find(|d| d["sale_id"] == sale["id"])
            .map(|d| d["payment_method"].clone())
    };
    assert_eq!(method_of(&card), Some(json!("card")));
    assert_eq!(method_of(&unrecorded), Some(Value::Null));

    // A shipped order's sale records no method (an order knows whether it was paid, not how).
    let order = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body);
    for action in ["confirm", "process", "ship"] {
        app.post(&format!("/api/orders/{order}/{action}"), &app.admin, json!({}))
            .await
            .expect(200);
    }
    let shipped = app.get("/api/sales?channel=order", &app.admin).await.expect(200).body;
    assert_eq!(shipped["total"], 1);
    assert_eq!(shipped["items"][0]["order_id"], order);
    assert_eq!(shipped["items"][0]["payment_method"], Value::Null);

    // An unknown method is refused, naming the field and the methods, and writes nothing.
    let before = (written(&app).await, level(&app, p, main).await);
    for method in ["bitcoin", "Card", ""] {
        let refused = app
            .post(
                "/api/pos/sales",
                &app.admin,
                json!({"payment_method": method, "items": [{"product_id": p, "quantity": 1}]}),
            )
            .await
            .expect_error(422, "validation", Some("payment_method"))
            .body;
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("cash, card, transfer, credit, voucher, other"),
            "{message}"
        );
        app.post(
            &format!("/api/products/{p}/sell"),
            &app.admin,
            json!({"quantity": 1, "payment_method": method}),
        )
        .await
        .expect_error(422, "validation", Some("payment_method"));
    }
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"payment_method": 7, "items": [{"product_id": p, "quantity": 1}]}),
    )
    .await
    .expect(422);
    assert_eq!((written(&app).await, level(&app, p, main).await), before);
    assert_eq!(app.get("/api/sales", &app.admin).await.expect(200).body["total"], 5);

    // Listed by method; an unknown one is a 422, not an empty page.
    let listed = |query: &'static str| {
        let app = &app;
        async move {
            let page = app
                .get(&format!("/api/sales?{query}"), &app.admin)
                .await
                .expect(200)
                .body;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("payment_method=card").await, [id(&card)]);
    assert_eq!(listed("payment_method=cash").await, [id(&cash)]);
    assert_eq!(listed("payment_method=transfer").await, [id(&sold["sale"])]);
    assert_eq!(listed("payment_method=voucher").await, Vec::<i64>::new());
    assert_eq!(listed("payment_method=cash&channel=order").await, Vec::<i64>::new());
    app.get("/api/sales?payment_method=cheque", &app.admin)
        .await
        .expect_error(422, "validation", Some("payment_method"));

    // The stats split the sales by method, largest revenue first, not recorded last among
    // equals; the split adds up to the totals.
    let stats = app.get("/api/sales/stats", &app.admin).await.expect(200).body;
    assert_eq!(
        (stats["sales"].as_i64(), stats["revenue"].as_i64()),
        (Some(5), Some(8000))
    );
    assert_eq!(
        stats["by_payment_method"],
        json!([
            {"payment_method": "transfer", "sales": 1, "revenue": 3000},
            {"payment_method": "card", "sales": 1, "revenue": 2000},
            {"payment_method": null, "sales": 2, "revenue": 2000},
            {"payment_method": "cash", "sales": 1, "revenue": 1000},
        ])
    );
    let card_only = app
        .get("/api/sales/stats?payment_method=card", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (card_only["sales"].as_i64(), card_only["revenue"].as_i64()),
        (Some(1), Some(2000))
    );
    assert_eq!(card_only["units"], 2);
    assert_eq!(card_only["top_products"][0]["units"], 2);
    assert_eq!(
        card_only["by_payment_method"],
        json!([{"payment_method": "card", "sales": 1, "revenue": 2000}])
    );
    let none = app
        .get("/api/sales/stats?payment_method=voucher", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (none["sales"].as_i64(), none["by_payment_method"].clone()),
        (Some(0), json!([]))
    );
    app.get("/api/sales/stats?payment_method=cheque", &app.admin)
        .await
        .expect_error(422, "validation", Some("payment_method"));
    assert_no_drift(&app).await;
}
