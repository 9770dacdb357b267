//! ERP writes leave audit entries with who, what and a before/after summary.

use serde_json::{json, Value};

use crate::common::{assert_no_drift, id, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(erp_writes_are_audited);

async fn entries(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/api/audit?{query}"), &app.admin)
        .await
        .expect(200)
        .body
}

async fn erp_writes_are_audited(app: TestApp) {
    let p = simple_product(&app, "AUD-1", 1000, 400, 5).await;
    let created = entries(&app, &format!("resource=product&resource_id={p}&action=create")).await;
    assert_eq!(created["total"], 1);
    assert_eq!(created["items"][0]["after"]["sku"], "AUD-1");
    assert_eq!(created["items"][0]["actor_kind"], "user");

    let m = id(&app
        .post(
            "/api/stock/movements",
            &app.admin,
            json!({"product_id": p, "kind": "entry", "quantity": 3, "unit_cost": 500}),
        )
        .await
        .expect(201)
        .body);
    let moved = entries(&app, &format!("resource=stock_movement&resource_id={m}")).await;
    assert_eq!(moved["total"], 1);
    let entry = &moved["items"][0];
    assert_eq!(entry["action"], "create");
    assert_eq!(entry["after"]["quantity"], 3);
    assert_eq!(entry["after"]["unit_cost"], 500);
    assert_eq!(entry["before"], Value::Null);

    let order = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body);
    app.post(&format!("/api/orders/{order}/confirm"), &app.admin, json!({}))
        .await
        .expect(200);
    let confirm = entries(&app, &format!("resource=order&resource_id={order}&action=confirm")).await;
    assert_eq!(confirm["total"], 1);
    assert_eq!(confirm["items"][0]["before"]["status"], "pending");
    assert_eq!(confirm["items"][0]["after"]["status"], "confirmed");
    assert_eq!(
        entries(&app, &format!("resource=order&resource_id={order}")).await["total"],
        2
    );
    // A refused step writes no entry.
    app.post(&format!("/api/orders/{order}/confirm"), &app.admin, json!({}))
        .await
        .expect(409);
    assert_eq!(
        entries(&app, &format!("resource=order&resource_id={order}")).await["total"],
        2
    );

    let sale = id(&app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": 1}]}),
        )
        .await
        .expect(201)
        .body);
    let sold = entries(&app, &format!("resource=sale&resource_id={sale}")).await;
    assert_eq!(sold["total"], 1);
    assert_eq!(sold["items"][0]["after"]["total"], 1000);

    let reservation = id(&app
        .post(
            "/api/stock/reservations",
            &app.admin,
            json!({"product_id": p, "quantity": 1}),
        )
        .await
        .expect(201)
        .body);
    app.post(
        &format!("/api/stock/reservations/{reservation}/release"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let held = entries(&app, &format!("resource=reservation&resource_id={reservation}")).await;
    assert_eq!(held["total"], 2);

    let reorder = id(&app
        .post(
            "/api/reorder-requests",
            &app.admin,
            json!({"product_id": p, "quantity": 4}),
        )
        .await
        .expect(201)
        .body);
    for status in ["ordered", "received"] {
        app.post(
            &format!("/api/reorder-requests/{reorder}/status"),
            &app.admin,
            json!({"status": status}),
        )
        .await
        .expect(200);
    }
    let received = entries(
        &app,
        &format!("resource=reorder_request&resource_id={reorder}&action=received"),
    )
    .await;
    assert_eq!(received["total"], 1);
    assert_eq!(received["items"][0]["before"]["status"], "ordered");
    assert_eq!(received["items"][0]["after"]["status"], "received");

    let category = id(&app
        .post("/api/categories", &app.admin, json!({"name": "Auditada"}))
        .await
        .expect(201)
        .body);
    app.delete(&format!("/api/categories/{category}"), &app.admin)
        .await
        .expect(204);
    let deleted = entries(&app, &format!("resource=category&resource_id={category}&action=delete")).await;
    assert_eq!(deleted["total"], 1);
    assert_eq!(deleted["items"][0]["before"]["name"], "Auditada");
    assert_eq!(deleted["items"][0]["after"], Value::Null);

    // An API key is named as the actor.
    let key = app.api_key(&["stock:create", "products:read"]).await;
    let by_key = app
        .call(
            axum::http::Method::POST,
            "/api/stock/movements",
            crate::helpers::Auth::ApiKey(key),
            Some(json!({"product_id": p, "kind": "exit", "quantity": 1})),
        )
        .await
        .expect(201)
        .body;
    let keyed = entries(&app, &format!("resource=stock_movement&resource_id={}", id(&by_key))).await;
    assert_eq!(keyed["items"][0]["actor_kind"], "api_key");
    assert_no_drift(&app).await;
}
