#![allow(clippy::unwrap_used)]
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

// CSV import and export over HTTP, on SQLite and PostgreSQL, with small files written here
// (the real Online Retail file is not needed).

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::Value;

use helpers::{Response, TestApp};

async fn import(app: &TestApp, format: &str, query: &str, csv: &str) -> Response {
    let uri = if query.is_empty() {
        format!("/api/imports/{format}")
    } else {
        format!("/api/imports/{format}?{query}")
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "text/csv")
        .body(Body::from(csv.to_string()))
        .unwrap();
    app.send(request).await
}

async fn export(app: &TestApp, format: &str) -> String {
    let r = app.get(&format!("/api/exports/{format}"), &app.admin).await.expect(200);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    r.body.as_str().unwrap().to_string()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let mut conn = app.state.db.read().await.unwrap();
    let mut c = conn.conn();
    bodega_store::sql::query_scalar::<i64>(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

async fn drift_is_empty(app: &TestApp) {
    let mut conn = app.state.db.read().await.unwrap();
    let drift = bodega_store::stock::drift(&mut conn.conn()).await.unwrap();
    assert!(drift.is_empty(), "ledger drift: {drift:?}");
}

const PRODUCTS: &str = "sku,name,category,price,cost,description,keywords,supplier,status,low_stock_threshold,stock
P-1,Polera azul,Ropa / Hombre,9990,4000,Algodón,polera;azul,,active,5,20
P-2,Jeans,Ropa / Hombre / Pantalones,19990,8000,,,,,,
P-3,Gorro,Accesorios,4990,,,,,inactive,,3
";

const CUSTOMERS: &str = "customer_id,first_name,last_name,email,phone,rut,address
C1,Ana,Pérez,ana@example.cl,+56911111111,12.345.678-5,Santiago
C2,Luis,Soto,,,,
";

const SALES: &str = "sale_id,customer_id,store,timestamp,total
S1,C1,STGO,2024-03-01 10:00,29980
S2,,STGO,2024-03-02T11:30:00Z,0
";

const SALES_ITEMS: &str = "sale_id,product_id,quantity,unit_price
S1,P-1,1,9990
S1,P-2,1,19990
S2,P-1,2,9000
";

const TRANSACTIONS: &str = "order_id,customer_id,product_id,quantity,unit_price,timestamp,product_name,category,store
T1,K1,SKU-A,2,1500,2024-01-05 09:00:00,Café,Almacén / Bebidas,S01
T1,K1,SKU-B,1,990,2024-01-05 09:00:00,Pan,Almacén,S01
T2,K2,SKU-A,3,1500,2024-01-06 12:00:00,Café,Almacén / Bebidas,S02
T3,,SKU-C,1,5000,2024-01-07 18:00:00,Queso,,S01
";

async fn each_format_imports(app: TestApp) {
    let r = import(&app, "products", "", PRODUCTS).await.expect(200);
    assert_eq!(r.body["imported"]["products"], 3, "{}", r.body);
    assert_eq!(r.body["imported"]["categories"], 4, "{}", r.body);
    assert_eq!(r.body["imported"]["stock_movements"], 2, "{}", r.body);
    assert_eq!(r.body["mode"], "none");
    let p = app.get("/api/products?q=P-1", &app.admin).await.expect(200);
    let p1 = p.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "P-1")
        .unwrap()
        .clone();
    assert_eq!(p1["category"], "Ropa / Hombre");
    assert_eq!(p1["on_hand"], 20);
    assert_eq!(p1["price"], 9990);
    assert_eq!(p1["keywords"], serde_json::json!(["polera", "azul"]));

    let r = import(&app, "customers", "", CUSTOMERS).await.expect(200);
    assert_eq!(r.body["imported"]["customers"], 2);
    let c = app.get("/api/customers?q=ana@example.cl", &app.admin).await.expect(200);
    assert_eq!(c.body["items"][0]["rut"], "12345678-5");
    assert_eq!(c.body["items"][0]["external_ref"], "C1");

    let r = import(&app, "sales", "", SALES).await.expect(200);
    assert_eq!(r.body["imported"]["sales"], 2);
    assert_eq!(r.body["imported"]["warehouses"], 1);
    assert_eq!(r.body["mode"], "historical");
    let r = import(&app, "sales-items", "", SALES_ITEMS).await.expect(200);
    assert_eq!(r.body["imported"]["sale_items"], 3);
    let sales = app.get("/api/sales?channel=import", &app.admin).await.expect(200);
    let s2 = sales.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["external_ref"] == "S2")
        .unwrap()
        .clone();
    assert_eq!(s2["total"], 18000, "totals recomputed from the lines");
    assert_eq!(s2["items_count"], 2);
    assert_eq!(s2["historical"], true);

    let r = import(&app, "transactions", "", TRANSACTIONS).await.expect(200);
    let i = &r.body["imported"];
    assert_eq!(
        (i["sales"].as_i64(), i["sale_items"].as_i64()),
        (Some(3), Some(4)),
        "{}",
        r.body
    );
    assert_eq!((i["products"].as_i64(), i["customers"].as_i64()), (Some(3), Some(2)));
    assert_eq!(i["warehouses"], 2);
    assert_eq!(i["stock_movements"], 0, "historical sales leave stock alone");
    assert_eq!(r.body["committed"], true);
    drift_is_empty(&app).await;
}

async fn bad_rows_import_nothing(app: TestApp) {
    let csv = "sku,name,price,stock
OK-1,Fine,100,1
BAD-1,,100,
BAD-2,Price,abc,
OK-1,Repeated,100,
BAD-3,Stock,100,-4
";
    let before = count(&app, "products").await;
    let r = import(&app, "products", "", csv).await.expect(422);
    assert_eq!(r.body["committed"], false);
    assert_eq!(r.body["errors_total"], 4, "{}", r.body);
    let errors: Vec<(i64, String)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["reason"].as_str().unwrap().is_empty());
            (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (3, "name".to_string()),
            (4, "price".to_string()),
            (5, "sku".to_string()),
            (6, "stock".to_string())
        ]
    );
    assert_eq!(count(&app, "products").await, before, "nothing half-imported");
    assert_eq!(count(&app, "stock_movements").await, 0);

    // A missing required column.
    let r = import(&app, "customers", "", "customer_id,last_name\n1,Soto\n")
        .await
        .expect(422);
    assert_eq!(r.body["errors"][0]["field"], "first_name");
    // Bad RUT and e-mail.
    let r = import(
        &app,
        "customers",
        "",
        "customer_id,first_name,email,rut\n1,Ana,not-an-email,12.345.678-9\n",
    )
    .await
    .expect(422);
    assert_eq!(r.body["errors_total"], 2, "{}", r.body);
    // Lines of a transactions file are all or nothing too.
    let r = import(
        &app,
        "transactions",
        "",
        &format!("{TRANSACTIONS}T9,K9,SKU-Z,1,10,not a date\n"),
    )
    .await
    .expect(422);
    assert_eq!(r.body["errors"][0]["row"], 6);
    assert_eq!(r.body["errors"][0]["field"], "timestamp");
    assert_eq!(count(&app, "sales").await, 0);
    assert_eq!(count(&app, "customers").await, 0);
    // Sales items must name known sales and products.
    let r = import(&app, "sales-items", "", SALES_ITEMS).await.expect(422);
    assert_eq!(r.body["errors_total"], 6, "{}", r.body);
}

async fn ledger_mode_keeps_the_ledger(app: TestApp) {
    let r = import(&app, "transactions", "stock=ledger", TRANSACTIONS)
        .await
        .expect(200);
    assert_eq!(r.body["mode"], "ledger");
    // Openings: SKU-A@S01, SKU-B@S01, SKU-A@S02, SKU-C@S01 = 4, plus 4 sale exits.
    assert_eq!(r.body["imported"]["stock_movements"], 8, "{}", r.body);
    drift_is_empty(&app).await;
    let sales = app.get("/api/sales", &app.admin).await.expect(200);
    assert!(sales.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["historical"] == false));
    let m = app
        .get("/api/stock/movements?kind=opening", &app.admin)
        .await
        .expect(200);
    assert_eq!(m.body["total"], 4, "{}", m.body);
    let q: i64 = m.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(q, 2 + 1 + 3 + 1);
    let levels = app.get("/api/stock/levels", &app.admin).await.expect(200);
    assert!(levels.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["on_hand"] == 0));
    // Ledger over stock that already exists: still no drift, stock unchanged.
    import(
        &app,
        "products",
        "warehouse=S01",
        "sku,name,price,stock\nSKU-N,Nuevo,100,7\n",
    )
    .await
    .expect(200);
    import(
        &app,
        "transactions",
        "stock=ledger",
        "order_id,customer_id,product_id,quantity,unit_price,timestamp,store\nT7,K1,SKU-N,2,100,2024-02-01 10:00,S01\n",
    )
    .await
    .expect(200);
    drift_is_empty(&app).await;
    let p = app.get("/api/products?q=SKU-N", &app.admin).await.expect(200);
    assert_eq!(p.body["items"][0]["on_hand"], 7);
}

const ONLINE_RETAIL: &str = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom
536414,22139,,56,12/1/2010 11:52,0,,United Kingdom
536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,12/1/2010 14:32,2.51,,United Kingdom
536589,21777,,-10,12/1/2010 16:50,0,17850,United Kingdom
537032,21275,?,-30,12/3/2010 16:50,0,13047,United Kingdom
A563185,B,Adjust bad debt,1,8/12/2011 14:50,-11062.06,13047,United Kingdom
536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/1/2010 8:45,3.75,12583,France
536370,POST,POSTAGE,3,12/1/2010 8:45,18,12583,France
";

async fn online_retail_cleaning(app: TestApp) {
    let r = import(&app, "online-retail", "", ONLINE_RETAIL).await.expect(200);
    let b = &r.body;
    assert_eq!(b["rows_read"], 12);
    assert_eq!(b["decimals"], 2);
    assert_eq!(b["skipped"]["cancelled"], 1, "{b}");
    assert_eq!(b["skipped"]["no_customer"], 2, "{b}");
    assert_eq!(b["skipped"]["non_positive_quantity"], 2, "{b}");
    assert_eq!(b["skipped"]["non_positive_price"], 1, "{b}");
    let i = &b["imported"];
    assert_eq!(i["sales"], 4);
    assert_eq!(i["sale_items"], 6);
    assert_eq!(i["customers"], 3);
    assert_eq!(i["products"], 6);
    // One warehouse, MAIN (made at start-up).
    assert_eq!(i["warehouses"], 0);
    assert_eq!(count(&app, "warehouses").await, 1);
    let sales = app.get("/api/sales", &app.admin).await.expect(200);
    let s = sales.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["external_ref"] == "536365")
        .unwrap()
        .clone();
    assert_eq!(s["total"], 6 * 255 + 6 * 339);
    assert_eq!(s["sold_at"], "2010-12-01T08:26:00Z");
    assert!(s["warehouse_id"].is_i64());
    // One summary event for the whole import.
    let mut conn = app.state.db.read().await.unwrap();
    let events = bodega_store::outbox::list(&mut conn.conn(), None, 0, 1000)
        .await
        .unwrap();
    assert_eq!(events.iter().filter(|e| e.event_type == "import.completed").count(), 1);
    assert!(!events.iter().any(|e| e.event_type == "sale.recorded"));
}

async fn reimport_skips_duplicates(app: TestApp) {
    import(&app, "online-retail", "", ONLINE_RETAIL).await.expect(200);
    let (sales, items) = (count(&app, "sales").await, count(&app, "sale_items").await);
    let r = import(&app, "online-retail", "", ONLINE_RETAIL).await.expect(200);
    assert_eq!(r.body["duplicates"], 4, "{}", r.body);
    assert_eq!(r.body["imported"]["sales"], 0);
    assert_eq!(r.body["imported"]["sale_items"], 0);
    assert_eq!(
        (count(&app, "sales").await, count(&app, "sale_items").await),
        (sales, items)
    );
    // Products and customers too.
    import(&app, "products", "", PRODUCTS).await.expect(200);
    let r = import(&app, "products", "", PRODUCTS).await.expect(200);
    assert_eq!(r.body["duplicates"], 3);
    assert_eq!(r.body["imported"]["products"], 0);
    // Dry run: counts, writes nothing.
    let r = import(&app, "customers", "dry_run=true", CUSTOMERS).await.expect(200);
    assert_eq!(r.body["imported"]["customers"], 2);
    assert_eq!(r.body["committed"], false);
    assert_eq!(count(&app, "customers").await, 3);
}

async fn export_import_round_trip(app: TestApp) {
    import(&app, "products", "", PRODUCTS).await.expect(200);
    import(&app, "customers", "", CUSTOMERS).await.expect(200);
    import(&app, "transactions", "stock=ledger", TRANSACTIONS)
        .await
        .expect(200);
    let exports: Vec<(&str, String)> = vec![
        ("products", export(&app, "products").await),
        ("customers", export(&app, "customers").await),
        ("sales", export(&app, "sales").await),
        ("sales-items", export(&app, "sales-items").await),
        ("transactions", export(&app, "transactions").await),
    ];
    assert!(exports[4]
        .1
        .starts_with("order_id,customer_id,product_id,quantity,unit_price,timestamp"));
    assert_eq!(exports[4].1.lines().count(), 5);
    // Into a fresh store: products, customers, sales, then their lines.
    let store = if app.state.db.backend() == bodega_store::Backend::Sqlite {
        helpers::Store::Sqlite
    } else {
        helpers::Store::Postgres
    };
    let other = helpers::spawn(store).await.unwrap();
    for (format, csv) in &exports[..4] {
        let r = import(&other, format, "", csv).await;
        assert_eq!(r.status.as_u16(), 200, "{format}: {}", r.body);
    }
    for (format, csv) in &exports {
        assert_eq!(&export(&other, format).await, csv, "{format} round trip");
    }
    // The transactions export alone rebuilds the sales too.
    let third = helpers::spawn(store).await.unwrap();
    let r = import(&third, "transactions", "", &exports[4].1).await.expect(200);
    assert_eq!(r.body["imported"]["sale_items"], 4);
    assert_eq!(export(&third, "transactions").await, exports[4].1);
    drift_is_empty(&app).await;
    let _: Value = r.body;
}

async fn permissions(app: TestApp) {
    let employee = app.token_for_role("employee").await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/imports/products")
        .header("authorization", format!("Bearer {employee}"))
        .header("content-type", "text/csv")
        .body(Body::from(PRODUCTS))
        .unwrap();
    let r = app.send(request).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    import(&app, "nonsense", "", PRODUCTS)
        .await
        .expect_error(422, "validation", Some("format"));
    import(&app, "sales", "stock=maybe", SALES)
        .await
        .expect_error(422, "validation", Some("stock"));
}

/// Rows an API request would be refused for are refused by the import too, and nothing of the
/// file is written: stock past the opening maximum (it broke every later entry on SQLite),
/// a SKU with a tab, a NUL (PostgreSQL cannot store one), an over-long name, a price past
/// the maximum, an opening entry worth more than a sale may be, a sales line past the quantity maximum, a warehouse code the API refuses.
async fn imports_keep_the_api_bounds(app: TestApp) {
    let long = "x".repeat(201);
    let csv = format!(
        "sku,name,price,cost,stock
OK-1,Fine,100,0,1
BIG-1,Huge,100,0,9223372036854775807
TAB\t1,Tabbed,100,0,1
NUL-1,a{nul}b,100,0,1
LONG-1,{long},100,0,1
PRICY-1,Pricy,10000000000000,0,1
WORTH-1,Worth,100,1000000000000,2
",
        nul = '\u{0}'
    );
    let r = import(&app, "products", "decimals=0", &csv).await.expect(422);
    let errors: Vec<(i64, String)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(i64, String)> = [
        (3, "stock"),
        (4, "sku"),
        (5, "name"),
        (6, "name"),
        (7, "price"),
        (8, "stock"),
    ]
    .iter()
    .map(|(row, field)| (*row, field.to_string()))
    .collect();
    assert_eq!(errors, expected, "{}", r.body);
    let r = import(
        &app,
        "products",
        "warehouse=BAD%20CODE",
        "sku,name,price,stock\nW-1,W,100,1\n",
    )
    .await
    .expect(422);
    assert_eq!(r.body["errors"][0]["field"], "warehouse", "{}", r.body);
    // Opening stock in a deactivated warehouse could never leave it.
    app.post(
        "/api/warehouses",
        &app.admin,
        serde_json::json!({"code": "SHUT", "name": "Cerrada", "is_active": false}),
    )
    .await
    .expect(201);
    let r = import(
        &app,
        "products",
        "warehouse=SHUT",
        "sku,name,price,stock\nW-1,W,100,1\n",
    )
    .await
    .expect(422);
    assert_eq!(r.body["errors"][0]["field"], "warehouse", "{}", r.body);
    assert!(
        r.body["errors"][0]["reason"].as_str().unwrap().contains("deactivated"),
        "{}",
        r.body
    );
    let r = import(
        &app,
        "transactions",
        "",
        &format!(
            "order_id,customer_id,product_id,quantity,unit_price,timestamp,store,category
O1,C1,P1,2000000,100,2024-01-01 10:00,,
O2,C1,P1,1,100,2024-01-01 10:00,BAD STORE,
O3,C1,P1,1,100,2024-01-01 10:00,,Bebidas / {long}
O4,C1,P 2,1,100,2024-01-01 10:00,SANTIAGO-1,Bebidas
"
        ),
    )
    .await
    .expect(422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["quantity", "store", "category"], "{}", r.body);
    assert_eq!(count(&app, "products").await, 0, "nothing half-imported");
    assert_eq!(count(&app, "stock_movements").await, 0);

    // More decimals than the currency has: rounded half up, and the report says how many.
    let r = import(
        &app,
        "products",
        "decimals=0",
        "sku,name,price\nR-1,Redondo,1.5\nR-2,Entero,2.0\n",
    )
    .await
    .expect(200);
    assert_eq!(r.body["rounded"], 1, "{}", r.body);
    let rounded = app.get("/api/products?q=R-1", &app.admin).await.expect(200).body;
    assert_eq!(rounded["items"][0]["price"], 2, "{rounded}");
}

/// The `(product_id, warehouse_id)` pairs of the live alerts and of the low-stock listing,
/// sorted: the two views of low stock must agree.
async fn alerts_and_low_stock(app: &TestApp) -> (Vec<(i64, i64)>, Vec<(i64, i64)>) {
    let pairs = |items: &Value| {
        let mut v: Vec<(i64, i64)> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["product_id"].as_i64().unwrap(), i["warehouse_id"].as_i64().unwrap()))
            .collect();
        v.sort_unstable();
        v
    };
    let alerts = app
        .get("/api/alerts?status=open&per_page=100", &app.admin)
        .await
        .expect(200);
    let low = app.get("/api/inventory/low-stock", &app.admin).await.expect(200);
    (pairs(&alerts.body["items"]), pairs(&low.body))
}

/// The data of the outbox events of a type, in order.
async fn events_of(app: &TestApp, event_type: &str) -> Vec<Value> {
    let mut conn = app.state.db.read().await.unwrap();
    let events = bodega_store::outbox::list(&mut conn.conn(), None, 0, 10_000)
        .await
        .unwrap();
    events
        .iter()
        .filter(|e| e.event_type == event_type)
        .map(|e| e.payload_json()["data"].clone())
        .collect()
}

/// Products created by sales lines get the threshold a product gets by default (10), not 0.
async fn implied_products_get_the_default_threshold(app: TestApp) {
    import(&app, "transactions", "", TRANSACTIONS).await.expect(200);
    import(&app, "online-retail", "", ONLINE_RETAIL).await.expect(200);
    for sku in ["SKU-A", "SKU-C", "85123A", "POST"] {
        let p = app.get(&format!("/api/products?q={sku}"), &app.admin).await.expect(200);
        let product = p.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == sku)
            .unwrap_or_else(|| panic!("{sku}: {}", p.body))
            .clone();
        assert_eq!(product["low_stock_threshold"], 10, "{sku}: {product}");
    }
}

/// An import that writes stock raises the alerts a stock change through the API would, with
/// their events, in the import's transaction; historical sales book no stock and raise none.
async fn imports_raise_stock_alerts(app: TestApp) {
    // LOW-1 is below the default threshold, OK-1 is not, OFF-1 is inactive, NONE-1 has no stock.
    let csv = "sku,name,price,status,low_stock_threshold,stock
LOW-1,Poco,100,,,3
OK-1,Bastante,100,,,20
OFF-1,Inactivo,100,inactive,,1
EDGE-1,Justo,100,,5,5
NONE-1,Sin stock,100,,,
";
    let r = import(&app, "products", "dry_run=true", csv).await.expect(200);
    assert_eq!(r.body["committed"], false);
    assert_eq!(count(&app, "stock_alerts").await, 0, "a dry run raises nothing");
    import(&app, "products", "", csv).await.expect(200);
    let (alerts, low) = alerts_and_low_stock(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts, low, "GET /api/alerts agrees with the low-stock listing");
    let p = app.get("/api/products?q=LOW-1", &app.admin).await.expect(200);
    assert_eq!(alerts[0].0, p.body["items"][0]["id"].as_i64().unwrap());
    let alert = app.get("/api/alerts?status=open", &app.admin).await.expect(200).body["items"][0].clone();
    assert_eq!(
        (alert["current_stock"].as_i64(), alert["threshold"].as_i64()),
        (Some(3), Some(10))
    );
    assert!(alert["alert_message"].as_str().unwrap().contains("Poco"), "{alert}");
    let raised = events_of(&app, "alert.raised").await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0]["id"], alert["id"], "the event carries the alert");
    assert_eq!(raised[0]["product_id"], alert["product_id"]);

    // Historical sales: no stock, no alerts.
    import(&app, "transactions", "", TRANSACTIONS).await.expect(200);
    assert_eq!(count(&app, "stock_alerts").await, 1);
    // Ledger sales of new products leave their levels at 0: below the threshold, one alert a
    // level (SKU-X@S01, SKU-X@S02, SKU-Y@S01); a level already alerted keeps its one alert.
    let ledger = "order_id,customer_id,product_id,quantity,unit_price,timestamp,store
L1,K1,SKU-X,2,100,2024-02-01 10:00,S01
L1,K1,SKU-Y,1,100,2024-02-01 10:00,S01
L2,K2,SKU-X,1,100,2024-02-02 10:00,S02
L3,K2,LOW-1,1,100,2024-02-03 10:00,MAIN
";
    let r = import(&app, "transactions", "stock=ledger", ledger).await.expect(200);
    assert_eq!(r.body["mode"], "ledger");
    let (alerts, low) = alerts_and_low_stock(&app).await;
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    assert_eq!(alerts, low);
    assert_eq!(events_of(&app, "alert.raised").await.len(), 4);
    drift_is_empty(&app).await;
}

/// Lines imported under sales of another mode are refused, row by row, with nothing written;
/// in the sales' mode they import, and the report names that mode.
async fn sales_items_follow_their_sales_mode(app: TestApp) {
    import(&app, "products", "", PRODUCTS).await.expect(200);
    import(&app, "customers", "", CUSTOMERS).await.expect(200);
    let r = import(&app, "sales", "", SALES).await.expect(200);
    assert_eq!(r.body["mode"], "historical");
    let (movements, items) = (count(&app, "stock_movements").await, count(&app, "sale_items").await);
    let r = import(&app, "sales-items", "stock=ledger", SALES_ITEMS)
        .await
        .expect(422);
    assert_eq!(r.body["errors_total"], 3, "one error per line: {}", r.body);
    for e in r.body["errors"].as_array().unwrap() {
        assert_eq!(e["field"], "sale_id");
        let reason = e["reason"].as_str().unwrap();
        assert!(
            reason.contains("historical mode") && reason.contains("stock=historical"),
            "{reason}"
        );
    }
    assert_eq!(
        (count(&app, "stock_movements").await, count(&app, "sale_items").await),
        (movements, items),
        "nothing half-imported"
    );
    let r = import(&app, "sales-items", "", SALES_ITEMS).await.expect(200);
    assert_eq!(r.body["mode"], "historical");
    assert_eq!(
        count(&app, "stock_movements").await,
        movements,
        "historical lines book no stock"
    );

    // Sales in ledger mode take their lines in ledger mode only.
    let sales = "sale_id,customer_id,store,timestamp\nS3,C1,STGO,2024-03-05 10:00\n";
    let lines = "sale_id,product_id,quantity,unit_price\nS3,P-1,2,9990\n";
    import(&app, "sales", "stock=ledger", sales).await.expect(200);
    let r = import(&app, "sales-items", "", lines).await.expect(422);
    let reason = r.body["errors"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("ledger mode") && reason.contains("stock=ledger"),
        "{reason}"
    );
    assert_eq!(count(&app, "sale_items").await, items + 3);
    let r = import(&app, "sales-items", "stock=ledger", lines).await.expect(200);
    assert_eq!(r.body["mode"], "ledger");
    assert_eq!(r.body["imported"]["stock_movements"], 2, "an opening and a sale exit");
    drift_is_empty(&app).await;
}

/// A products export names suppliers; importing it into an empty store creates them (once per
/// name, ignoring case) and links the products, so the export round-trips.
async fn exported_products_import_with_their_suppliers(app: TestApp) {
    let supplier = app
        .post(
            "/api/suppliers",
            &app.admin,
            serde_json::json!({"name": "Textiles Andes"}),
        )
        .await
        .expect(201);
    let csv = "sku,name,price,supplier,stock
S-1,Polera,9990,textiles andes,4
S-2,Gorro,4990,Lanas del Sur,
S-3,Bufanda,5990,LANAS DEL SUR,
S-4,Taza,2990,,
";
    let r = import(&app, "products", "", csv).await.expect(200);
    assert_eq!(r.body["imported"]["suppliers"], 1, "{}", r.body);
    let p = app.get("/api/products?q=S-1", &app.admin).await.expect(200);
    assert_eq!(
        p.body["items"][0]["supplier_id"], supplier.body["id"],
        "matched ignoring case"
    );
    let exported = export(&app, "products").await;
    assert!(exported.contains("Textiles Andes") && exported.contains("Lanas del Sur"));

    let store = if app.state.db.backend() == bodega_store::Backend::Sqlite {
        helpers::Store::Sqlite
    } else {
        helpers::Store::Postgres
    };
    let fresh = helpers::spawn(store).await.unwrap();
    let r = import(&fresh, "products", "", &exported).await.expect(200);
    assert_eq!(r.body["imported"]["suppliers"], 2, "{}", r.body);
    assert_eq!(r.body["imported"]["products"], 4);
    assert_eq!(export(&fresh, "products").await, exported, "round trip");
    let suppliers = fresh.get("/api/suppliers", &fresh.admin).await.expect(200);
    let mut names: Vec<&str> = suppliers.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Lanas del Sur", "Textiles Andes"]);
    // Again: every product a duplicate, no supplier created twice.
    let r = import(&fresh, "products", "", &exported).await.expect(200);
    assert_eq!(r.body["imported"]["suppliers"], 0);
    assert_eq!(count(&fresh, "suppliers").await, 2);
    // A supplier name past the API's bound is a row error.
    let long = format!("sku,name,price,supplier\nL-1,Largo,100,{}\n", "x".repeat(201));
    let r = import(&fresh, "products", "", &long).await.expect(422);
    assert_eq!(r.body["errors"][0]["field"], "supplier", "{}", r.body);
    assert_eq!(count(&fresh, "suppliers").await, 2);
}

/// Imported products and customers write the events the API's create writes; sales stay
/// summarised by the one `import.completed` event.
async fn imported_records_write_their_events(app: TestApp) {
    let created = app
        .post(
            "/api/products",
            &app.admin,
            serde_json::json!({"sku": "API-1", "name": "Por API", "price": 100}),
        )
        .await
        .expect(201);
    import(&app, "products", "", PRODUCTS).await.expect(200);
    let products = events_of(&app, "product.created").await;
    assert_eq!(products.len(), 4, "one by the API, three by the import");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&products[1]), keys(&products[0]), "the API's payload");
    assert_eq!(products[0]["product_id"], created.body["id"]);
    let p1 = products.iter().find(|p| p["sku"] == "P-1").unwrap();
    let stored = app.get("/api/products?q=P-1", &app.admin).await.expect(200).body["items"][0].clone();
    assert_eq!(p1["product_id"], stored["id"]);
    assert_eq!(p1["category"], "Ropa / Hombre");
    assert_eq!(p1["keywords"], serde_json::json!(["polera", "azul"]));
    assert_eq!(p1["price"], 9990);

    import(&app, "customers", "", CUSTOMERS).await.expect(200);
    let customers = events_of(&app, "customer.created").await;
    assert_eq!(customers.len(), 2);
    let ana = app
        .get("/api/customers?q=ana@example.cl", &app.admin)
        .await
        .expect(200)
        .body["items"][0]
        .clone();
    assert_eq!(customers[0], ana, "the customer as payload");

    let r = import(&app, "online-retail", "", ONLINE_RETAIL).await.expect(200);
    assert_eq!(events_of(&app, "product.created").await.len(), 4 + 6);
    assert_eq!(events_of(&app, "customer.created").await.len(), 2 + 3);
    assert_eq!(events_of(&app, "import.completed").await.len(), 3);
    assert!(events_of(&app, "sale.recorded").await.is_empty());
    let _: Value = r.body;
    // A dry run writes no event.
    let before = events_of(&app, "product.created").await.len();
    import(&app, "products", "dry_run=true", "sku,name,price\nD-1,Dry,1\n")
        .await
        .expect(200);
    assert_eq!(events_of(&app, "product.created").await.len(), before);
}

/// The sales layout's optional `payment_method` column: imported (any case, empty = not
/// recorded), validated like the till's, exported, and round-tripped.
async fn sales_import_and_export_their_payment_method(app: TestApp) {
    import(&app, "customers", "", CUSTOMERS).await.expect(200);
    let csv = "sale_id,customer_id,store,timestamp,total,payment_method
PM1,C1,STGO,2024-03-01 10:00,1000,card
PM2,,STGO,2024-03-02 10:00,2000,Cash
PM3,,STGO,2024-03-03 10:00,500,
";
    // An unknown method fails its row, and the file imports nothing.
    let bad = csv.replace(
        "PM3,,STGO,2024-03-03 10:00,500,",
        "PM3,,STGO,2024-03-03 10:00,500,bitcoin",
    );
    let r = import(&app, "sales", "", &bad).await.expect(422);
    assert_eq!(r.body["committed"], false);
    assert_eq!(r.body["errors_total"], 1, "{}", r.body);
    assert_eq!(r.body["errors"][0]["row"], 4);
    assert_eq!(r.body["errors"][0]["field"], "payment_method");
    let reason = r.body["errors"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cash, card, transfer, credit, voucher, other"),
        "{reason}"
    );
    assert_eq!(count(&app, "sales").await, 0);

    let r = import(&app, "sales", "", csv).await.expect(200);
    assert_eq!(r.body["imported"]["sales"], 3, "{}", r.body);
    let method_of = |external_ref: &'static str| {
        let app = &app;
        async move {
            let page = app.get("/api/sales?per_page=100", &app.admin).await.expect(200).body;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["external_ref"] == external_ref)
                .unwrap()["payment_method"]
                .clone()
        }
    };
    assert_eq!(method_of("PM1").await, "card");
    assert_eq!(method_of("PM2").await, "cash", "stored as the till writes it");
    assert_eq!(method_of("PM3").await, Value::Null);
    let cash = app
        .get("/api/sales?payment_method=cash", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(cash["total"], 1);

    let exported = export(&app, "sales").await;
    let mut rows = exported.lines();
    assert_eq!(
        rows.next(),
        Some("sale_id,customer_id,store,timestamp,total,payment_method")
    );
    let methods: Vec<(&str, &str)> = rows
        .map(|row| {
            let fields: Vec<&str> = row.split(',').collect();
            (fields[0], fields[fields.len() - 1])
        })
        .collect();
    assert_eq!(methods, [("PM1", "card"), ("PM2", "cash"), ("PM3", "")]);

    // Into a fresh store: the same sales, the same methods.
    let store = if app.state.db.backend() == bodega_store::Backend::Sqlite {
        helpers::Store::Sqlite
    } else {
        helpers::Store::Postgres
    };
    let other = helpers::spawn(store).await.unwrap();
    import(&other, "customers", "", CUSTOMERS).await.expect(200);
    import(&other, "sales", "", &exported).await.expect(200);
    assert_eq!(export(&other, "sales").await, exported);
}

on_both_stores!(
    imports_keep_the_api_bounds,
    each_format_imports,
    bad_rows_import_nothing,
    ledger_mode_keeps_the_ledger,
    online_retail_cleaning,
    reimport_skips_duplicates,
    export_import_round_trip,
    permissions,
    implied_products_get_the_default_threshold,
    imports_raise_stock_alerts,
    sales_items_follow_their_sales_mode,
    exported_products_import_with_their_suppliers,
    imported_records_write_their_events,
    sales_import_and_export_their_payment_method,
);
