//! Model check: random sequences of stock operations (entries, exits, adjustments, transfers,
//! reservations created/committed/released, orders created/confirmed/processed/shipped/
//! cancelled/returned, till sales and `/sell`) run against the API and against a model kept
//! here (on hand and reserved per product × warehouse, every reservation and order). Every
//! answer must be the one the model predicts (success, or 409 with the right code), and after
//! each case the API's levels equal the model and the ledger has no drift.
//!
//! Each case uses three new products (with opening stock in the main warehouse), so cases
//! share one app without seeing each other.

use std::collections::BTreeMap;

use axum::http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use crate::helpers::{Response, TestApp};
use crate::{assert_no_drift, check_orders, code, drift, level, main_warehouse, new_product, new_warehouse};

crate::on_both_stores!(random_operations_match_the_model);

const PRODUCTS: usize = 3;
const WAREHOUSES: usize = 2;
const CASES: u32 = 32;
const OPS: usize = 48;
const SEED: [u8; 32] = *b"bodega stock ledger model seed!!";

#[derive(Debug, Clone)]
enum Op {
    Entry { p: usize, w: usize, q: i64 },
    Exit { p: usize, w: usize, q: i64 },
    Adjust { p: usize, w: usize, delta: i64 },
    Transfer { p: usize, from: usize, q: i64 },
    Reserve { p: usize, w: usize, q: i64 },
    Commit(usize),
    Release(usize),
    CreateOrder { w: usize, lines: Vec<(usize, i64)> },
    Confirm(usize),
    Process(usize),
    Ship(usize),
    Cancel(usize),
    Return(usize),
    PosSale { w: usize, lines: Vec<(usize, i64)> },
    Sell { p: usize, w: usize, q: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PRODUCTS;
    let w = 0..WAREHOUSES;
    let q = 1..=8i64;
    let lines = prop::collection::vec((0..PRODUCTS, 1..=4i64), 1..=3);
    prop_oneof![
        6 => (p.clone(), w.clone(), 5..=40i64).prop_map(|(p, w, q)| Op::Entry { p, w, q }),
        2 => (p.clone(), w.clone(), q.clone()).prop_map(|(p, w, q)| Op::Exit { p, w, q }),
        2 => (p.clone(), w.clone(), prop_oneof![-8..=-1i64, 1..=8i64])
            .prop_map(|(p, w, delta)| Op::Adjust { p, w, delta }),
        2 => (p.clone(), w.clone(), q.clone()).prop_map(|(p, from, q)| Op::Transfer { p, from, q }),
        2 => (p.clone(), w.clone(), q.clone()).prop_map(|(p, w, q)| Op::Reserve { p, w, q }),
        1 => any::<usize>().prop_map(Op::Commit),
        1 => any::<usize>().prop_map(Op::Release),
        3 => (w.clone(), lines.clone()).prop_map(|(w, lines)| Op::CreateOrder { w, lines }),
        6 => any::<usize>().prop_map(Op::Confirm),
        1 => any::<usize>().prop_map(Op::Process),
        4 => any::<usize>().prop_map(Op::Ship),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => any::<usize>().prop_map(Op::Return),
        2 => (w.clone(), lines).prop_map(|(w, lines)| Op::PosSale { w, lines }),
        2 => (p, w, q).prop_map(|(p, w, q)| Op::Sell { p, w, q }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), OPS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Confirmed,
    Processing,
    Shipped,
    Cancelled,
    Returned,
}

struct ModelOrder {
    id: i64,
    w: usize,
    /// Units per product index.
    units: BTreeMap<usize, i64>,
    status: Status,
}

struct ModelReservation {
    id: i64,
    p: usize,
    w: usize,
    q: i64,
    active: bool,
}

#[derive(Default)]
struct Model {
    /// (on_hand, reserved) per (product index, warehouse index).
    levels: BTreeMap<(usize, usize), (i64, i64)>,
    reservations: Vec<ModelReservation>,
    orders: Vec<ModelOrder>,
}

impl Model {
    fn available(&self, p: usize, w: usize) -> i64 {
        let (on_hand, reserved) = self.levels.get(&(p, w)).copied().unwrap_or_default();
        on_hand - reserved
    }

    fn change(&mut self, p: usize, w: usize, on_hand: i64, reserved: i64) {
        let level = self.levels.entry((p, w)).or_default();
        level.0 += on_hand;
        level.1 += reserved;
        assert!(
            level.1 >= 0 && level.0 - level.1 >= 0,
            "model went negative at {p}/{w}: {level:?}"
        );
    }

    fn covers(&self, w: usize, units: &BTreeMap<usize, i64>) -> bool {
        units.iter().all(|(&p, &q)| self.available(p, w) >= q)
    }
}

fn units(lines: &[(usize, i64)]) -> BTreeMap<usize, i64> {
    let mut m = BTreeMap::new();
    for &(p, q) in lines {
        *m.entry(p).or_default() += q;
    }
    m
}

/// What the model expects of a request: success with `ok`, or 409 with `code`.
enum Expect {
    Ok(u16),
    Refused(&'static str),
}

#[track_caller]
fn check(op: &Op, r: &Response, expect: Expect) {
    match expect {
        Expect::Ok(status) => assert_eq!(r.status.as_u16(), status, "{op:?}: {}", r.body),
        Expect::Refused(c) => {
            assert_eq!(r.status.as_u16(), 409, "{op:?}: {}", r.body);
            assert_eq!(code(&r.body), c, "{op:?}: {}", r.body);
        }
    }
}

struct Ctx {
    warehouses: [i64; WAREHOUSES],
}

async fn run_case(app: &TestApp, ctx: &Ctx, ops: Vec<Op>) {
    // Opening stock in the main warehouse (index 0), so that orders get confirmed and shipped.
    const OPENING: i64 = 15;
    let mut products = [0i64; PRODUCTS];
    let mut m = Model::default();
    for (i, p) in products.iter_mut().enumerate() {
        *p = new_product(app, OPENING).await;
        m.change(i, 0, OPENING, 0);
    }
    let ws = ctx.warehouses;
    for op in &ops {
        match op {
            &Op::Entry { p, w, q } => {
                let r = movement(app, products[p], ws[w], "entry", q).await;
                check(op, &r, Expect::Ok(201));
                m.change(p, w, q, 0);
            }
            &Op::Exit { p, w, q } => {
                let r = movement(app, products[p], ws[w], "exit", q).await;
                if m.available(p, w) >= q {
                    check(op, &r, Expect::Ok(201));
                    m.change(p, w, -q, 0);
                } else {
                    check(op, &r, Expect::Refused("insufficient_stock"));
                }
            }
            &Op::Adjust { p, w, delta } => {
                let r = movement(app, products[p], ws[w], "adjustment", delta).await;
                if m.available(p, w) + delta >= 0 {
                    check(op, &r, Expect::Ok(201));
                    m.change(p, w, delta, 0);
                } else {
                    check(op, &r, Expect::Refused("insufficient_stock"));
                }
            }
            &Op::Transfer { p, from, q } => {
                let to = 1 - from;
                let r = app
                    .post(
                        "/api/stock/transfers",
                        &app.admin,
                        json!({"product_id": products[p], "from_warehouse_id": ws[from],
                               "to_warehouse_id": ws[to], "quantity": q}),
                    )
                    .await;
                if m.available(p, from) >= q {
                    check(op, &r, Expect::Ok(201));
                    m.change(p, from, -q, 0);
                    m.change(p, to, q, 0);
                } else {
                    check(op, &r, Expect::Refused("insufficient_stock"));
                }
            }
            &Op::Reserve { p, w, q } => {
                let r = app
                    .post(
                        "/api/stock/reservations",
                        &app.admin,
                        json!({"product_id": products[p], "warehouse_id": ws[w], "quantity": q,
                               "expires_in_seconds": 0}),
                    )
                    .await;
                if m.available(p, w) >= q {
                    check(op, &r, Expect::Ok(201));
                    m.change(p, w, 0, q);
                    m.reservations.push(ModelReservation {
                        id: r.body["id"].as_i64().unwrap(),
                        p,
                        w,
                        q,
                        active: true,
                    });
                } else {
                    check(op, &r, Expect::Refused("insufficient_stock"));
                }
            }
            &Op::Commit(i) | &Op::Release(i) => {
                if m.reservations.is_empty() {
                    continue;
                }
                // Half the time an active reservation (progress), else any (refusals too).
                let active: Vec<usize> = (0..m.reservations.len())
                    .filter(|&k| m.reservations[k].active)
                    .collect();
                let k = if i % 2 == 0 && !active.is_empty() {
                    active[(i / 2) % active.len()]
                } else {
                    i % m.reservations.len()
                };
                let commit = matches!(op, Op::Commit(_));
                let (id, p, w, q, active) = {
                    let r = &m.reservations[k];
                    (r.id, r.p, r.w, r.q, r.active)
                };
                let action = if commit { "commit" } else { "release" };
                let r = app
                    .call(
                        Method::POST,
                        &format!("/api/stock/reservations/{id}/{action}"),
                        &app.admin,
                        None,
                    )
                    .await;
                if active {
                    check(op, &r, Expect::Ok(200));
                    m.reservations[k].active = false;
                    m.change(p, w, if commit { -q } else { 0 }, -q);
                } else {
                    check(op, &r, Expect::Refused("conflict"));
                }
            }
            Op::CreateOrder { w, lines } => {
                let items: Vec<Value> = lines
                    .iter()
                    .map(|&(p, q)| json!({"product_id": products[p], "quantity": q}))
                    .collect();
                let r = app
                    .post(
                        "/api/orders",
                        &app.admin,
                        json!({"warehouse_id": ws[*w], "items": items}),
                    )
                    .await;
                check(op, &r, Expect::Ok(201));
                assert_eq!(r.body["status"], "pending");
                m.orders.push(ModelOrder {
                    id: r.body["id"].as_i64().unwrap(),
                    w: *w,
                    units: units(lines),
                    status: Status::Pending,
                });
            }
            &Op::Confirm(i) | &Op::Process(i) | &Op::Ship(i) | &Op::Cancel(i) | &Op::Return(i) => {
                if m.orders.is_empty() {
                    continue;
                }
                let action = match op {
                    Op::Confirm(_) => "confirm",
                    Op::Process(_) => "process",
                    Op::Ship(_) => "ship",
                    Op::Cancel(_) => "cancel",
                    _ => "return",
                };
                // Half the time an order the action applies to (so orders move along the saga),
                // else any order (illegal transitions must be refused).
                let applies = |s: Status| match action {
                    "confirm" => s == Status::Pending,
                    "process" => s == Status::Confirmed,
                    "ship" => matches!(s, Status::Confirmed | Status::Processing),
                    "cancel" => matches!(s, Status::Pending | Status::Confirmed | Status::Processing),
                    _ => s == Status::Shipped,
                };
                let candidates: Vec<usize> = (0..m.orders.len()).filter(|&k| applies(m.orders[k].status)).collect();
                let k = if i % 2 == 0 && !candidates.is_empty() {
                    candidates[(i / 2) % candidates.len()]
                } else {
                    i % m.orders.len()
                };
                let (id, w, status, units) = {
                    let o = &m.orders[k];
                    (o.id, o.w, o.status, o.units.clone())
                };
                let r = app
                    .call(Method::POST, &format!("/api/orders/{id}/{action}"), &app.admin, None)
                    .await;
                use Status::*;
                let next = match (action, status) {
                    ("confirm", Pending) if m.covers(w, &units) => {
                        for (&p, &q) in &units {
                            m.change(p, w, 0, q);
                        }
                        Some(Confirmed)
                    }
                    ("confirm", Pending) => {
                        check(op, &r, Expect::Refused("insufficient_stock"));
                        None
                    }
                    ("process", Confirmed) => Some(Processing),
                    ("ship", Confirmed | Processing) => {
                        for (&p, &q) in &units {
                            m.change(p, w, -q, -q);
                        }
                        Some(Shipped)
                    }
                    ("cancel", Pending) => Some(Cancelled),
                    ("cancel", Confirmed | Processing) => {
                        for (&p, &q) in &units {
                            m.change(p, w, 0, -q);
                        }
                        Some(Cancelled)
                    }
                    ("return", Shipped) => {
                        for (&p, &q) in &units {
                            m.change(p, w, q, 0);
                        }
                        Some(Returned)
                    }
                    _ => {
                        check(op, &r, Expect::Refused("conflict"));
                        None
                    }
                };
                if let Some(next) = next {
                    check(op, &r, Expect::Ok(200));
                    let name = format!("{next:?}").to_lowercase();
                    assert_eq!(r.body["status"], name.as_str(), "{op:?}: {}", r.body);
                    m.orders[k].status = next;
                }
            }
            Op::PosSale { w, lines } => {
                let items: Vec<Value> = lines
                    .iter()
                    .map(|&(p, q)| json!({"product_id": products[p], "quantity": q}))
                    .collect();
                let r = app
                    .post(
                        "/api/pos/sales",
                        &app.admin,
                        json!({"warehouse_id": ws[*w], "items": items}),
                    )
                    .await;
                let units = units(lines);
                if m.covers(*w, &units) {
                    check(op, &r, Expect::Ok(201));
                    for (&p, &q) in &units {
                        m.change(p, *w, -q, 0);
                    }
                } else {
                    check(op, &r, Expect::Refused("insufficient_stock"));
                }
            }
            &Op::Sell { p, w, q } => {
                let r = app
                    .post(
                        &format!("/api/products/{}/sell", products[p]),
                        &app.admin,
                        json!({"quantity": q, "warehouse_id": ws[w]}),
                    )
                    .await;
                if m.available(p, w) >= q {
                    check(op, &r, Expect::Ok(201));
                    m.change(p, w, -q, 0);
                    assert_eq!(r.body["updated_stock"].as_i64().unwrap(), m.available(p, w));
                } else {
                    check(op, &r, Expect::Refused("insufficient_stock"));
                }
            }
        }
    }
    for (pi, &p) in products.iter().enumerate() {
        for (wi, &w) in ws.iter().enumerate() {
            let expected = m.levels.get(&(pi, wi)).copied().unwrap_or_default();
            assert_eq!(
                level(app, p, w).await,
                expected,
                "(on_hand, reserved) of product {pi} in warehouse {wi} after {ops:#?}"
            );
        }
    }
    let drift: Vec<_> = drift(app)
        .await
        .into_iter()
        .filter(|d| products.contains(&d.product_id))
        .collect();
    assert_no_drift(&drift);
}

async fn movement(app: &TestApp, product_id: i64, warehouse_id: i64, kind: &str, quantity: i64) -> Response {
    app.post(
        "/api/stock/movements",
        &app.admin,
        json!({"product_id": product_id, "warehouse_id": warehouse_id, "kind": kind,
               "quantity": quantity, "unit_cost": 500}),
    )
    .await
}

async fn random_operations_match_the_model(app: TestApp) {
    let ctx = Ctx {
        warehouses: [main_warehouse(&app).await, new_warehouse(&app).await],
    };
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    };
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
        runner.run(&ops(), |ops| {
            handle.block_on(run_case(&app, &ctx, ops));
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("model check failed: {e}");
    }
    assert_no_drift(&drift(&app).await);
    let counts = check_orders(&app).await;
    eprintln!("orders by status over all cases: {counts:?}");
}
