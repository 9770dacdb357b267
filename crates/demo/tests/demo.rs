//! The small demo on both stores: fast, deterministic, consistent, and with the planted
//! structure (weekly seasonality, co-purchase affinity, stock-outs, open alerts).
//! PostgreSQL runs when `BODEGA_TEST_POSTGRES_URL` is set (a fresh database per test).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

use bodega_demo::{generate, DemoConfig, DemoSummary};
use bodega_domain::{PageRequest, Rut};
use bodega_store::{alerts, sql, stock, Db};

#[derive(Clone, Copy, Debug)]
enum Store {
    Sqlite,
    Postgres,
}

/// A fresh migrated database, dropped with the guard.
struct TestDb {
    db: Db,
    _guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { base: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { base, name } = self {
            let (base, name) = (base.clone(), name.clone());
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut c = sqlx::PgConnection::connect(&base).await.ok()?;
                    c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

async fn fresh(store: Store) -> Option<TestDb> {
    let (url, guard) = match store {
        Store::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("demo.db").display());
            (url, Guard::Sqlite(dir))
        }
        Store::Postgres => {
            let Ok(base) = std::env::var("BODEGA_TEST_POSTGRES_URL") else {
                eprintln!("skipped on PostgreSQL: BODEGA_TEST_POSTGRES_URL is not set");
                return None;
            };
            let name = format!("bodega_demo_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to BODEGA_TEST_POSTGRES_URL");
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            admin.close().await.ok();
            let options = PgConnectOptions::from_str(&base).expect("postgres url").database(&name);
            (options.to_url_lossy().to_string(), Guard::Postgres { base, name })
        }
    };
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    Some(TestDb { db, _guard: guard })
}

async fn small(store: Store) -> Option<(TestDb, DemoSummary, f64)> {
    let t = fresh(store).await?;
    let started = Instant::now();
    let summary = generate(&t.db, &DemoConfig::small(), |_, _, _| {})
        .await
        .expect("generate");
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{store:?}: small demo in {seconds:.2} s: {summary:?}");
    Some((t, summary, seconds))
}

/// (sale id, sold_at, channel, product name) of every sale line.
async fn lines(db: &Db) -> Vec<(i64, DateTime<Utc>, String, String)> {
    let mut conn = db.read().await.expect("read");
    let c = &mut conn.conn();
    sql::query_as(
        "SELECT s.id, s.sold_at, s.channel, i.product_name FROM sales s JOIN sale_items i ON i.sale_id = s.id ORDER BY s.id, i.id"
    )
    .fetch_all(c)
    .await
    .expect("sale lines")
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    let mut conn = db.read().await.expect("read");
    let c = &mut conn.conn();
    sql::query_scalar(sql).fetch_one(c).await.expect(sql)
}

async fn small_demo_is_fast_consistent_and_structured(store: Store) {
    let Some((t, summary, seconds)) = small(store).await else {
        return;
    };
    let cfg = DemoConfig::small();
    assert!(seconds < 60.0, "small demo took {seconds:.1} s");
    assert_eq!(summary.products, cfg.products);
    assert_eq!(summary.customers, cfg.customers);
    assert_eq!(summary.warehouses, cfg.stores + 1);
    assert!(summary.categories >= 20, "a 2–3 level tree: {}", summary.categories);
    assert!(summary.pos_sales > 500 && summary.orders > 10, "{summary:?}");

    // The ledger is consistent.
    {
        let mut conn = t.db.read().await.expect("read");
        let drift = stock::drift(&mut conn.conn()).await.expect("drift");
        assert!(drift.is_empty(), "stock drift: {drift:?}");
    }

    // Historical timestamps, within the configured period.
    let first = summary.first_day.expect("first day");
    let last = summary.last_day.expect("last day");
    let all = lines(&t.db).await;
    assert!(all
        .iter()
        .all(|(_, at, _, _)| at.date_naive() >= first && at.date_naive() <= last));
    let movements_now = scalar(
        &t.db,
        "SELECT COUNT(*) FROM stock_movements WHERE created_at > '2026-11-02'",
    )
    .await;
    assert_eq!(movements_now, 0, "movements stamped with the generation time");

    // Weekly seasonality: Saturdays sell more tickets than Tuesdays and Wednesdays.
    let mut per_weekday: HashMap<Weekday, HashSet<i64>> = HashMap::new();
    for (id, at, channel, _) in &all {
        if channel == "pos" {
            per_weekday.entry(at.weekday()).or_default().insert(*id);
        }
    }
    let count = |d: Weekday| per_weekday.get(&d).map_or(0, HashSet::len) as f64;
    let weekend = count(Weekday::Fri) + count(Weekday::Sat);
    let midweek = count(Weekday::Tue) + count(Weekday::Wed);
    assert!(weekend > 1.2 * midweek, "weekend {weekend} vs midweek {midweek}");

    // Co-purchase affinity: the planted pair co-occurs far above independence.
    let (a, b) = ("Detergente líquido", "Suavizante");
    assert!(summary.planted_pairs.contains(&(a.to_string(), b.to_string())));
    let mut baskets: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (id, _, _, name) in &all {
        baskets.entry(*id).or_default().push(name);
    }
    let n = baskets.len() as f64;
    let has = |basket: &Vec<&str>, prefix: &str| basket.iter().any(|x| x.starts_with(prefix));
    let na = baskets.values().filter(|x| has(x, a)).count() as f64;
    let nb = baskets.values().filter(|x| has(x, b)).count() as f64;
    let nab = baskets.values().filter(|x| has(x, a) && has(x, b)).count() as f64;
    let lift = nab * n / (na * nb).max(1.0);
    assert!(
        nab >= 5.0 && lift > 3.0,
        "{a} & {b}: {nab} together of {na}/{nb} in {n}, lift {lift:.1}"
    );

    // Stock-outs: shops ran dry and demand was lost; some alerts are still open.
    assert!(summary.stockout_days > 0 && summary.lost_units > 0, "{summary:?}");
    let dry = scalar(
        &t.db,
        "SELECT COUNT(*) FROM stock_movements WHERE kind = 'sale' AND balance_after = 0",
    )
    .await;
    assert!(dry > 0);

    // Till tickets are paid mostly by card, a good part in cash, some by transfer; a shipped
    // order's sale records no method.
    let pos = scalar(&t.db, "SELECT COUNT(*) FROM sales WHERE channel = 'pos'").await;
    let mut shares = Vec::new();
    for method in ["card", "cash", "transfer"] {
        let sql = format!("SELECT COUNT(*) FROM sales WHERE channel = 'pos' AND payment_method = '{method}'");
        shares.push(scalar(&t.db, &sql).await as f64 / pos as f64);
    }
    let [card, cash, transfer] = shares[..] else {
        unreachable!("three methods")
    };
    assert!(
        (card + cash + transfer - 1.0).abs() < 1e-9,
        "every till ticket records a method: card {card}, cash {cash}, transfer {transfer}"
    );
    assert!(
        (0.54..0.66).contains(&card) && (0.25..0.35).contains(&cash) && (0.06..0.14).contains(&transfer),
        "card {card}, cash {cash}, transfer {transfer}"
    );
    let order_sales_with_method = scalar(
        &t.db,
        "SELECT COUNT(*) FROM sales WHERE channel = 'order' AND payment_method IS NOT NULL",
    )
    .await;
    assert_eq!(order_sales_with_method, 0);
    {
        let mut conn = t.db.read().await.expect("read");
        let only_open = alerts::AlertFilter {
            status: Some("open"),
            ..Default::default()
        };
        let open = alerts::list(&mut conn.conn(), &only_open, PageRequest::default())
            .await
            .expect("alerts");
        assert!(open.total > 0 && open.total == summary.open_alerts);
    }

    // Valid RUTs and distinct e-mails.
    let mut conn = t.db.read().await.expect("read");
    let c = &mut conn.conn();
    let people: Vec<(Option<String>, Option<String>)> =
        sql::query_as("SELECT rut, email FROM customers UNION ALL SELECT rut, email FROM suppliers")
            .fetch_all(c)
            .await
            .expect("people");
    let mut emails = HashSet::new();
    for (rut, email) in people {
        Rut::parse("rut", rut.as_deref().unwrap_or("")).expect("valid RUT");
        assert!(emails.insert(email.expect("email")), "duplicate e-mail");
    }
    // Margins between 20 and 60 %.
    let products: Vec<(i64, i64)> = sql::query_as("SELECT price, cost FROM products")
        .fetch_all(c)
        .await
        .expect("products");
    for (price, cost) in products {
        let margin = 1.0 - cost as f64 / price as f64;
        assert!((0.19..=0.61).contains(&margin), "price {price} cost {cost}");
    }
}

async fn same_seed_same_store(store: Store) {
    let Some((one, s1, _)) = small(store).await else {
        return;
    };
    let Some((two, s2, _)) = small(store).await else {
        return;
    };
    assert_eq!(
        serde_json::to_value(&s1).expect("json"),
        serde_json::to_value(&s2).expect("json")
    );
    for sql in [
        "SELECT sku || '|' || name || '|' || CAST(price AS TEXT) || '|' || CAST(cost AS TEXT) FROM products ORDER BY id",
        "SELECT CAST(sold_at AS TEXT) || '|' || CAST(total AS TEXT) || '|' || COALESCE(CAST(customer_id AS TEXT), '-')
             || '|' || COALESCE(payment_method, '-') FROM sales ORDER BY id",
        "SELECT CAST(product_id AS TEXT) || '|' || CAST(warehouse_id AS TEXT) || '|' || CAST(on_hand AS TEXT) FROM stock_levels ORDER BY product_id, warehouse_id",
    ] {
        let rows = |db: Db| async move {
            let mut conn = db.read().await.expect("read");
            let c = &mut conn.conn();
            let rows: Vec<String> = sql::query_scalar(sql).fetch_all(c).await.expect(sql);
            rows
        };
        let (r1, r2) = (rows(one.db.clone()).await, rows(two.db.clone()).await);
        assert!(!r1.is_empty());
        assert_eq!(r1, r2, "{sql}");
    }
    let days = (s1.last_day.expect("day") - s1.first_day.expect("day")).num_days();
    assert_eq!(days, i64::from(DemoConfig::small().days) - 1);
    let _ = Duration::days(days);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Postgres).await;
                }
            )*
        }
    };
}

on_both_stores!(small_demo_is_fast_consistent_and_structured, same_seed_same_store);
