//! Demand forecasts through the API against a hand-made history, accuracy tracking computed
//! by hand, reorder advice arithmetic and its one-call conversion into reorder requests.

use axum::body::Body;
use axum::http::{Method, Request};
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};

use crate::helpers::TestApp;

crate::on_both_stores!(
    constant_demand_is_forecast_at_its_level,
    accuracy_is_measured_once_when_the_periods_are_over,
    category_and_store_forecasts_cover_their_products,
    promotions_in_history_lift_the_planned_promotion_days,
    reorder_advice_becomes_reorder_requests_in_one_call,
    bad_forecast_input_is_refused
);

/// Imports `days` days of history (ending yesterday) of one product selling `units` a day.
async fn constant_history(app: &TestApp, sku: &str, units: i64, days: i64) -> i64 {
    history_in(app, sku, "Fijos", units, days).await
}

/// Like `constant_history`, in a category given by its path.
async fn history_in(app: &TestApp, sku: &str, category: &str, units: i64, days: i64) -> i64 {
    history_rows(app, sku, category, days, |_| (units, 1000)).await
}

/// Imports `days` days of history (ending yesterday) from `rows(d)` = (units, unit price) for
/// d days ago; the last line imported (the oldest day) sets the list price.
async fn history_rows(app: &TestApp, sku: &str, category: &str, days: i64, rows: impl Fn(i64) -> (i64, i64)) -> i64 {
    let today = Utc::now().date_naive();
    let mut csv =
        String::from("order_id,customer_id,product_id,quantity,unit_price,timestamp,product_name,category,store\n");
    for d in 1..=days {
        let day = today - TimeDelta::days(d);
        let (units, price) = rows(d);
        csv += &format!("{sku}-{d},K1,{sku},{units},{price},{day} 10:00:00,Producto {sku},{category},S01\n");
    }
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/imports/transactions")
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "text/csv")
        .body(Body::from(csv))
        .unwrap();
    app.send(request).await.expect(200);
    let page = app
        .get(&format!("/api/products?q={sku}"), &app.admin)
        .await
        .expect(200)
        .body;
    page["items"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no product {sku}: {page}"))
}

fn means(forecast: &Value) -> Vec<f64> {
    forecast["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mean"].as_f64().unwrap())
        .collect()
}

async fn constant_demand_is_forecast_at_its_level(app: TestApp) {
    let p = constant_history(&app, "FIJO", 5, 60).await;
    let daily = app
        .get(
            &format!("/api/analytics/forecasting/demand?product_id={p}&horizon=7"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(daily["granularity"], "daily");
    assert_eq!(daily["history_periods"], 60);
    assert!(!daily["model"].as_str().unwrap().is_empty());
    let m = means(&daily);
    assert_eq!(m.len(), 7);
    for v in &m {
        assert!((v - 5.0).abs() < 0.5, "{daily}");
    }
    let first = &daily["points"][0];
    assert_eq!(first["period"], Utc::now().date_naive().to_string());
    for p in daily["points"].as_array().unwrap() {
        let (lo, mean, hi) = (
            p["lower95"].as_f64().unwrap(),
            p["mean"].as_f64().unwrap(),
            p["upper95"].as_f64().unwrap(),
        );
        assert!(lo <= mean && mean <= hi, "{p}");
        assert!(p["lower80"].as_f64().unwrap() >= lo && p["upper80"].as_f64().unwrap() <= hi);
    }
    // Weekly: whole weeks only (this week is not over), 35 a week.
    let weekly = app
        .get(
            &format!("/api/analytics/forecasting/demand?product_id={p}&horizon=2&granularity=weekly"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    for v in means(&weekly) {
        assert!((v - 35.0).abs() < 3.5, "{weekly}");
    }
    // Components for plots: history and horizon side by side.
    let parts = app
        .get(
            &format!("/api/analytics/forecasting/demand/components?product_id={p}&horizon=7"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(parts["periods"].as_array().unwrap().len(), 67);
    assert_eq!(parts["trend"].as_array().unwrap().len(), 67);
    assert_eq!(parts["actual"][0], 5.0);
    assert_eq!(parts["actual"][66], Value::Null);
    // A batch stores one forecast per product.
    let batch = app
        .post(
            "/api/analytics/forecasting/batch",
            &app.admin,
            json!({"product_ids": [p], "horizon": 3}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(batch["forecasts"].as_array().unwrap().len(), 1);
    assert!(
        (batch["forecasts"][0]["total"].as_f64().unwrap() - 15.0).abs() < 1.5,
        "{batch}"
    );
}

async fn accuracy_is_measured_once_when_the_periods_are_over(app: TestApp) {
    let p = constant_history(&app, "ACC", 5, 60).await;
    // A forecast of 4 a day made three weeks ago for the week after: its periods are over.
    let first = Utc::now().date_naive() - TimeDelta::days(21);
    let points: Vec<Value> = (0..7)
        .map(|i| {
            json!({"period": (first + TimeDelta::days(i)).to_string(), "mean": 4.0, "lower80": 3.0,
                   "upper80": 5.0, "lower95": 2.0, "upper95": 6.0})
        })
        .collect();
    let mut tx = app.state.db.begin().await.unwrap();
    bodega_store::forecasts::save(
        &mut tx.conn(),
        &bodega_store::forecasts::NewForecast {
            scope: bodega_store::forecasts::Scope::product(p, None),
            granularity: "daily",
            horizon: 7,
            model: "hand",
            first_period: first,
            history_from: first - TimeDelta::days(39),
            points: serde_json::to_string(&points).unwrap(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // And one still running (made through the API now).
    app.get(
        &format!("/api/analytics/forecasting/demand?product_id={p}&horizon=7"),
        &app.admin,
    )
    .await
    .expect(200);

    let run = app
        .post("/api/jobs/forecast-accuracy/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(run["summary"], "1 forecast(s) measured; 1 still running", "{run}");
    let again = app
        .post("/api/jobs/forecast-accuracy/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(again["summary"], "0 forecast(s) measured; 1 still running", "{again}");

    let report = app
        .get(
            &format!("/api/analytics/forecasting/accuracy?product_id={p}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let m = &records[0]["metrics"];
    // Actual 5 every day, forecast 4: |error| 1 a day.
    assert_eq!(m["mape"], 20.0);
    assert_eq!(m["wape"], 0.2);
    assert_eq!(m["bias"], -1.0);
    assert_eq!(m["smape"], 22.222);
    assert_eq!(m["mase"], Value::Null, "a constant history has no scale");
    assert_eq!(report["average"]["wape"], 0.2);
    let category = records[0]["category_id"].as_i64().unwrap();
    let by_category = app
        .get(
            &format!("/api/analytics/forecasting/accuracy?category_id={category}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(by_category["records"].as_array().unwrap().len(), 1);
}

async fn reorder_advice_becomes_reorder_requests_in_one_call(app: TestApp) {
    let p = constant_history(&app, "REP", 5, 60).await;
    app.post(
        "/api/stock/movements",
        &app.admin,
        json!({"product_id": p, "kind": "entry", "quantity": 20, "unit_cost": 400}),
    )
    .await
    .expect(201);
    app.put(
        &format!("/api/products/{p}/replenishment"),
        &app.admin,
        json!({"lead_time_days": 7, "review_days": 7, "min_order_qty": 50, "pack_size": 12}),
    )
    .await
    .expect(200);
    let advice = app
        .get(&format!("/api/analytics/reorder-advice?product_id={p}"), &app.admin)
        .await
        .expect(200)
        .body;
    let a = &advice[0];
    // 5 a day over a 7-day lead time: 35, plus a safety stock that is ~0 for a constant
    // series; position 20 is below it. Order up to ~70 (lead + review): 50, which the
    // minimum allows, rounded up to packs of 12: 60.
    let rp = a["reorder_point"].as_f64().unwrap();
    assert!((34.0..=40.0).contains(&rp), "{a}");
    assert_eq!(a["inventory_position"], 20.0);
    assert_eq!(a["reorder"], true);
    assert_eq!(a["order_qty"], 60.0, "{a}");

    let applied = app
        .post(
            "/api/analytics/reorder-advice/apply",
            &app.admin,
            json!({"product_ids": [p]}),
        )
        .await
        .expect(201)
        .body;
    let created = applied["created"].as_array().unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0]["product_id"].as_i64(), created[0]["quantity"].as_i64()),
        (Some(p), Some(60))
    );
    assert_eq!(created[0]["status"], "open");
    // What is on order counts: no more advice to reorder.
    let after = app
        .get(&format!("/api/analytics/reorder-advice?product_id={p}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(after[0]["reorder"], false, "{after}");
    let list = app
        .get("/api/analytics/reorder-advice", &app.admin)
        .await
        .expect(200)
        .body;
    assert!(list.as_array().unwrap().iter().all(|x| x["product_id"] != p));
}

/// A category's forecast covers its products (and its subcategories'), a store's every product
/// sold there; their accuracy is measured and listed by level.
async fn category_and_store_forecasts_cover_their_products(app: TestApp) {
    let a = constant_history(&app, "CATA", 5, 60).await;
    constant_history(&app, "CATB", 3, 60).await;
    let product = app
        .get(&format!("/api/products/{a}"), &app.admin)
        .await
        .expect(200)
        .body;
    let category = product["category_id"].as_i64().unwrap();
    // A subcategory's product counts in its parent's demand.
    let c = history_in(&app, "CATC", "Fijos / Sub", 2, 60).await;
    let child = app
        .get(&format!("/api/products/{c}"), &app.admin)
        .await
        .expect(200)
        .body["category_id"]
        .as_i64()
        .unwrap();
    assert_ne!(child, category);

    let by_category = app
        .get(
            &format!("/api/analytics/forecasting/demand?category_id={category}&horizon=7"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(by_category["level"], "category");
    assert_eq!(by_category["product_id"], Value::Null);
    for v in means(&by_category) {
        assert!((v - 10.0).abs() < 1.0, "{by_category}");
    }
    let sub = app
        .get(
            &format!("/api/analytics/forecasting/demand?category_id={child}&horizon=7"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    for v in means(&sub) {
        assert!((v - 2.0).abs() < 0.2, "{sub}");
    }
    let warehouses = app.get("/api/warehouses", &app.admin).await.expect(200).body;
    let store = warehouses
        .as_array()
        .or_else(|| warehouses["items"].as_array())
        .unwrap()
        .iter()
        .find(|w| w["code"] == "S01")
        .unwrap_or_else(|| panic!("no store S01: {warehouses}"))["id"]
        .as_i64()
        .unwrap();
    let whole_store = app
        .get(
            &format!("/api/analytics/forecasting/demand?warehouse_id={store}&horizon=7&granularity=daily"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(whole_store["level"], "store");
    for v in means(&whole_store) {
        assert!((v - 10.0).abs() < 1.0, "{whole_store}");
    }
    let parts = app
        .get(
            &format!("/api/analytics/forecasting/demand/components?category_id={category}&horizon=7"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(parts["level"], "category");
    assert_eq!(parts["actual"][0], 10.0);

    // A category forecast of 8 a day made three weeks ago: actual 10, |error| 2 a day.
    let first = Utc::now().date_naive() - TimeDelta::days(21);
    let points: Vec<Value> = (0..7)
        .map(|i| {
            json!({"period": (first + TimeDelta::days(i)).to_string(), "mean": 8.0, "lower80": 7.0,
                   "upper80": 9.0, "lower95": 6.0, "upper95": 10.0})
        })
        .collect();
    let mut tx = app.state.db.begin().await.unwrap();
    bodega_store::forecasts::save(
        &mut tx.conn(),
        &bodega_store::forecasts::NewForecast {
            scope: bodega_store::forecasts::Scope {
                category_id: Some(category),
                ..Default::default()
            },
            granularity: "daily",
            horizon: 7,
            model: "hand",
            first_period: first,
            history_from: first - TimeDelta::days(39),
            points: serde_json::to_string(&points).unwrap(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.post("/api/jobs/forecast-accuracy/run", &app.admin, json!({}))
        .await
        .expect(201);
    let report = app
        .get(
            &format!("/api/analytics/forecasting/accuracy?category_id={category}&level=category"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{report}");
    assert_eq!(records[0]["level"], "category");
    assert_eq!(records[0]["metrics"]["wape"], 0.2, "{report}");
    assert_eq!(records[0]["metrics"]["bias"], -2.0, "{report}");
}

/// Every fifth day (not a weekday pattern) sold at 700 instead of the list price 1000, and 20
/// units instead of 5: the promotion effect is learnt from history and applied on a planned
/// promotion day.
async fn promotions_in_history_lift_the_planned_promotion_days(app: TestApp) {
    // The last line imported (63 days ago) sets the list price: 1000.
    let p = history_rows(&app, "PROMO", "Fijos", 63, |d| {
        if d % 5 == 2 {
            (20, 700)
        } else {
            (5, 1000)
        }
    })
    .await;
    let planned = Utc::now().date_naive() + TimeDelta::days(2);
    let parts = app
        .get(
            &format!("/api/analytics/forecasting/demand/components?product_id={p}&horizon=7&promotion_days={planned}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let n = 63;
    let promotion = parts["promotion"].as_array().unwrap();
    assert_eq!(promotion.len(), n + 7, "{parts}");
    // 2 days ago was a promotion day (index n - 2): about +15 units.
    let past = promotion[n - 2].as_f64().unwrap();
    assert!((past - 15.0).abs() < 2.0, "{past}");
    let fitted: Vec<f64> = parts["fitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        (fitted[n + 2] - 20.0).abs() < 3.0,
        "planned promotion day: {}",
        fitted[n + 2]
    );
    assert!((fitted[n + 1] - 5.0).abs() < 3.0, "ordinary day: {}", fitted[n + 1]);
    let r = app
        .get(
            &format!("/api/analytics/forecasting/demand/components?product_id={p}&promotion_days=tomorrow"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["error"]["field"]),
        (422, &json!("promotion_days")),
        "{}",
        r.body
    );
}

/// The shop's holidays (configuration) get one shared effect, learnt from the past ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holidays_from_the_configuration_lift_the_coming_holiday() {
    let today = Utc::now().date_naive();
    let mut config = crate::helpers::test_config();
    config.holidays = vec![
        today - TimeDelta::days(40),
        today - TimeDelta::days(25),
        today - TimeDelta::days(10),
        today + TimeDelta::days(3),
    ];
    let app = crate::helpers::spawn_with(crate::helpers::Store::Sqlite, config)
        .await
        .expect("sqlite app");
    let holidays = [40, 25, 10];
    let p = history_rows(&app, "FERIADO", "Fijos", 63, |d| {
        (if holidays.contains(&d) { 25 } else { 5 }, 1000)
    })
    .await;
    let parts = app
        .get(
            &format!("/api/analytics/forecasting/demand/components?product_id={p}&horizon=7"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let n = 63;
    let effect = parts["holidays"][n + 3].as_f64().unwrap();
    assert!((effect - 20.0).abs() < 3.0, "holiday effect {effect}: {parts}");
    assert!(parts["holidays"][n + 2].as_f64().unwrap().abs() < 0.5);
    assert!(
        parts["promotion"].as_array().unwrap().iter().all(|v| v == 0.0),
        "no promotion in history"
    );
}

async fn bad_forecast_input_is_refused(app: TestApp) {
    let p = constant_history(&app, "BAD", 1, 10).await;
    let cases = [
        (
            "/api/analytics/forecasting/demand?product_id=999999".to_string(),
            404,
            None,
        ),
        (
            format!("/api/analytics/forecasting/demand?product_id={p}&horizon=0"),
            422,
            Some("horizon"),
        ),
        (
            format!("/api/analytics/forecasting/demand?product_id={p}&horizon=400"),
            422,
            Some("horizon"),
        ),
        (
            format!("/api/analytics/forecasting/demand?product_id={p}&granularity=monthly"),
            422,
            Some("granularity"),
        ),
        (
            format!("/api/analytics/forecasting/demand?product_id={p}&warehouse_id=999999"),
            422,
            Some("warehouse_id"),
        ),
        (
            "/api/analytics/reorder-advice?service_level=2".to_string(),
            422,
            Some("service_level"),
        ),
        (
            "/api/analytics/forecasting/accuracy?limit=0".to_string(),
            422,
            Some("limit"),
        ),
        (
            "/api/analytics/forecasting/accuracy?level=shelf".to_string(),
            422,
            Some("level"),
        ),
        (
            format!("/api/analytics/forecasting/demand?product_id={p}&category_id=1"),
            422,
            Some("category_id"),
        ),
        (
            "/api/analytics/forecasting/demand?category_id=999999".to_string(),
            404,
            None,
        ),
    ];
    for (path, status, field) in cases {
        let r = app.get(&path, &app.admin).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.body);
        if let Some(field) = field {
            assert_eq!(r.body["error"]["field"], field, "{path}: {}", r.body);
        }
    }
    // Neither a product nor a category: the whole business's demand.
    let all = app
        .get("/api/analytics/forecasting/demand", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(all["level"], "store", "{all}");
    let r = app
        .get("/api/analytics/forecasting/demand?product_id=abc", &app.admin)
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["error"]["field"]),
        (400, &json!("product_id")),
        "{}",
        r.body
    );
    app.put(
        &format!("/api/products/{p}/replenishment"),
        &app.admin,
        json!({"lead_time_days": 7, "review_days": 7, "min_order_qty": 0, "pack_size": 0}),
    )
    .await
    .expect_error(422, "validation", Some("pack_size"));
    app.post(
        "/api/analytics/forecasting/batch",
        &app.admin,
        json!({"product_ids": [], "horizon": 3}),
    )
    .await
    .expect_error(422, "validation", Some("product_ids"));
}
