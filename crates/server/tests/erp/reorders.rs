//! Reorder requests: open → ordered → received (an entry at the request's cost), cancelled.

use serde_json::json;

use crate::common::{assert_no_drift, id, level, main_warehouse, movements, simple_product, written};
use crate::helpers::{Response, TestApp};

crate::on_both_stores!(reorder_life_cycle);

async fn advance(app: &TestApp, id: i64, status: &str) -> Response {
    app.post(
        &format!("/api/reorder-requests/{id}/status"),
        &app.admin,
        json!({"status": status}),
    )
    .await
}

async fn reorder_life_cycle(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "REO-1", 1000, 100, 10).await;
    assert_eq!(level(&app, p, main).await, (10, 0, 10, 100));

    let r1 = app
        .post(
            "/api/reorder-requests",
            &app.admin,
            json!({"product_id": p, "quantity": 10, "unit_cost": 200, "note": "urgente"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(r1["status"], "open");
    assert_eq!(r1["unit_cost"], 200);
    assert_eq!(r1["warehouse_id"], main);
    assert_eq!(r1["note"], "urgente");
    let r1 = id(&r1);
    // Nothing is booked until the goods arrive.
    assert_eq!(level(&app, p, main).await, (10, 0, 10, 100));

    let ordered = advance(&app, r1, "ordered").await.expect(200).body;
    assert_eq!(ordered["status"], "ordered");
    assert!(ordered["ordered_at"].is_string());
    advance(&app, r1, "ordered").await.expect_error(409, "conflict", None);
    let received = advance(&app, r1, "received").await.expect(200).body;
    assert_eq!(received["status"], "received");
    assert!(received["received_at"].is_string());
    // (10 × 100 + 10 × 200) / 20 = 150
    assert_eq!(level(&app, p, main).await, (20, 0, 20, 150));
    let entry = movements(&app, &format!("reference_type=reorder&reference_id={r1}")).await;
    assert_eq!(entry["total"], 1);
    assert_eq!(entry["items"][0]["kind"], "entry");
    assert_eq!(entry["items"][0]["quantity"], 10);
    assert_eq!(entry["items"][0]["unit_cost"], 200);
    assert_eq!(entry["items"][0]["balance_after"], 20);
    advance(&app, r1, "received").await.expect_error(409, "conflict", None);
    advance(&app, r1, "cancelled").await.expect_error(409, "conflict", None);
    advance(&app, r1, "ordered").await.expect_error(409, "conflict", None);

    // Without a unit cost the product's standard cost is used; cancelled is final.
    let r2 = app
        .post(
            "/api/reorder-requests",
            &app.admin,
            json!({"product_id": p, "quantity": 5}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(r2["unit_cost"], 100);
    let r2 = id(&r2);
    advance(&app, r2, "ordered").await.expect(200);
    let cancelled = advance(&app, r2, "cancelled").await.expect(200).body;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    advance(&app, r2, "received").await.expect_error(409, "conflict", None);
    advance(&app, r2, "ordered").await.expect_error(409, "conflict", None);
    advance(&app, r2, "lost")
        .await
        .expect_error(422, "validation", Some("status"));
    assert_eq!(level(&app, p, main).await, (20, 0, 20, 150));

    // Goods are received only against a placed order: open → received is refused and
    // changes nothing (no entry, no event, no audit entry).
    let r3 = id(&app
        .post(
            "/api/reorder-requests",
            &app.admin,
            json!({"product_id": p, "quantity": 20, "unit_cost": 300}),
        )
        .await
        .expect(201)
        .body);
    let before = written(&app).await;
    let skipped = advance(&app, r3, "received")
        .await
        .expect_error(409, "conflict", None)
        .body;
    assert!(
        skipped["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from open to received"),
        "{skipped}"
    );
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");
    assert_eq!(level(&app, p, main).await, (20, 0, 20, 150));
    let still_open = app
        .get(&format!("/api/reorder-requests/{r3}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(still_open["status"], "open");
    assert_eq!(still_open["received_at"], serde_json::Value::Null);
    assert_eq!(
        movements(&app, &format!("reference_type=reorder&reference_id={r3}")).await["total"],
        0
    );
    // Ordered, then received: (20 × 150 + 20 × 300) / 40 = 225.
    advance(&app, r3, "ordered").await.expect(200);
    advance(&app, r3, "received").await.expect(200);
    assert_eq!(level(&app, p, main).await, (40, 0, 40, 225));
    // An open request can still be cancelled directly.
    let r4 = id(&app
        .post(
            "/api/reorder-requests",
            &app.admin,
            json!({"product_id": p, "quantity": 1}),
        )
        .await
        .expect(201)
        .body);
    advance(&app, r4, "cancelled").await.expect(200);

    let list = |q: &str| {
        let app = &app;
        let uri = format!("/api/reorder-requests?{q}");
        async move { app.get(&uri, &app.admin).await.expect(200).body }
    };
    assert_eq!(list("").await["total"], 4);
    assert_eq!(list("status=received").await["total"], 2);
    assert_eq!(list("status=cancelled").await["total"], 2);
    assert_eq!(list(&format!("product_id={p}")).await["total"], 4);
    let got = app
        .get(&format!("/api/reorder-requests/{r3}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(got["status"], "received");
    app.get("/api/reorder-requests/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    advance(&app, 999_999, "ordered")
        .await
        .expect_error(404, "not_found", None);
    app.post(
        "/api/reorder-requests",
        &app.admin,
        json!({"product_id": 999_999, "quantity": 1}),
    )
    .await
    .expect_error(422, "validation", Some("product_id"));
    app.post(
        "/api/reorder-requests",
        &app.admin,
        json!({"product_id": p, "quantity": 0}),
    )
    .await
    .expect_error(422, "validation", Some("quantity"));
    assert_no_drift(&app).await;
}
