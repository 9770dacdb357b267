//! Domain events of changes outside sales and orders: customers, standalone reservations
//! (made, released, expired), warehouses and categories, and the alerts a product's new
//! threshold or status opens or resolves. Each is read back from the outbox, in order.

use axum::http::Method;
use serde_json::{json, Value};

use bodega_store::outbox::{self, OutboxEvent};

use crate::common::{assert_no_drift, book, id, main_warehouse, product, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(
    customer_changes_are_announced,
    standalone_reservations_are_announced,
    warehouses_and_categories_are_announced,
    a_new_threshold_or_status_reevaluates_alerts,
);

/// The id of the newest event in the outbox (0 when empty): what follows it is a test's own.
async fn last_event(app: &TestApp) -> i64 {
    let mut conn = app.state.db.read().await.unwrap();
    outbox::list(&mut conn.conn(), None, 0, 1_000_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.id)
}

/// The events written after event `after`, in order, each checked for its envelope.
async fn events_after(app: &TestApp, after: i64) -> Vec<OutboxEvent> {
    let events = {
        let mut conn = app.state.db.read().await.unwrap();
        outbox::list(&mut conn.conn(), None, after, 1000).await.unwrap()
    };
    for e in &events {
        let envelope = e.payload_json();
        assert_eq!(envelope["schema_version"], 1, "{envelope}");
        assert_eq!(envelope["event_id"], e.event_id.as_str());
        assert_eq!(envelope["event_type"], e.event_type.as_str());
        assert!(envelope["occurred_at"].is_string(), "{envelope}");
    }
    events
}

/// `(topic, event type)` of each event.
fn kinds(events: &[OutboxEvent]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|e| (e.topic.as_str(), e.event_type.as_str()))
        .collect()
}

fn data(e: &OutboxEvent) -> Value {
    e.payload_json()["data"].clone()
}

async fn customer_changes_are_announced(app: TestApp) {
    let mark = last_event(&app).await;
    let created = app
        .post(
            "/api/customers",
            &app.admin,
            json!({"first_name": "Ana", "last_name": "Pérez", "email": "ana@tienda.cl"}),
        )
        .await
        .expect(201)
        .body;
    let cid = id(&created);
    let replaced = app
        .put(
            &format!("/api/customers/{cid}"),
            &app.admin,
            json!({"first_name": "Ana María", "last_name": "Pérez", "phone": "+56 9 1234 5678"}),
        )
        .await
        .expect(200)
        .body;
    app.delete(&format!("/api/customers/{cid}"), &app.admin)
        .await
        .expect(204);
    // Refused: no change, no event.
    app.put(
        &format!("/api/customers/{cid}"),
        &app.admin,
        json!({"first_name": "Nadie"}),
    )
    .await
    .expect_error(404, "not_found", None);
    // Employees and suppliers have no topic.
    app.post(
        "/api/employees",
        &app.admin,
        json!({"employee_code": "E-0001", "first_name": "Eva"}),
    )
    .await
    .expect(201);
    app.post("/api/suppliers", &app.admin, json!({"name": "Proveedor Uno"}))
        .await
        .expect(201);

    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [
            ("erp.customers", "customer.created"),
            ("erp.customers", "customer.updated"),
            ("erp.customers", "customer.deleted")
        ]
    );
    for e in &events {
        assert_eq!(e.event_key.as_deref(), Some(cid.to_string().as_str()));
    }
    // The payload is the customer as the API shows it; a deleted one as it was.
    assert_eq!(data(&events[0]), created);
    assert_eq!(data(&events[1]), replaced);
    assert_eq!(data(&events[2]), replaced);
}

async fn standalone_reservations_are_announced(app: TestApp) {
    let main = main_warehouse(&app).await;
    // 10 units, alert below 5.
    let p = id(&product(
        &app,
        json!({"sku": "EVR-1", "name": "Producto EVR-1", "price": 1000, "cost": 300,
            "initial_stock": 10, "low_stock_threshold": 5}),
    )
    .await);
    let key = format!("{p}:{main}");
    let reserve = |quantity: i64, ttl: i64| {
        let app = &app;
        async move {
            id(&app
                .post(
                    "/api/stock/reservations",
                    &app.admin,
                    json!({"product_id": p, "quantity": quantity, "expires_in_seconds": ttl}),
                )
                .await
                .expect(201)
                .body)
        }
    };
    // Each event's reservation, key and level after it.
    let check = |e: &OutboxEvent, reservation: i64, status: &str, level: (i64, i64, i64)| {
        let d = data(e);
        assert_eq!(e.event_key.as_deref(), Some(key.as_str()));
        assert_eq!(d["reservation"]["id"], reservation, "{d}");
        assert_eq!(d["reservation"]["status"], status, "{d}");
        assert_eq!(d["reservation"]["product_id"], p);
        assert_eq!(d["reservation"]["warehouse_id"], main);
        assert_eq!(
            (d["on_hand"].as_i64(), d["reserved"].as_i64(), d["available"].as_i64()),
            (Some(level.0), Some(level.1), Some(level.2)),
            "{d}"
        );
    };

    // 10 → 7 available: no alert.
    let mark = last_event(&app).await;
    let r1 = reserve(3, 0).await;
    let events = events_after(&app, mark).await;
    assert_eq!(kinds(&events), [("erp.stock", "stock.reserved")]);
    check(&events[0], r1, "active", (10, 3, 7));
    assert_eq!(data(&events[0])["reservation"]["quantity"], 3);

    // 7 → 4 available raises the alert, after the reservation that caused it.
    let mark = last_event(&app).await;
    let r2 = reserve(3, 1).await;
    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [("erp.stock", "stock.reserved"), ("erp.alerts", "alert.raised")]
    );
    check(&events[0], r2, "active", (10, 6, 4));
    assert_eq!(data(&events[1])["current_stock"], 4);

    // The release gives 3 back (7 available): the alert resolves after it.
    let mark = last_event(&app).await;
    app.post(&format!("/api/stock/reservations/{r1}/release"), &app.admin, json!({}))
        .await
        .expect(200);
    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [("erp.stock", "stock.released"), ("erp.alerts", "alert.resolved")]
    );
    check(&events[0], r1, "released", (10, 3, 7));

    // The expiry job's release is announced as such.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let mark = last_event(&app).await;
    assert_eq!(app.state.expire_reservations().await.unwrap(), 1);
    let events = events_after(&app, mark).await;
    assert_eq!(kinds(&events), [("erp.stock", "stock.expired")]);
    check(&events[0], r2, "expired", (10, 0, 10));

    // A refused reservation writes nothing.
    let mark = last_event(&app).await;
    app.post(
        "/api/stock/reservations",
        &app.admin,
        json!({"product_id": p, "quantity": 11}),
    )
    .await
    .expect_error(409, "insufficient_stock", None);
    assert_eq!(events_after(&app, mark).await.len(), 0);

    // An order's reservations are the order's events' business: its confirm and its cancel
    // write no `stock.*` event (the confirm is the orders benchmark's hot path).
    let order = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body);
    let mark = last_event(&app).await;
    app.post(&format!("/api/orders/{order}/confirm"), &app.admin, json!({}))
        .await
        .expect(200);
    app.post(&format!("/api/orders/{order}/cancel"), &app.admin, json!({}))
        .await
        .expect(200);
    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [("erp.orders", "order.confirmed"), ("erp.orders", "order.cancelled")]
    );
    assert_no_drift(&app).await;
}

async fn warehouses_and_categories_are_announced(app: TestApp) {
    let mark = last_event(&app).await;
    let store = app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "STGO-01", "name": "Tienda Santiago", "kind": "store"}),
        )
        .await
        .expect(201)
        .body;
    let wid = id(&store);
    let renamed = app
        .put(
            &format!("/api/warehouses/{wid}"),
            &app.admin,
            json!({"code": "STGO-01", "name": "Tienda Santiago Centro", "kind": "store", "is_active": false}),
        )
        .await
        .expect(200)
        .body;
    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [
            ("erp.products", "warehouse.created"),
            ("erp.products", "warehouse.updated")
        ]
    );
    // Keyed by kind: never taken for a product id, which keys the topic's product events.
    let warehouse_key = format!("warehouse:{wid}");
    assert!(events
        .iter()
        .all(|e| e.event_key.as_deref() == Some(warehouse_key.as_str())));
    assert_eq!(data(&events[0]), store);
    assert_eq!(data(&events[1]), renamed);

    let mark = last_event(&app).await;
    let ropa = app
        .post("/api/categories", &app.admin, json!({"name": "Ropa"}))
        .await
        .expect(201)
        .body;
    let ropa_id = id(&ropa);
    let mujer = app
        .post(
            "/api/categories",
            &app.admin,
            json!({"name": "Mujer", "parent_id": ropa_id}),
        )
        .await
        .expect(201)
        .body;
    let mujer_id = id(&mujer);
    let vestidos_id = id(&app
        .post(
            "/api/categories",
            &app.admin,
            json!({"name": "Vestidos", "parent_id": mujer_id}),
        )
        .await
        .expect(201)
        .body);
    // A rename moves the paths under it: each descendant's new path is announced too.
    let vestuario = app
        .put(
            &format!("/api/categories/{ropa_id}"),
            &app.admin,
            json!({"name": "Vestuario"}),
        )
        .await
        .expect(200)
        .body;
    // Refused (it has a sub-category): nothing written.
    app.delete(&format!("/api/categories/{mujer_id}"), &app.admin)
        .await
        .expect_error(409, "conflict", None);
    app.delete(&format!("/api/categories/{vestidos_id}"), &app.admin)
        .await
        .expect(204);

    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [
            ("erp.products", "category.created"),
            ("erp.products", "category.created"),
            ("erp.products", "category.created"),
            ("erp.products", "category.updated"),
            ("erp.products", "category.updated"),
            ("erp.products", "category.updated"),
            ("erp.products", "category.deleted")
        ]
    );
    let keys: Vec<Option<&str>> = events.iter().map(|e| e.event_key.as_deref()).collect();
    let key = |id: i64| format!("category:{id}");
    let (k_ropa, k_mujer, k_vestidos) = (key(ropa_id), key(mujer_id), key(vestidos_id));
    assert_eq!(
        keys,
        [
            Some(k_ropa.as_str()),
            Some(k_mujer.as_str()),
            Some(k_vestidos.as_str()),
            Some(k_ropa.as_str()),
            Some(k_mujer.as_str()),
            Some(k_vestidos.as_str()),
            Some(k_vestidos.as_str())
        ]
    );
    assert_eq!(data(&events[0]), ropa);
    assert_eq!(data(&events[1]), mujer);
    assert_eq!(data(&events[3]), vestuario);
    let paths: Vec<Value> = events[3..].iter().map(|e| data(e)["path"].clone()).collect();
    assert_eq!(
        paths,
        [
            "Vestuario",
            "Vestuario / Mujer",
            "Vestuario / Mujer / Vestidos",
            "Vestuario / Mujer / Vestidos"
        ]
    );
    // The tree as the API shows it now agrees with the last events.
    let mujer_now = app
        .get(&format!("/api/categories/{mujer_id}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(data(&events[4]), mujer_now);
}

async fn a_new_threshold_or_status_reevaluates_alerts(app: TestApp) {
    let main = main_warehouse(&app).await;
    let store = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "STGO-01", "name": "Tienda Santiago", "kind": "store"}),
        )
        .await
        .expect(201)
        .body);
    // 12 in MAIN, 3 in the store: the store is below 10.
    let p = id(&product(
        &app,
        json!({"sku": "THR-1", "name": "Producto THR-1", "price": 1000, "cost": 300,
            "initial_stock": 12, "warehouse_id": main, "low_stock_threshold": 10}),
    )
    .await);
    book(
        &app,
        json!({"product_id": p, "warehouse_id": store, "kind": "entry", "quantity": 3}),
    )
    .await
    .expect(201);
    // Another product's alert stays as it is whatever happens to this one.
    let other = simple_product(&app, "THR-2", 1000, 300, 1).await;
    app.call(
        Method::PATCH,
        &format!("/api/products/{other}"),
        &app.admin,
        Some(json!({"low_stock_threshold": 5})),
    )
    .await
    .expect(200);
    // The other product's threshold alone raised its alert (1 < 5).
    assert_eq!(live(&app).await, [(p, store), (other, main)]);
    assert_eq!(low(&app).await, live(&app).await);
    let patch = |body: Value| {
        let app = &app;
        async move {
            let mark = last_event(app).await;
            app.call(Method::PATCH, &format!("/api/products/{p}"), &app.admin, Some(body))
                .await
                .expect(200);
            events_after(app, mark).await
        }
    };
    // Each alert event's (warehouse, type) after the product's own event.
    let alert_events = |events: &[OutboxEvent]| -> Vec<(i64, String)> {
        assert_eq!(kinds(&events[..1]), [("erp.products", "product.updated")]);
        events[1..]
            .iter()
            .map(|e| {
                assert_eq!(e.topic, "erp.alerts");
                assert_eq!(data(e)["product_id"], p);
                (data(e)["warehouse_id"].as_i64().unwrap(), e.event_type.clone())
            })
            .collect()
    };
    let (raised, resolved) = ("alert.raised".to_string(), "alert.resolved".to_string());

    // 10 → 2: the store's 3 units are no longer low.
    let events = patch(json!({"low_stock_threshold": 2})).await;
    assert_eq!(alert_events(&events), [(store, resolved.clone())]);
    assert_eq!(live(&app).await, [(other, main)]);
    assert_eq!(low(&app).await, live(&app).await);

    // A change that leaves threshold and status alone evaluates nothing.
    let events = patch(json!({"price": 1200})).await;
    assert_eq!(alert_events(&events), []);

    // 2 → 20: both warehouses are low, in warehouse order.
    let events = patch(json!({"low_stock_threshold": 20})).await;
    assert_eq!(alert_events(&events), [(main, raised.clone()), (store, raised.clone())]);
    let opened = &events[1];
    assert_eq!(data(opened)["current_stock"], 12);
    assert_eq!(data(opened)["threshold"], 20);
    assert_eq!(live(&app).await, [(p, main), (p, store), (other, main)]);
    assert_eq!(low(&app).await, live(&app).await);

    // Inactive products have no alerts; back to active, they are low again.
    let events = patch(json!({"status": "inactive"})).await;
    assert_eq!(
        alert_events(&events),
        [(main, resolved.clone()), (store, resolved.clone())]
    );
    assert_eq!(live(&app).await, [(other, main)]);
    assert_eq!(low(&app).await, live(&app).await);
    let events = patch(json!({"status": "active"})).await;
    assert_eq!(alert_events(&events), [(main, raised.clone()), (store, raised)]);

    // A PUT is the same update: 5 leaves only the store low.
    let mark = last_event(&app).await;
    app.put(
        &format!("/api/products/{p}"),
        &app.admin,
        json!({"sku": "THR-1", "name": "Producto THR-1", "price": 1200, "cost": 300,
            "low_stock_threshold": 5}),
    )
    .await
    .expect(200);
    let events = events_after(&app, mark).await;
    assert_eq!(alert_events(&events), [(main, resolved.clone())]);
    assert_eq!(live(&app).await, [(p, store), (other, main)]);
    assert_eq!(low(&app).await, live(&app).await);

    // Retired (discontinued): its live alerts resolve.
    let mark = last_event(&app).await;
    app.delete(&format!("/api/products/{p}"), &app.admin).await.expect(204);
    let events = events_after(&app, mark).await;
    assert_eq!(
        kinds(&events),
        [("erp.products", "product.deleted"), ("erp.alerts", "alert.resolved")]
    );
    assert_eq!(data(&events[1])["warehouse_id"], store);
    assert_eq!(live(&app).await, [(other, main)]);
    assert_eq!(low(&app).await, live(&app).await);
    assert_no_drift(&app).await;
}

/// `(product, warehouse)` of each line of `GET /api/inventory/low-stock`, sorted.
async fn low(app: &TestApp) -> Vec<(i64, i64)> {
    let list = app.get("/api/inventory/low-stock", &app.admin).await.expect(200).body;
    let mut pairs: Vec<(i64, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["product_id"].as_i64().unwrap(), l["warehouse_id"].as_i64().unwrap()))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// `(product, warehouse)` of each live (open or acknowledged) alert, sorted.
async fn live(app: &TestApp) -> Vec<(i64, i64)> {
    let mut pairs = Vec::new();
    for status in ["open", "acknowledged"] {
        let page = app
            .get(&format!("/api/alerts?status={status}&per_page=100"), &app.admin)
            .await
            .expect(200)
            .body;
        for a in page["items"].as_array().unwrap() {
            pairs.push((a["product_id"].as_i64().unwrap(), a["warehouse_id"].as_i64().unwrap()));
        }
    }
    pairs.sort_unstable();
    pairs
}
