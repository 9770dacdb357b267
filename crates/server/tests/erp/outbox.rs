//! The outbox: a sale writes its events in the same transaction; the relay hands them to
//! subscribers in order and marks them published.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use bodega_store::outbox;

use crate::common::{assert_no_drift, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(sale_events_are_written_and_relayed);

async fn sale_events_are_written_and_relayed(app: TestApp) {
    let p1 = id_of_product(&app, "EVT-1", 1000, 6, 5).await;
    let p2 = simple_product(&app, "EVT-2", 2500, 900, 10).await;
    // Publish what setting up wrote, so only the sale's events are pending.
    let setup = app.state.events.publish_pending(&app.state.db, 10_000).await.unwrap();
    assert!(setup > 0);
    let mut rx = app.state.events.subscribe();

    // 2 × P1 leaves 4 < 5 available: an alert opens.
    let sale = app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": p2, "quantity": 1}, {"product_id": p1, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body;
    let sale_id = sale["id"].as_i64().unwrap();

    let pending = {
        let mut conn = app.state.db.read().await.unwrap();
        outbox::unpublished(&mut conn.conn(), 1000).await.unwrap()
    };
    let topics: Vec<&str> = pending.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "erp.sales",
            "erp.sales_items",
            "erp.sales_items",
            "erp.stock",
            "erp.alerts",
            "erp.stock"
        ]
    );
    let types: Vec<&str> = pending.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "sale.recorded",
            "sale_item.recorded",
            "sale_item.recorded",
            "stock.moved",
            "alert.raised",
            "stock.moved"
        ]
    );
    let mut ids = HashSet::new();
    for e in &pending {
        let envelope = e.payload_json();
        assert_eq!(envelope["schema_version"], 1, "{envelope}");
        assert_eq!(envelope["event_id"], e.event_id.as_str());
        assert_eq!(envelope["event_type"], e.event_type.as_str());
        assert!(envelope["occurred_at"].is_string());
        assert!(ids.insert(e.event_id.clone()), "duplicate event id {}", e.event_id);
    }
    let header = pending[0].payload_json();
    assert_eq!(header["data"]["sale_id"], sale_id);
    assert_eq!(header["data"]["total"], 4500);
    assert_eq!(header["data"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(pending[0].event_key.as_deref(), Some(sale_id.to_string().as_str()));
    let line = |i: usize| pending[i].payload_json()["data"].clone();
    assert_eq!(
        (
            line(1)["product_id"].as_i64(),
            line(1)["quantity"].as_i64(),
            line(1)["unit_price"].as_i64()
        ),
        (Some(p1), Some(2), Some(1000))
    );
    assert_eq!(
        (
            line(2)["product_id"].as_i64(),
            line(2)["quantity"].as_i64(),
            line(2)["unit_price"].as_i64()
        ),
        (Some(p2), Some(1), Some(2500))
    );
    assert_eq!(line(3)["movement"]["product_id"], p1);
    assert_eq!(line(3)["available"], 4);
    assert_eq!(line(4)["product_id"], p1);
    assert_eq!(line(4)["current_stock"], 4);
    assert_eq!(line(5)["movement"]["product_id"], p2);
    assert_eq!(line(5)["available"], 9);

    // The relay hands them out in order, then they are published.
    let published = app.state.events.publish_pending(&app.state.db, 1000).await.unwrap();
    assert_eq!(published, 6);
    let mut last_seq = 0;
    for expected in &pending {
        let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("event within 5 s")
            .expect("event");
        assert_eq!(event.event_id, expected.event_id);
        assert_eq!(event.topic, expected.topic);
        assert_eq!(event.seq, expected.id);
        assert!(event.seq > last_seq);
        last_seq = event.seq;
        assert_eq!(event.payload()["schema_version"], 1);
        assert_eq!(event.data(), &expected.payload_json()["data"]);
    }
    assert!(rx.try_recv().is_err(), "no more events");
    let left = {
        let mut conn = app.state.db.read().await.unwrap();
        outbox::unpublished(&mut conn.conn(), 1000).await.unwrap()
    };
    assert!(left.is_empty());
    assert_eq!(app.state.events.publish_pending(&app.state.db, 1000).await.unwrap(), 0);
    assert!(rx.try_recv().is_err());
    // The rows stay for replays.
    let sales_topic = {
        let mut conn = app.state.db.read().await.unwrap();
        outbox::list(&mut conn.conn(), Some("erp.sales_items"), 0, 1000)
            .await
            .unwrap()
    };
    assert_eq!(sales_topic.len(), 2);
    assert_no_drift(&app).await;
}

/// A product with a low-stock threshold.
async fn id_of_product(app: &TestApp, sku: &str, price: i64, stock: i64, threshold: i64) -> i64 {
    let body = json!({"sku": sku, "name": format!("Producto {sku}"), "price": price, "cost": 300,
        "initial_stock": stock, "low_stock_threshold": threshold});
    crate::common::id(&crate::common::product(app, body).await)
}
