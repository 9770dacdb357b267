//! Reservations: create, commit, release, refusals and expiry.

use serde_json::json;

use crate::common::{assert_no_drift, id, level, main_warehouse, movements, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(reservation_life_cycle, reservations_expire);

async fn reservation_life_cycle(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "RES-1", 1000, 300, 10).await;
    let reserve = |quantity: i64| {
        let app = &app;
        async move {
            app.post(
                "/api/stock/reservations",
                &app.admin,
                json!({"product_id": p, "quantity": quantity, "reference": "carro-7"}),
            )
            .await
        }
    };

    let r1 = reserve(4).await.expect(201).body;
    assert_eq!(r1["status"], "active");
    assert_eq!(r1["quantity"], 4);
    assert_eq!(r1["order_id"], serde_json::Value::Null);
    assert_eq!(r1["reference"], "carro-7");
    assert!(r1["expires_at"].is_string(), "default expiry: {r1}");
    let r1 = id(&r1);
    // Available drops, on hand does not.
    assert_eq!(level(&app, p, main).await, (10, 4, 6, 300));
    let product = app
        .get(&format!("/api/products/{p}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (product["on_hand"].as_i64(), product["available"].as_i64()),
        (Some(10), Some(6))
    );

    let short = reserve(7).await.expect_error(409, "insufficient_stock", None).body;
    assert_eq!(
        short["error"]["details"],
        json!([{"product_id": p, "sku": "RES-1", "product_name": "Producto RES-1", "warehouse_id": main, "requested": 7, "available": 6}])
    );
    assert_eq!(level(&app, p, main).await, (10, 4, 6, 300));

    // Commit: the reserved units leave as an exit.
    let committed = app
        .post(&format!("/api/stock/reservations/{r1}/commit"), &app.admin, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(committed["status"], "committed");
    assert_eq!(level(&app, p, main).await, (6, 0, 6, 300));
    let exits = movements(&app, &format!("reference_type=reservation&reference_id={r1}")).await;
    assert_eq!(exits["total"], 1);
    assert_eq!(exits["items"][0]["kind"], "exit");
    assert_eq!(exits["items"][0]["quantity"], -4);
    assert_eq!(exits["items"][0]["balance_after"], 6);
    app.post(&format!("/api/stock/reservations/{r1}/commit"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);
    app.post(&format!("/api/stock/reservations/{r1}/release"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);

    // Release gives the units back.
    let r2 = id(&reserve(3).await.expect(201).body);
    assert_eq!(level(&app, p, main).await, (6, 3, 3, 300));
    let released = app
        .post(&format!("/api/stock/reservations/{r2}/release"), &app.admin, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(released["status"], "released");
    assert_eq!(level(&app, p, main).await, (6, 0, 6, 300));
    app.post(&format!("/api/stock/reservations/{r2}/release"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);
    app.post(&format!("/api/stock/reservations/{r2}/commit"), &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);
    let got = app
        .get(&format!("/api/stock/reservations/{r2}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(got["status"], "released");
    app.get("/api/stock/reservations/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.post("/api/stock/reservations/999999/commit", &app.admin, json!({}))
        .await
        .expect_error(404, "not_found", None);
    reserve(0).await.expect_error(422, "validation", Some("quantity"));
    // No movement was written by the refused, released or repeated requests.
    assert_eq!(movements(&app, &format!("product_id={p}")).await["total"], 2);
    assert_no_drift(&app).await;
}

async fn reservations_expire(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "EXP-1", 1000, 300, 10).await;
    let short_lived = app
        .post(
            "/api/stock/reservations",
            &app.admin,
            json!({"product_id": p, "quantity": 2, "expires_in_seconds": 1}),
        )
        .await
        .expect(201)
        .body;
    let short_lived = id(&short_lived);
    let forever = app
        .post(
            "/api/stock/reservations",
            &app.admin,
            json!({"product_id": p, "quantity": 3, "expires_in_seconds": 0}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(forever["expires_at"], serde_json::Value::Null);
    let forever = id(&forever);
    assert_eq!(level(&app, p, main).await, (10, 5, 5, 300));
    // Nothing is due yet.
    assert_eq!(app.state.expire_reservations().await.unwrap(), 0);

    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(app.state.expire_reservations().await.unwrap(), 1);
    let expired = app
        .get(&format!("/api/stock/reservations/{short_lived}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(expired["status"], "expired");
    let kept = app
        .get(&format!("/api/stock/reservations/{forever}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(kept["status"], "active");
    assert_eq!(level(&app, p, main).await, (10, 3, 7, 300));
    // Expired is final, and the job does not run twice over it.
    app.post(
        &format!("/api/stock/reservations/{short_lived}/commit"),
        &app.admin,
        json!({}),
    )
    .await
    .expect_error(409, "conflict", None);
    assert_eq!(app.state.expire_reservations().await.unwrap(), 0);
    let audit = app
        .get(
            &format!("/api/audit?resource=reservation&resource_id={short_lived}&action=expire"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_no_drift(&app).await;
}
