//! Drives a running `bodega serve` with `concurrency` workers, each looping
//! create order → confirm → ship for `seconds`, and prints orders per second and the latency
//! percentiles of each step and of the whole order, as a table and as JSON.
//!
//! The server must run with `BODEGA_RATE_LIMIT_PER_SECOND=0` (the per-caller limit would
//! otherwise cap the load).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    password: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Products to spread the orders over (each gets plenty of stock).
    #[arg(long, default_value_t = 200)]
    products: usize,
    /// Items per order.
    #[arg(long, default_value_t = 3)]
    lines: usize,
    /// Label of this run in the JSON output (e.g. the backend).
    #[arg(long, default_value = "run")]
    label: String,
}

#[derive(Default)]
struct Samples {
    create: Vec<f64>,
    confirm: Vec<f64>,
    ship: Vec<f64>,
    order: Vec<f64>,
    errors: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;
    let login: Value = client
        .post(format!("{}/api/auth/login", args.url))
        .json(&json!({"email": args.email, "password": args.password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("login failed")?.to_string();
    let auth = format!("Bearer {token}");

    // Products with enough stock that the run never runs short.
    let mut products = Vec::with_capacity(args.products);
    for i in 0..args.products {
        let body = json!({"sku": format!("BENCH-{}-{i}", std::process::id()), "name": format!("Bench product {i}"),
                          "price": 1000 + i as i64, "cost": 500, "initial_stock": 1_000_000});
        let r = client
            .post(format!("{}/api/products", args.url))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("creating product: {} {}", r.status(), r.text().await?);
        }
        let v: Value = r.json().await?;
        products.push(v["id"].as_i64().context("product id")?);
    }
    let products = Arc::new(products);

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (client, auth, products, url) = (client.clone(), auth.clone(), products.clone(), args.url.clone());
        let lines = args.lines;
        workers.push(tokio::spawn(async move {
            let mut s = Samples::default();
            let mut n = w;
            while Instant::now() < deadline {
                let items: Vec<Value> = (0..lines)
                    .map(
                        |k| json!({"product_id": products[(n * 7 + k * 13) % products.len()], "quantity": 1 + (k % 2)}),
                    )
                    .collect();
                n += 1;
                let order_started = Instant::now();
                let t = Instant::now();
                let created = client
                    .post(format!("{url}/api/orders"))
                    .header("authorization", &auth)
                    .json(&json!({"items": items}))
                    .send()
                    .await;
                let Ok(created) = created else {
                    s.errors += 1;
                    continue;
                };
                if created.status().as_u16() != 201 {
                    s.errors += 1;
                    continue;
                }
                s.create.push(t.elapsed().as_secs_f64() * 1000.0);
                let Ok(order) = created.json::<Value>().await else {
                    s.errors += 1;
                    continue;
                };
                let id = order["id"].as_i64().unwrap_or_default();
                let mut ok = true;
                for (step, bucket) in [("confirm", 0), ("ship", 1)] {
                    let t = Instant::now();
                    let r = client
                        .post(format!("{url}/api/orders/{id}/{step}"))
                        .header("authorization", &auth)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let ms = t.elapsed().as_secs_f64() * 1000.0;
                            if bucket == 0 {
                                s.confirm.push(ms)
                            } else {
                                s.ship.push(ms)
                            }
                        }
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    s.order.push(order_started.elapsed().as_secs_f64() * 1000.0)
                } else {
                    s.errors += 1
                }
            }
            s
        }));
    }
    let mut all = Samples::default();
    for w in workers {
        let s = w.await?;
        all.create.extend(s.create);
        all.confirm.extend(s.confirm);
        all.ship.extend(s.ship);
        all.order.extend(s.order);
        all.errors += s.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let orders = all.order.len();
    let report = json!({
        "label": args.label,
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "orders": orders,
        "orders_per_second": orders as f64 / elapsed,
        "requests_per_second": (orders * 3) as f64 / elapsed,
        "errors": all.errors,
        "latency_ms": {
            "create": percentiles(&mut all.create),
            "confirm": percentiles(&mut all.confirm),
            "ship": percentiles(&mut all.ship),
            "order": percentiles(&mut all.order),
        }
    });
    println!("{:<8} {:>10} {:>10} {:>10}", "step", "p50 ms", "p99 ms", "max ms");
    for step in ["create", "confirm", "ship", "order"] {
        let p = &report["latency_ms"][step];
        println!(
            "{:<8} {:>10.2} {:>10.2} {:>10.2}",
            step,
            p["p50"].as_f64().unwrap_or(0.0),
            p["p99"].as_f64().unwrap_or(0.0),
            p["max"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "{} orders in {:.1} s = {:.0} orders/s ({} errors)",
        orders,
        elapsed,
        orders as f64 / elapsed,
        all.errors
    );
    println!("{report}");
    Ok(())
}

fn percentiles(v: &mut [f64]) -> Value {
    if v.is_empty() {
        return json!({"p50": 0.0, "p99": 0.0, "max": 0.0});
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    json!({"p50": at(0.5), "p99": at(0.99), "max": v[v.len() - 1]})
}
