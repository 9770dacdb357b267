//! Analytics reports against hand-summed fixtures, CSV export, and the job scheduler: the
//! nightly `daily-sales` job is idempotent, every run is recorded, a run is claimed once.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};

use crate::common::{id, simple_product};
use crate::helpers::TestApp;

crate::on_both_stores!(
    reports_add_up_to_hand_summed_fixtures,
    the_daily_job_is_idempotent_and_every_run_is_recorded,
    past_sales_imported_after_the_nightly_job_are_reported_at_once,
    bad_report_input_is_refused
);

/// Three historical sales (2024-01-05..07) in two stores; costs unknown (0).
const TRANSACTIONS: &str = "order_id,customer_id,product_id,quantity,unit_price,timestamp,product_name,category,store
T1,K1,SKU-A,2,1500,2024-01-05 09:00:00,Café,Almacén / Bebidas,S01
T1,K1,SKU-B,1,990,2024-01-05 09:00:00,Pan,Almacén,S01
T2,K2,SKU-A,3,1500,2024-01-06 12:00:00,Café,Almacén / Bebidas,S02
T3,,SKU-C,1,5000,2024-01-07 18:00:00,Queso,,S01
";

async fn import_history(app: &TestApp) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/imports/transactions")
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "text/csv")
        .body(Body::from(TRANSACTIONS))
        .unwrap();
    app.send(request).await.expect(200);
}

async fn warehouse(app: &TestApp, code: &str) -> i64 {
    let list = app.get("/api/warehouses", &app.admin).await.expect(200).body;
    id(list.as_array().unwrap().iter().find(|w| w["code"] == code).unwrap())
}

async fn category(app: &TestApp, name: &str) -> i64 {
    let list = app.get("/api/categories", &app.admin).await.expect(200).body;
    let all = list
        .as_array()
        .cloned()
        .or_else(|| list["items"].as_array().cloned())
        .unwrap();
    id(all
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no category {name}: {list}")))
}

async fn report(app: &TestApp, path: &str) -> Value {
    app.get(&format!("/api/analytics/{path}"), &app.admin)
        .await
        .expect(200)
        .body
}

fn days(rows: &Value) -> Vec<(String, i64, i64)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["day"].as_str().unwrap().to_string(),
                r["units"].as_i64().unwrap(),
                r["revenue"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn reports_add_up_to_hand_summed_fixtures(app: TestApp) {
    import_history(&app).await;
    // Before the nightly job ever ran, every day is read live.
    let before = report(&app, "metrics/daily-sales?from=2024-01-01&to=2024-01-31").await;
    assert_eq!(days(&before).len(), 3, "{before}");
    let run = app
        .post("/api/jobs/daily-sales/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "manual");
    assert!(
        run["summary"].as_str().unwrap().contains("2024-01-05..2024-01-07"),
        "{run}"
    );

    let jan = "from=2024-01-01&to=2024-01-31";
    let daily = report(&app, &format!("metrics/daily-sales?{jan}")).await;
    assert_eq!(
        days(&daily),
        vec![
            ("2024-01-05".into(), 3, 2 * 1500 + 990),
            ("2024-01-06".into(), 3, 3 * 1500),
            ("2024-01-07".into(), 1, 5000),
        ]
    );
    assert_eq!(daily[0]["sale_lines"], 2, "T1 has two lines");

    // Store and category (with its subcategories) filters.
    let s02 = warehouse(&app, "S02").await;
    let only_s02 = report(&app, &format!("metrics/daily-sales?{jan}&warehouse_id={s02}")).await;
    assert_eq!(days(&only_s02), vec![("2024-01-06".into(), 3, 4500)]);
    let almacen = category(&app, "Almacén").await;
    let groceries = report(&app, &format!("metrics/daily-sales?{jan}&category_id={almacen}")).await;
    assert_eq!(
        days(&groceries),
        vec![("2024-01-05".into(), 3, 3990), ("2024-01-06".into(), 3, 4500)]
    );

    // Top products and profitability by store.
    let top = report(&app, &format!("metrics/top-products?{jan}&limit=2")).await;
    let top: Vec<(String, i64, i64)> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["units"].as_i64().unwrap(),
                r["revenue"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, vec![("Café".into(), 5, 7500), ("Queso".into(), 1, 5000)]);
    let by_store = report(&app, &format!("reports/profitability?{jan}&group_by=store")).await;
    let s01 = warehouse(&app, "S01").await;
    assert_eq!(by_store[0]["id"], s01);
    assert_eq!(by_store[0]["revenue"], 3990 + 5000);
    assert_eq!(by_store[1]["revenue"], 4500);
    assert_eq!(by_store[0]["revenue_share_pct"], 66.64, "8990 / 13490");
    let ranking = report(&app, &format!("reports/store-ranking?{jan}")).await;
    assert_eq!(
        (ranking[0]["rank"].as_i64(), ranking[0]["warehouse_id"].as_i64()),
        (Some(1), Some(s01))
    );

    // Categories: Bebidas 7500, no category 5000, Almacén (Pan) 990.
    let cats = report(&app, &format!("reports/category-performance?{jan}")).await;
    let cats: Vec<(String, i64)> = cats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().into(), r["revenue"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        cats,
        vec![
            ("Bebidas".into(), 7500),
            ("(no category)".into(), 5000),
            ("Almacén".into(), 990)
        ]
    );

    // RFM over January: K2 spent more (4500 vs 3990) and bought a day later.
    let rfm = report(&app, &format!("metrics/customer-ranking?{jan}")).await;
    assert_eq!(rfm.as_array().unwrap().len(), 2);
    assert_eq!(
        (rfm[0]["monetary"].as_i64(), rfm[0]["recency_days"].as_i64()),
        (Some(4500), Some(25))
    );
    assert_eq!(
        (rfm[1]["monetary"].as_i64(), rfm[1]["recency_days"].as_i64()),
        (Some(3990), Some(26))
    );
    assert!(rfm[0]["m"].as_u64().unwrap() > rfm[1]["m"].as_u64().unwrap());

    // Trends ending 2024-01-07: this week 13490, the week before nothing.
    let trends = report(&app, "metrics/sales-trends?from=2024-01-01&to=2024-01-07").await;
    assert_eq!(trends["week_over_week"]["current"]["revenue"], 13490);
    assert_eq!(trends["week_over_week"]["previous"]["revenue"], 0);
    assert_eq!(trends["week_over_week"]["revenue_change_pct"], Value::Null);

    // CSV export of the same rows.
    let csv = app
        .get(
            &format!("/api/analytics/metrics/daily-sales?{jan}&format=csv"),
            &app.admin,
        )
        .await
        .expect(200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.body.as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "day,units,revenue,cogs,margin,sale_lines");
    assert_eq!(lines[1], "2024-01-05,3,3990,0,3990,2");
    assert_eq!(lines.len(), 4);

    // Today is read live, with cost of goods at the recorded unit cost.
    let p = simple_product(&app, "HOY-1", 1000, 400, 10).await;
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": p, "quantity": 2}]}),
    )
    .await
    .expect(201);
    let today = report(&app, "metrics/daily-sales").await;
    let last = today.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["units"].as_i64(),
            last["revenue"].as_i64(),
            last["cogs"].as_i64(),
            last["margin"].as_i64()
        ),
        (Some(2), Some(2000), Some(800), Some(1200)),
        "{today}"
    );
    let health = report(&app, "metrics/inventory-health").await;
    let row = health
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product_id"] == p)
        .unwrap()
        .clone();
    assert_eq!(
        (row["on_hand"].as_i64(), row["units_sold"].as_i64()),
        (Some(8), Some(2))
    );
    assert_eq!(row["dead_stock"], false);
    assert_eq!(row["stock_out_days"], 0, "{row}");
    // Sold out today: today closes with nothing on hand, one store-day out of stock.
    let gone = simple_product(&app, "HOY-2", 1000, 400, 3).await;
    app.post(
        "/api/pos/sales",
        &app.admin,
        json!({"items": [{"product_id": gone, "quantity": 3}]}),
    )
    .await
    .expect(201);
    let health = report(&app, "metrics/inventory-health").await;
    let gone_row = health
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product_id"] == gone)
        .unwrap();
    assert_eq!(
        (gone_row["out_of_stock"].as_bool(), gone_row["stock_out_days"].as_i64()),
        (Some(true), Some(1)),
        "{gone_row}"
    );
    // 2 units over 30 days: 8 on hand last 120 days.
    assert_eq!(row["days_of_cover"], 120.0);
    let summary = report(&app, "reports/inventory-summary").await;
    assert!(summary
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["units"].as_i64().unwrap() >= 8));
}

/// The nightly job has run (so past days are read from the aggregates), then a file of past
/// sales is imported: the reports include it at once, without waiting for the next run.
async fn past_sales_imported_after_the_nightly_job_are_reported_at_once(app: TestApp) {
    let run = app
        .post("/api/jobs/daily-sales/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(run["summary"], "no new sales", "{run}");
    import_history(&app).await;
    let daily = report(&app, "metrics/daily-sales?from=2024-01-01&to=2024-01-31").await;
    assert_eq!(
        days(&daily),
        vec![
            ("2024-01-05".into(), 3, 2 * 1500 + 990),
            ("2024-01-06".into(), 3, 3 * 1500),
            ("2024-01-07".into(), 1, 5000),
        ]
    );
    let top = report(&app, "metrics/top-products?from=2024-01-01&to=2024-01-31&limit=1").await;
    assert_eq!(top[0]["units"], 5, "{top}");
}

async fn the_daily_job_is_idempotent_and_every_run_is_recorded(app: TestApp) {
    import_history(&app).await;
    let jan = "metrics/daily-sales?from=2024-01-01&to=2024-01-31";
    let first_run = app
        .post("/api/jobs/daily-sales/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    let first = report(&app, jan).await;
    // The second run re-reads the sales recorded since the midnight before the first (their
    // days might have been open then) and rebuilds the same days to the same rows.
    let again = app
        .post("/api/jobs/daily-sales/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(again["status"], "succeeded");
    assert_eq!(again["summary"], first_run["summary"]);
    assert_eq!(report(&app, jan).await, first);
    // Rebuilding a range twice gives the same aggregates.
    for _ in 0..2 {
        let mut tx = app.state.db.begin().await.unwrap();
        let from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let to = chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
        let rows = bodega_store::analytics::rebuild_daily_sales(&mut tx.conn(), from, to)
            .await
            .unwrap();
        assert_eq!(rows, 4, "one row per product and day and store");
        tx.commit().await.unwrap();
        assert_eq!(report(&app, jan).await, first);
    }

    let runs = app
        .get("/api/jobs/runs?job=daily-sales", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(runs["total"], 2);
    assert!(runs["items"][0]["finished_at"].is_string());
    let jobs = app.get("/api/jobs", &app.admin).await.expect(200).body;
    let daily = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "daily-sales")
        .unwrap()
        .clone();
    assert_eq!(daily["cron"], "15 2 * * *");
    assert!(daily["next_run_at"].is_string());
    assert_eq!(daily["last_run"]["summary"], first_run["summary"]);
    assert!(jobs
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["name"] == "recommendations-train"));

    // One running run per job; one replica takes a scheduled occurrence.
    let mut tx = app.state.db.begin().await.unwrap();
    let claimed = bodega_store::jobs::claim(&mut tx.conn(), "daily-sales", "manual", None)
        .await
        .unwrap();
    assert!(claimed.is_some());
    let twice = bodega_store::jobs::claim(&mut tx.conn(), "daily-sales", "manual", None)
        .await
        .unwrap();
    assert!(twice.is_none());
    tx.commit().await.unwrap();
    app.post("/api/jobs/daily-sales/run", &app.admin, json!({}))
        .await
        .expect_error(409, "conflict", None);
    let mut tx = app.state.db.begin().await.unwrap();
    let run = claimed.unwrap();
    bodega_store::jobs::finish(&mut tx.conn(), run.id, Ok("done"))
        .await
        .unwrap();
    let due = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    let first_replica = bodega_store::jobs::claim(&mut tx.conn(), "recommendations-train", "scheduled", Some(due))
        .await
        .unwrap()
        .unwrap();
    bodega_store::jobs::finish(&mut tx.conn(), first_replica.id, Ok("done"))
        .await
        .unwrap();
    let second_replica = bodega_store::jobs::claim(&mut tx.conn(), "recommendations-train", "scheduled", Some(due))
        .await
        .unwrap();
    assert!(second_replica.is_none(), "the occurrence was taken");
    tx.commit().await.unwrap();

    // The recommendation training job runs on demand too.
    let trained = app
        .post("/api/jobs/recommendations-train/run", &app.admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(trained["status"], "succeeded", "{trained}");
}

async fn bad_report_input_is_refused(app: TestApp) {
    let cases = [
        ("metrics/daily-sales?from=2024-02-01&to=2024-01-01", 422, Some("from")),
        ("metrics/daily-sales?format=xml", 422, Some("format")),
        ("metrics/top-products?limit=0", 422, Some("limit")),
        ("reports/profitability?group_by=planet", 422, Some("group_by")),
        ("metrics/daily-sales?from=2000-01-01&to=2024-01-01", 422, Some("from")),
    ];
    for (path, status, field) in cases {
        let r = app.get(&format!("/api/analytics/{path}"), &app.admin).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.body);
        assert_eq!(r.body["error"]["field"], json!(field), "{path}: {}", r.body);
    }
    let r = app
        .get("/api/analytics/metrics/daily-sales?from=yesterday", &app.admin)
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    assert!(r.body["error"]["code"].is_string());
    app.post("/api/jobs/nope/run", &app.admin, json!({}))
        .await
        .expect_error(404, "not_found", None);
    app.get("/api/jobs/runs?job=nope", &app.admin)
        .await
        .expect_error(404, "not_found", None);
}
