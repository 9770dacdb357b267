//! Returned orders in the sales figures: `/api/sales/stats` keeps the gross figures and nets
//! the returns out beside them; the returned sale is marked in its row.

use serde_json::{json, Value};

use crate::common::{assert_no_drift, id, level, main_warehouse, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(returns_are_netted_out_of_sales_stats);

/// A returned order's sale stays in the gross figures and is reported and netted out beside
/// them: `returned_sales`, `returned_revenue` (the sale's total, net of the order's discount)
/// and `net_revenue`; the sale itself is marked `returned` in the listing and on its own.
async fn returns_are_netted_out_of_sales_stats(app: TestApp) {
    let p = simple_product(&app, "RET-1", 1000, 400, 20).await;
    let stats = |query: &str| {
        let app = &app;
        let uri = format!("/api/sales/stats?{query}");
        async move { app.get(&uri, &app.admin).await.expect(200).body }
    };
    let figures = |s: &Value| -> [i64; 5] {
        ["sales", "revenue", "returned_sales", "returned_revenue", "net_revenue"]
            .map(|k| s[k].as_i64().unwrap_or_else(|| panic!("no {k} in {s}")))
    };
    let shipped_order = |quantity: i64, discount: i64| {
        let app = &app;
        async move {
            let order = id(&app
                .post(
                    "/api/orders",
                    &app.admin,
                    json!({"items": [{"product_id": p, "quantity": quantity}], "discount": discount}),
                )
                .await
                .expect(201)
                .body);
            for step in ["confirm", "ship"] {
                app.post(&format!("/api/orders/{order}/{step}"), &app.admin, json!({}))
                    .await
                    .expect(200);
            }
            let shipped = app
                .get(&format!("/api/orders/{order}"), &app.admin)
                .await
                .expect(200)
                .body;
            (order, shipped["sale_id"].as_i64().expect("a shipped order's sale"))
        }
    };
    assert_eq!(figures(&stats("").await), [0, 0, 0, 0, 0]);

    // A till sale of 3 × 1000 = 3000; an order of 2 × 1000 − 500 = 1500, paid; one of 1000.
    let till = id(&app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"items": [{"product_id": p, "quantity": 3}]}),
        )
        .await
        .expect(201)
        .body);
    let (returned_order, returned_sale) = shipped_order(2, 500).await;
    app.post(
        &format!("/api/orders/{returned_order}/payment"),
        &app.admin,
        json!({"status": "paid"}),
    )
    .await
    .expect(200);
    let (_, kept_sale) = shipped_order(1, 0).await;
    assert_eq!(figures(&stats("").await), [3, 5500, 0, 0, 5500]);

    let back = app
        .post(&format!("/api/orders/{returned_order}/return"), &app.admin, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (back["status"].as_str(), back["payment_status"].as_str()),
        (Some("returned"), Some("refunded"))
    );

    let all = stats("").await;
    // The gross figures keep the returned sale: 3 sales, 5500, 6 units, margin 5500 − 6 × 400.
    assert_eq!(figures(&all), [3, 5500, 1, 1500, 4000]);
    assert_eq!(all["units"], 6);
    assert_eq!(all["gross_margin"], 5500 - 2400);
    assert_eq!(all["average_ticket"], 5500 / 3);
    assert_eq!(figures(&stats("channel=order").await), [2, 2500, 1, 1500, 1000]);
    assert_eq!(figures(&stats("channel=pos").await), [1, 3000, 0, 0, 3000]);
    // The returns are those of the sales the filter selects.
    assert_eq!(figures(&stats("from=2999-01-01T00:00:00Z").await), [0, 0, 0, 0, 0]);
    assert_eq!(stats("from=2000-01-01T00:00:00Z").await, all);

    let listed = app.get("/api/sales", &app.admin).await.expect(200).body;
    let marks: Vec<(i64, bool)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (id(s), s["returned"].as_bool().expect("returned in every row")))
        .collect();
    assert_eq!(marks, [(kept_sale, false), (returned_sale, true), (till, false)]);
    for (sale, returned) in [(returned_sale, true), (kept_sale, false), (till, false)] {
        let got = app
            .get(&format!("/api/sales/{sale}"), &app.admin)
            .await
            .expect(200)
            .body;
        assert_eq!(got["returned"], returned, "{got}");
    }
    // The goods are back: 20 − 3 − 2 − 1 + 2.
    assert_eq!(level(&app, p, main_warehouse(&app).await).await.0, 16);
    assert_no_drift(&app).await;
}
