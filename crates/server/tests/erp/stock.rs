//! The movement ledger: entries with the moving average cost, exits, adjustments, returns,
//! refused exits, listings, levels and transfers.

use serde_json::json;

use crate::common::{assert_no_drift, book, id, level, main_warehouse, movements, simple_product, written};
use crate::helpers::TestApp;

crate::on_both_stores!(movements_and_average_cost, transfers_between_warehouses);

async fn movements_and_average_cost(app: TestApp) {
    let main = main_warehouse(&app).await;
    let p = simple_product(&app, "LED-1", 1000, 0, 0).await;
    assert_eq!(level(&app, p, main).await, (0, 0, 0, 0));

    let m = book(
        &app,
        json!({"product_id": p, "kind": "entry", "quantity": 10, "unit_cost": 100}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(m["kind"], "entry");
    assert_eq!(m["quantity"], 10);
    assert_eq!(m["unit_cost"], 100);
    assert_eq!(m["balance_after"], 10);
    assert_eq!(m["warehouse_id"], main);
    assert_eq!(m["reference_type"], "manual");
    assert_eq!(level(&app, p, main).await, (10, 0, 10, 100));
    // (10 × 100 + 10 × 200) / 20 = 150
    book(
        &app,
        json!({"product_id": p, "kind": "entry", "quantity": 10, "unit_cost": 200, "note": "segunda compra"}),
    )
    .await
    .expect(201);
    assert_eq!(level(&app, p, main).await, (20, 0, 20, 150));

    let exit = book(&app, json!({"product_id": p, "kind": "exit", "quantity": 5}))
        .await
        .expect(201)
        .body;
    assert_eq!(exit["quantity"], -5);
    assert_eq!(exit["balance_after"], 15);
    let adj = book(&app, json!({"product_id": p, "kind": "adjustment", "quantity": -3}))
        .await
        .expect(201)
        .body;
    assert_eq!(adj["quantity"], -3);
    assert_eq!(adj["balance_after"], 12);
    book(&app, json!({"product_id": p, "kind": "adjustment", "quantity": 2}))
        .await
        .expect(201);
    let ret = book(&app, json!({"product_id": p, "kind": "return", "quantity": 1}))
        .await
        .expect(201)
        .body;
    assert_eq!(ret["balance_after"], 15);
    // Outbound movements and uncosted returns leave the average cost alone.
    assert_eq!(level(&app, p, main).await, (15, 0, 15, 150));
    let product = app
        .get(&format!("/api/products/{p}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(product["on_hand"], 15);
    assert_eq!(product["available"], 15);

    // Beyond what is available: 409 with the short line, and nothing written.
    let before = written(&app).await;
    let refused = book(&app, json!({"product_id": p, "kind": "exit", "quantity": 16}))
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        refused["error"]["details"],
        json!([{"product_id": p, "sku": "LED-1", "product_name": "Producto LED-1", "warehouse_id": main, "requested": 16, "available": 15}])
    );
    book(&app, json!({"product_id": p, "kind": "adjustment", "quantity": -16}))
        .await
        .expect_error(409, "insufficient_stock", None);
    assert_eq!(level(&app, p, main).await, (15, 0, 15, 150));
    assert_eq!(movements(&app, &format!("product_id={p}")).await["total"], 6);
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");

    // Bad input.
    book(&app, json!({"product_id": p, "kind": "exit", "quantity": -1}))
        .await
        .expect_error(422, "validation", Some("quantity"));
    book(&app, json!({"product_id": p, "kind": "adjustment", "quantity": 0}))
        .await
        .expect_error(422, "validation", Some("quantity"));
    book(&app, json!({"product_id": p, "kind": "sale", "quantity": 1}))
        .await
        .expect_error(422, "validation", Some("kind"));
    book(&app, json!({"product_id": 999_999, "kind": "entry", "quantity": 1}))
        .await
        .expect_error(422, "validation", Some("product_id"));
    book(
        &app,
        json!({"product_id": p, "kind": "entry", "quantity": 1, "unit_cost": -5}),
    )
    .await
    .expect_error(422, "validation", Some("unit_cost"));

    // Listings, newest first.
    let all = movements(&app, &format!("product_id={p}")).await;
    let kinds: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["return", "adjustment", "adjustment", "exit", "entry", "entry"]);
    let quantities: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["quantity"].as_i64().unwrap())
        .collect();
    assert_eq!(quantities, [1, 2, -3, -5, 10, 10]);
    assert_eq!(quantities.iter().sum::<i64>(), 15);
    assert_eq!(movements(&app, &format!("product_id={p}&kind=entry")).await["total"], 2);
    assert_eq!(movements(&app, &format!("product_id={p}&kind=exit")).await["total"], 1);
    assert_eq!(
        movements(&app, &format!("product_id={p}&warehouse_id={main}")).await["total"],
        6
    );
    assert_eq!(movements(&app, "reference_type=manual").await["total"], 6);
    assert_eq!(movements(&app, "from=2999-01-01T00:00:00Z").await["total"], 0);
    assert_eq!(movements(&app, "to=2000-01-01T00:00:00Z").await["total"], 0);
    let page = movements(&app, &format!("product_id={p}&per_page=2&page=3")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["kind"], "entry");
    app.get("/api/stock/movements?kind=teleport", &app.admin)
        .await
        .expect_error(422, "validation", Some("kind"));
    assert_no_drift(&app).await;
}

async fn transfers_between_warehouses(app: TestApp) {
    let main = main_warehouse(&app).await;
    let north = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "NORTE", "name": "Bodega Norte"}),
        )
        .await
        .expect(201)
        .body);
    let p = simple_product(&app, "TRF-1", 5000, 0, 0).await;
    book(
        &app,
        json!({"product_id": p, "kind": "entry", "quantity": 10, "unit_cost": 100}),
    )
    .await
    .expect(201);
    book(
        &app,
        json!({"product_id": p, "kind": "entry", "quantity": 10, "unit_cost": 200}),
    )
    .await
    .expect(201);
    book(&app, json!({"product_id": p, "kind": "exit", "quantity": 5}))
        .await
        .expect(201);

    let t = app
        .post(
            "/api/stock/transfers",
            &app.admin,
            json!({"product_id": p, "from_warehouse_id": main, "to_warehouse_id": north, "quantity": 4, "note": "reposición"}),
        )
        .await
        .expect(201)
        .body;
    let (out, inbound) = (&t["transfer_out"], &t["transfer_in"]);
    assert_eq!(out["kind"], "transfer_out");
    assert_eq!(out["warehouse_id"], main);
    assert_eq!(out["quantity"], -4);
    assert_eq!(out["balance_after"], 11);
    assert_eq!(inbound["kind"], "transfer_in");
    assert_eq!(inbound["warehouse_id"], north);
    assert_eq!(inbound["quantity"], 4);
    assert_eq!(inbound["balance_after"], 4);
    assert_eq!(out["reference_type"], "transfer");
    assert_eq!(inbound["reference_type"], "transfer");
    assert_eq!(out["reference_id"], inbound["reference_id"]);
    assert_eq!(out["unit_cost"], 150);
    assert_eq!(inbound["unit_cost"], 150);
    assert_eq!(out["note"], "reposición");
    // The goods arrive at the source's average cost.
    assert_eq!(level(&app, p, main).await, (11, 0, 11, 150));
    assert_eq!(level(&app, p, north).await, (4, 0, 4, 150));
    let reference = out["reference_id"].as_str().unwrap();
    assert_eq!(movements(&app, &format!("reference_id={reference}")).await["total"], 2);
    let levels = app
        .get(&format!("/api/stock/levels?product_id={p}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(levels["total"], 2);
    let product = app
        .get(&format!("/api/products/{p}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(product["on_hand"], 15);

    // Refused transfers write nothing.
    let refused = app
        .post(
            "/api/stock/transfers",
            &app.admin,
            json!({"product_id": p, "from_warehouse_id": main, "to_warehouse_id": north, "quantity": 12}),
        )
        .await
        .expect_error(409, "insufficient_stock", None)
        .body;
    assert_eq!(
        refused["error"]["details"],
        json!([{"product_id": p, "sku": "TRF-1", "product_name": "Producto TRF-1", "warehouse_id": main, "requested": 12, "available": 11}])
    );
    app.post(
        "/api/stock/transfers",
        &app.admin,
        json!({"product_id": p, "from_warehouse_id": main, "to_warehouse_id": main, "quantity": 1}),
    )
    .await
    .expect_error(422, "validation", Some("to_warehouse_id"));
    app.post(
        "/api/stock/transfers",
        &app.admin,
        json!({"product_id": p, "from_warehouse_id": main, "to_warehouse_id": 999_999, "quantity": 1}),
    )
    .await
    .expect_error(422, "validation", Some("to_warehouse_id"));
    assert_eq!(level(&app, p, main).await, (11, 0, 11, 150));
    assert_eq!(level(&app, p, north).await, (4, 0, 4, 150));
    assert_eq!(movements(&app, &format!("product_id={p}")).await["total"], 5);
    assert_no_drift(&app).await;
}
