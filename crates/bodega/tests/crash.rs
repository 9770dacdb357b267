//! Crash test: the real `bodega serve` process under concurrent order and till traffic is killed
//! with SIGKILL at a random moment, three times, and restarted on the same database. After every
//! kill the database must be consistent (no ledger drift, every order's reservations, sale and
//! movements agree with its state, every sale's items equal its movements) and the restarted
//! server must serve again. Runs on SQLite, and on PostgreSQL when `BODEGA_TEST_POSTGRES_URL`
//! is set.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

use bodega_store::{sql, Conn, Db};

const EMAIL: &str = "crash@test.cl";
const PASSWORD: &str = "correct horse battery";
const PRODUCTS: usize = 8;
const CLIENTS: usize = 16;
const CYCLES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    crash_cycles("sqlite", &url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_on_postgres() {
    let Ok(base) = std::env::var("BODEGA_TEST_POSTGRES_URL") else {
        eprintln!("skipped on PostgreSQL: BODEGA_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("bodega_crash_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let url = PgConnectOptions::from_str(&base)
        .unwrap()
        .database(&name)
        .to_url_lossy()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let outcome = tokio::spawn({
        let url = url.clone();
        let path = dir.path().to_path_buf();
        async move { crash_cycles("postgres", &url, &path).await }
    })
    .await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .ok();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A running `bodega serve`; killed with SIGKILL when dropped (a failing test leaves no orphan).
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bodega(url: &str, dir: &Path, bind: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bodega"));
    cmd.env("BODEGA_CONFIG", dir.join("no-config.toml"))
        .env("BODEGA_DATABASE_URL", url)
        .env("BODEGA_BIND", bind)
        .env("BODEGA_LOG_FORMAT", "pretty")
        .env("BODEGA_LOG_LEVEL", "warn")
        .env("BODEGA_RATE_LIMIT_PER_SECOND", "0")
        .env("BODEGA_LOGIN_ATTEMPTS_PER_MINUTE", "1000")
        .env_remove("BODEGA_JWT_SECRET");
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn log_file(dir: &Path, name: &str) -> (Stdio, Stdio) {
    let path: PathBuf = dir.join(name);
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let err = out.try_clone().unwrap();
    (Stdio::from(out), Stdio::from(err))
}

fn create_admin(url: &str, dir: &Path) {
    let out = bodega(url, dir, "127.0.0.1:0")
        .args(["admin", "create", "--email", EMAIL, "--password", PASSWORD])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bodega admin create failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn start(url: &str, dir: &Path, http: &reqwest::Client, run: usize) -> Server {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let (out, err) = log_file(dir, &format!("server-{run}.log"));
    let child = bodega(url, dir, &bind)
        .arg("serve")
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        base: format!("http://{bind}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.join(format!("server-{run}.log"))).unwrap_or_default();
            panic!("bodega serve exited with {status}:\n{log}");
        }
        if let Ok(r) = http.get(format!("{}/health", server.base)).send().await {
            if r.status().is_success() {
                return server;
            }
        }
        assert!(Instant::now() < deadline, "bodega serve did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn login(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// POST with the token; `None` when the server is gone (connection refused or reset).
async fn post(http: &reqwest::Client, base: &str, token: &str, path: &str, body: Value) -> Option<(u16, Value)> {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.ok()?;
    Some((status, body))
}

#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    server_errors: AtomicUsize,
    shipped: AtomicUsize,
    pos_sales: AtomicUsize,
    /// Orders the server acknowledged as shipped, and till sales it acknowledged: a kill must
    /// not lose any of them.
    shipped_ids: Mutex<Vec<i64>>,
    sale_ids: Mutex<Vec<i64>>,
}

/// One client: until `stop`, create → confirm → ship orders (some cancelled instead of
/// shipped) and till sales, over random products. Ends at the first transport error.
async fn client(
    http: reqwest::Client,
    base: String,
    token: String,
    products: Arc<Vec<i64>>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    seed: u64,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let note = |status: u16, what: &str, body: &Value| {
        tally.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            tally.server_errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("{what} answered {status}: {body}");
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let lines: Vec<Value> = (0..rng.gen_range(1..=3))
            .map(|_| {
                json!({"product_id": products[rng.gen_range(0..products.len())],
                       "quantity": rng.gen_range(1..=2)})
            })
            .collect();
        if rng.gen_bool(0.3) {
            let Some((status, body)) = post(&http, &base, &token, "/api/pos/sales", json!({"items": lines})).await
            else {
                return;
            };
            note(status, "pos sale", &body);
            if status == 201 {
                tally.pos_sales.fetch_add(1, Ordering::Relaxed);
                tally.sale_ids.lock().unwrap().push(body["id"].as_i64().unwrap());
            }
            continue;
        }
        let Some((status, body)) = post(&http, &base, &token, "/api/orders", json!({"items": lines})).await else {
            return;
        };
        note(status, "create order", &body);
        let Some(id) = body["id"].as_i64() else {
            continue;
        };
        let Some((status, body)) = post(&http, &base, &token, &format!("/api/orders/{id}/confirm"), json!({})).await
        else {
            return;
        };
        note(status, "confirm", &body);
        if status != 200 {
            continue;
        }
        let last = if rng.gen_bool(0.15) { "cancel" } else { "ship" };
        let Some((status, body)) = post(&http, &base, &token, &format!("/api/orders/{id}/{last}"), json!({})).await
        else {
            return;
        };
        note(status, last, &body);
        if status == 200 && last == "ship" {
            tally.shipped.fetch_add(1, Ordering::Relaxed);
            tally.shipped_ids.lock().unwrap().push(id);
        }
    }
}

async fn crash_cycles(store: &str, url: &str, dir: &Path) {
    let started = Instant::now();
    create_admin(url, dir);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut server = start(url, dir, &http, 0).await;
    let token = login(&http, &server.base).await;
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        let (status, body) = post(
            &http,
            &server.base,
            &token,
            "/api/products",
            json!({"name": format!("Crash product {i}"), "price": 990, "cost": 500, "initial_stock": 150}),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
        products.push(body["id"].as_i64().unwrap());
    }
    let products = Arc::new(products);
    for cycle in 0..CYCLES {
        let token = login(&http, &server.base).await;
        // Restock, so that the clients keep finding stock.
        for &p in products.iter() {
            let (status, body) = post(
                &http,
                &server.base,
                &token,
                "/api/stock/movements",
                json!({"product_id": p, "kind": "entry", "quantity": 60, "unit_cost": 500}),
            )
            .await
            .unwrap();
            assert_eq!(status, 201, "{body}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                tokio::spawn(client(
                    http.clone(),
                    server.base.clone(),
                    token.clone(),
                    Arc::clone(&products),
                    Arc::clone(&stop),
                    Arc::clone(&tally),
                    (cycle * CLIENTS + i) as u64,
                ))
            })
            .collect();
        let alive = Duration::from_millis(rng.gen_range(500..=2000));
        tokio::time::sleep(alive).await;
        // SIGKILL: no graceful shutdown, transactions in flight are cut off.
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        eprintln!(
            "{store} cycle {cycle}: killed after {alive:?}; {} answers, {} orders shipped, {} till sales",
            tally.requests.load(Ordering::Relaxed),
            tally.shipped.load(Ordering::Relaxed),
            tally.pos_sales.load(Ordering::Relaxed),
        );
        assert_eq!(
            tally.server_errors.load(Ordering::Relaxed),
            0,
            "5xx answers before the kill"
        );
        assert!(tally.requests.load(Ordering::Relaxed) > 0, "no traffic before the kill");

        // The database as the crash left it.
        let counts = check_database(url).await;
        eprintln!("{store} cycle {cycle}: after the kill, orders by status {counts:?}");
        let shipped = tally.shipped_ids.lock().unwrap().clone();
        let sales = tally.sale_ids.lock().unwrap().clone();
        check_acknowledged(url, &shipped, &sales).await;

        // The same database serves again.
        server = start(url, dir, &http, cycle + 1).await;
        let token = login(&http, &server.base).await;
        let (status, body) = post(
            &http,
            &server.base,
            &token,
            "/api/orders",
            json!({"items": [{"product_id": products[0], "quantity": 1}]}),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_i64().unwrap();
        let (status, body) = post(
            &http,
            &server.base,
            &token,
            &format!("/api/orders/{id}/confirm"),
            json!({}),
        )
        .await
        .unwrap();
        // The restock above leaves product 0 with stock unless the clients sold it all.
        assert!(
            status == 200 || (status == 409 && body["error"]["code"] == "insufficient_stock"),
            "confirm after restart: {status} {body}"
        );
        let (status, body) = post(
            &http,
            &server.base,
            &token,
            "/api/stock/movements",
            json!({"product_id": products[0], "kind": "entry", "quantity": 1, "unit_cost": 500}),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    drop(server);
    check_database(url).await;
    eprintln!("{store}: {CYCLES} kill/restart cycles in {:?}", started.elapsed());
}

/// Every order acknowledged as shipped is still shipped, every acknowledged till sale exists.
async fn check_acknowledged(url: &str, shipped: &[i64], sales: &[i64]) {
    let db = Db::connect(url).await.unwrap();
    {
        let mut conn = db.read().await.unwrap();
        let mut c = conn.conn();
        for &id in shipped {
            let status: Option<String> = sql::query_scalar("SELECT status FROM orders WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut c)
                .await
                .unwrap();
            assert_eq!(
                status.as_deref(),
                Some("shipped"),
                "acknowledged shipped order {id} lost"
            );
        }
        for &id in sales {
            let found: Option<i64> = sql::query_scalar("SELECT id FROM sales WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut c)
                .await
                .unwrap();
            assert_eq!(found, Some(id), "acknowledged till sale {id} lost");
        }
    }
    db.close().await;
}

/// Opens the database (with no server running) and checks it; returns orders per status.
async fn check_database(url: &str) -> BTreeMap<String, usize> {
    let db = Db::connect(url).await.unwrap();
    let counts = {
        // One snapshot for every check: on PostgreSQL a transaction whose COMMIT the killed
        // server had already sent can still land while we read; separate reads could see its
        // order row before and its reservations after.
        let mut tx = db.begin().await.unwrap();
        let mut c = tx.conn();
        if let Conn::Postgres(e) = &mut c {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut **e)
                .await
                .unwrap();
        }
        let drift = bodega_store::stock::drift(&mut c).await.unwrap();
        assert!(drift.is_empty(), "ledger drift after the kill: {drift:#?}");
        let counts = check_orders(&mut c).await;
        tx.commit().await.unwrap();
        counts
    };
    db.close().await;
    counts
}

type Qty = BTreeMap<i64, i64>;

fn add(map: &mut Qty, product_id: i64, quantity: i64) {
    *map.entry(product_id).or_default() += quantity;
    map.retain(|_, q| *q != 0);
}

async fn pairs(c: &mut Conn<'_>, sql: &str, id: &str) -> Qty {
    let rows: Vec<(i64, i64)> = sql::query_as(sql).bind(id).fetch_all(c).await.unwrap();
    let mut m = Qty::new();
    for (p, q) in rows {
        add(&mut m, p, q);
    }
    m
}

fn negate(m: Qty) -> Qty {
    m.into_iter().map(|(p, q)| (p, -q)).collect()
}

/// Every order is in a consistent state, and every sale's items equal its movements:
/// - pending: no reservations, no sale;
/// - confirmed/processing: active reservations exactly covering its items;
/// - shipped/delivered/completed: one sale with its items, committed reservations and sale
///   movements equal to the items, nothing active;
/// - cancelled: nothing active, nothing committed, no sale.
async fn check_orders(c: &mut Conn<'_>) -> BTreeMap<String, usize> {
    let orders: Vec<(i64, String)> = sql::query_as("SELECT id, status FROM orders ORDER BY id")
        .fetch_all(c)
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for (id, status) in orders {
        *counts.entry(status.clone()).or_default() += 1;
        // Cast: order ids are bound as text to share `pairs` with sale references.
        let items = pairs(
            c,
            "SELECT product_id, quantity FROM order_items WHERE CAST(order_id AS TEXT) = $1",
            &id.to_string(),
        )
        .await;
        let active = pairs(
            c,
            "SELECT product_id, quantity FROM reservations WHERE CAST(order_id AS TEXT) = $1 AND status = 'active'",
            &id.to_string(),
        )
        .await;
        let committed = pairs(
            c,
            "SELECT product_id, quantity FROM reservations WHERE CAST(order_id AS TEXT) = $1 AND status = 'committed'",
            &id.to_string(),
        )
        .await;
        let any_reservation: i64 = sql::query_scalar("SELECT COUNT(*) FROM reservations WHERE order_id = $1")
            .bind(id)
            .fetch_one(c)
            .await
            .unwrap();
        let sales: Vec<i64> = sql::query_scalar("SELECT id FROM sales WHERE order_id = $1")
            .bind(id)
            .fetch_all(c)
            .await
            .unwrap();
        let what = format!("order {id} ({status})");
        match status.as_str() {
            "pending" => {
                assert_eq!(any_reservation, 0, "{what}: has reservations");
                assert!(sales.is_empty(), "{what}: sales {sales:?}");
            }
            "confirmed" | "processing" => {
                assert_eq!(active, items, "{what}: active reservations vs items");
                assert!(committed.is_empty(), "{what}: committed {committed:?}");
                assert!(sales.is_empty(), "{what}: sales {sales:?}");
            }
            "shipped" | "delivered" | "completed" => {
                assert!(active.is_empty(), "{what}: active {active:?}");
                assert_eq!(committed, items, "{what}: committed reservations vs items");
                assert_eq!(sales.len(), 1, "{what}: sales {sales:?}");
                let sale = sales[0].to_string();
                let sold = pairs(
                    c,
                    "SELECT product_id, quantity FROM sale_items WHERE CAST(sale_id AS TEXT) = $1",
                    &sale,
                )
                .await;
                assert_eq!(sold, items, "{what}: sale items vs order items");
                let moved = pairs(
                    c,
                    "SELECT product_id, quantity FROM stock_movements WHERE reference_type = 'sale' AND reference_id = $1",
                    &sale,
                )
                .await;
                assert_eq!(negate(moved), items, "{what}: sale movements vs items");
            }
            "cancelled" => {
                assert!(active.is_empty(), "{what}: active {active:?}");
                assert!(committed.is_empty(), "{what}: committed {committed:?}");
                assert!(sales.is_empty(), "{what}: sales {sales:?}");
            }
            other => panic!("{what}: unexpected status {other}"),
        }
    }
    let sales: Vec<i64> = sql::query_scalar("SELECT id FROM sales ORDER BY id")
        .fetch_all(c)
        .await
        .unwrap();
    for sale in sales {
        let sale = sale.to_string();
        let sold = pairs(
            c,
            "SELECT product_id, quantity FROM sale_items WHERE CAST(sale_id AS TEXT) = $1",
            &sale,
        )
        .await;
        let moved = pairs(
            c,
            "SELECT product_id, quantity FROM stock_movements WHERE reference_type = 'sale' AND reference_id = $1",
            &sale,
        )
        .await;
        assert_eq!(negate(moved), sold, "sale {sale}: movements vs items");
    }
    counts
}
