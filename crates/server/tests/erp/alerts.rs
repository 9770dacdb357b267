//! Stock alerts listed by warehouse (`GET /api/alerts?warehouse_id=`).

use serde_json::{json, Value};

use crate::common::{assert_no_drift, book, id, main_warehouse, product};
use crate::helpers::TestApp;

crate::on_both_stores!(alerts_filter_by_warehouse);

/// The alerts of one warehouse, alone or with the other filters and paging; an unknown
/// warehouse has none, a malformed id is a 400.
async fn alerts_filter_by_warehouse(app: TestApp) {
    let main = main_warehouse(&app).await;
    let shop = id(&app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "ALERT-SHOP", "name": "Tienda de alertas", "kind": "store"}),
        )
        .await
        .expect(201)
        .body);
    let watched = |sku: &str, threshold: i64| {
        let app = &app;
        let body = json!({"sku": sku, "name": format!("Producto {sku}"), "price": 1000, "cost": 400,
            "low_stock_threshold": threshold});
        async move { id(&product(app, body).await) }
    };
    let x = watched("ALW-X", 10).await;
    let y = watched("ALW-Y", 5).await;
    // Each entry leaves its level below the threshold: one alert per (product, warehouse).
    for (product_id, warehouse_id, quantity) in [(x, main, 3), (x, shop, 2), (y, shop, 1)] {
        book(
            &app,
            json!({"product_id": product_id, "warehouse_id": warehouse_id, "kind": "entry", "quantity": quantity}),
        )
        .await
        .expect(201);
    }
    let alerts = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/alerts?{query}"), &app.admin)
                .await
                .expect(200)
                .body
        }
    };
    let pairs = |page: &Value| -> Vec<(i64, i64)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["product_id"].as_i64().unwrap(), a["warehouse_id"].as_i64().unwrap()))
            .collect()
    };
    assert_eq!(alerts(String::new()).await["total"], 3);
    assert_eq!(pairs(&alerts(format!("warehouse_id={main}")).await), [(x, main)]);
    let in_shop = alerts(format!("warehouse_id={shop}")).await;
    assert_eq!(in_shop["total"], 2);
    assert_eq!(pairs(&in_shop), [(y, shop), (x, shop)], "newest first");
    assert_eq!(
        pairs(&alerts(format!("warehouse_id={shop}&product_id={x}")).await),
        [(x, shop)]
    );
    assert_eq!(alerts("warehouse_id=999999".into()).await["total"], 0);

    let shop_x = id(&alerts(format!("warehouse_id={shop}&product_id={x}")).await["items"][0]);
    app.post(&format!("/api/alerts/{shop_x}/ack"), &app.admin, json!({}))
        .await
        .expect(200);
    assert_eq!(
        pairs(&alerts(format!("warehouse_id={shop}&status=acknowledged")).await),
        [(x, shop)]
    );
    assert_eq!(
        pairs(&alerts(format!("warehouse_id={shop}&status=open")).await),
        [(y, shop)]
    );
    assert_eq!(
        pairs(&alerts(format!("warehouse_id={main}&status=open")).await),
        [(x, main)]
    );
    let paged = alerts(format!("warehouse_id={shop}&per_page=1&page=2")).await;
    assert_eq!((paged["total"].as_i64(), pairs(&paged)), (Some(2), vec![(x, shop)]));

    app.get("/api/alerts?warehouse_id=tienda", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("warehouse_id"));
    assert_no_drift(&app).await;
}
