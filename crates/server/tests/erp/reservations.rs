//! Reservations: create, commit, release, refusals and expiry.

use serde_json::json;

use crate::common::{assert_no_drift, book, id, level, main_warehouse, movements, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(
    reservation_life_cycle,
    reservations_expire,
    reservations_are_listed_and_filtered
);

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

/// `GET /api/stock/reservations`: newest first, paged, filtered by status, product, warehouse
/// and order (each filter and their combination), bad filters refused.
async fn reservations_are_listed_and_filtered(app: TestApp) {
    let main = main_warehouse(&app).await;
    let shop = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "RES-SHOP", "name": "Tienda de reservas"}),
        )
        .await
        .expect(201)
        .body);
    let p = simple_product(&app, "RES-L1", 1000, 300, 10).await;
    let q = simple_product(&app, "RES-L2", 2000, 600, 5).await;
    book(
        &app,
        json!({"product_id": p, "warehouse_id": shop, "kind": "entry", "quantity": 4, "unit_cost": 300}),
    )
    .await
    .expect(201);
    let reserve = |product: i64, warehouse: i64, quantity: i64| {
        let app = &app;
        async move {
            id(&app
                .post(
                    "/api/stock/reservations",
                    &app.admin,
                    json!({"product_id": product, "warehouse_id": warehouse, "quantity": quantity}),
                )
                .await
                .expect(201)
                .body)
        }
    };
    let active_p = reserve(p, main, 2).await;
    let released = reserve(p, main, 1).await;
    app.post(
        &format!("/api/stock/reservations/{released}/release"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let committed = reserve(q, main, 1).await;
    app.post(
        &format!("/api/stock/reservations/{committed}/commit"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let in_shop = reserve(p, shop, 3).await;
    // A confirmed order holds one reservation per line.
    let order = id(&app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": 1}, {"product_id": q, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body);
    app.post(&format!("/api/orders/{order}/confirm"), &app.admin, json!({}))
        .await
        .expect(200);

    let list = |query: &str| {
        let app = &app;
        let uri = format!("/api/stock/reservations?{query}");
        async move { app.get(&uri, &app.admin).await.expect(200).body }
    };
    let ids = |page: &serde_json::Value| -> Vec<i64> { page["items"].as_array().unwrap().iter().map(id).collect() };

    let all = list("").await;
    assert_eq!(all["total"], 6);
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 6);
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "newest first: {all_ids:?}");
    let order_lines: Vec<i64> = all_ids[..2].to_vec();
    assert_eq!(&all_ids[2..], [in_shop, committed, released, active_p]);
    for line in &all["items"].as_array().unwrap()[..2] {
        assert_eq!(line["order_id"], order);
        assert_eq!(line["status"], "active");
    }

    let active = list("status=active").await;
    assert_eq!(active["total"], 4);
    assert_eq!(ids(&active), [order_lines[0], order_lines[1], in_shop, active_p]);
    assert_eq!(ids(&list("status=released").await), [released]);
    assert_eq!(ids(&list("status=committed").await), [committed]);
    assert_eq!(list("status=expired").await["total"], 0);
    let of_q = list(&format!("product_id={q}")).await;
    assert_eq!(of_q["total"], 2);
    assert!(
        of_q["items"].as_array().unwrap().iter().all(|r| r["product_id"] == q),
        "{of_q}"
    );
    assert_eq!(ids(&list(&format!("warehouse_id={shop}")).await), [in_shop]);
    let of_order = list(&format!("order_id={order}")).await;
    assert_eq!(ids(&of_order), order_lines);
    // Every filter at once: p's active holds in MAIN are the order's line and the first one.
    let combined = list(&format!("status=active&product_id={p}&warehouse_id={main}")).await;
    assert_eq!(combined["total"], 2);
    assert!(combined["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["product_id"] == p && r["warehouse_id"] == main && r["status"] == "active"));
    assert_eq!(ids(&combined)[1], active_p);
    assert_eq!(list("order_id=999999").await["total"], 0);

    // Paging: the total is of the whole filter, the items of the page.
    let second = list("per_page=2&page=2").await;
    assert_eq!(
        (
            second["total"].as_i64(),
            second["page"].as_i64(),
            second["per_page"].as_i64()
        ),
        (Some(6), Some(2), Some(2))
    );
    assert_eq!(ids(&second), [in_shop, committed]);
    assert_eq!(list("per_page=2&page=4").await["items"], json!([]));

    for (query, status, code, field) in [
        ("status=held", 422, "validation", "status"),
        ("status=ACTIVE", 422, "validation", "status"),
        ("per_page=0", 422, "validation", "per_page"),
        ("page=0", 422, "validation", "page"),
        ("product_id=abc", 400, "bad_request", "product_id"),
        ("order_id=1.5", 400, "bad_request", "order_id"),
    ] {
        app.get(&format!("/api/stock/reservations?{query}"), &app.admin)
            .await
            .expect_error(status, code, Some(field));
    }
    assert_no_drift(&app).await;
}
