//! An order's discount carries into the sale it ships as, so revenue is net of discounts.

use serde_json::json;

use crate::helpers::TestApp;

crate::on_both_stores!(order_discount_reaches_the_sale_and_the_stats);

async fn order_discount_reaches_the_sale_and_the_stats(app: TestApp) {
    let product = app
        .post(
            "/api/products",
            &app.admin,
            json!({"sku": "D-1", "name": "Té", "price": 1500, "cost": 900, "initial_stock": 10}),
        )
        .await
        .expect(201);
    let id = product.body["id"].as_i64().unwrap();
    let order = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": id, "quantity": 3}], "discount": 500}),
        )
        .await
        .expect(201);
    assert_eq!(
        (order.body["subtotal"].as_i64(), order.body["total"].as_i64()),
        (Some(4500), Some(4000))
    );
    let order_id = order.body["id"].as_i64().unwrap();
    app.post(&format!("/api/orders/{order_id}/confirm"), &app.admin, json!({}))
        .await
        .expect(200);
    let shipped = app
        .post(&format!("/api/orders/{order_id}/ship"), &app.admin, json!({}))
        .await
        .expect(200);
    let sale_id = shipped.body["sale_id"].as_i64().unwrap();
    let sale = app.get(&format!("/api/sales/{sale_id}"), &app.admin).await.expect(200);
    assert_eq!(
        (sale.body["discount"].as_i64(), sale.body["total"].as_i64()),
        (Some(500), Some(4000))
    );
    let stats = app.get("/api/sales/stats", &app.admin).await.expect(200);
    assert_eq!(stats.body["revenue"], 4000);
    assert_eq!(stats.body["gross_margin"], 4000 - 3 * 900);
}
