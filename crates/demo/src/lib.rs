//! `bodega demo`'s data: a deterministic, realistic store. "Almacenes Cordillera", a chain of
//! neighbourhood minimarkets in Santiago with a central warehouse, a catalogue of groceries and
//! household goods in a category tree, suppliers, customers, and a year of trading simulated
//! day by day through the real store functions (the stock ledger, sales, the order saga,
//! reorder requests), so that every stock level equals the sum of its movements at the end.
//!
//! The structure later features learn from is planted on purpose and documented here:
//! - **Baskets** ([`data::AFFINITIES`]): when an anchor article is in a basket its partner is
//!   added with a fixed probability (marraqueta → palta, carbón → longaniza, pisco → bebida
//!   cola…), so co-purchase lift is far above independence. Identified customers also have two
//!   favourite articles each, which they add to some of their baskets.
//! - **Demand**: tickets per store and day follow a weekly profile (Saturday highest, Monday
//!   lowest), month and holiday factors, a +8 % yearly trend, day-level log-normal noise and
//!   Poisson counts; each article has a yearly profile ([`data::Season`]: summer, winter,
//!   Fiestas Patrias barbecue, Christmas, back to school). Popularity is long-tailed, so slow
//!   movers sell intermittently.
//! - **Promotions**: some products get 1–2 windows of 7–14 days at 10–30 % off (recorded in
//!   the product's `attributes.promotions`); their demand rises with the discount and their
//!   sale lines carry the discounted price.
//! - **Stock-outs censor sales**: stores are replenished from the warehouse on Monday,
//!   Wednesday and Friday (order-up-to), the warehouse from suppliers by reorder requests that
//!   arrive after the supplier's lead time. Planted supply disruptions stop deliveries of a few
//!   popular products to the stores; demand then goes unserved (lost, not back-ordered), and
//!   the last disruption runs to the end so open alerts exist.
//!
//! The same [`DemoConfig`] (seed included) gives the same store, row for row.

mod calendar;
mod catalogue;
mod data;
mod people;
mod random;
mod simulation;
mod trading;
mod writes;

use anyhow::bail;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use bodega_store::audit::Actor;
use bodega_store::Db;

use calendar::local_to_utc;
use simulation::Sim;

/// What to generate. The same configuration gives the same store.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub seed: u64,
    /// Shops (the central warehouse comes on top).
    pub stores: usize,
    pub products: usize,
    pub customers: usize,
    /// Days of history, ending on `end_date` (included).
    pub days: u32,
    /// Fixed, so that output does not depend on the day the demo runs; must be in the past.
    pub end_date: NaiveDate,
    /// Mean till tickets per shop and day before the weekly, yearly and shop factors.
    pub tickets_per_day: f64,
    /// Mean online orders per day (delivered from the warehouse through the order saga).
    pub orders_per_day: f64,
    /// Planted supply disruptions (a popular product stops reaching the shops).
    pub disruptions: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 2026,
            stores: 3,
            products: 300,
            customers: 3000,
            days: 365,
            end_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or_default(),
            tickets_per_day: 40.0,
            orders_per_day: 2.0,
            disruptions: 4,
        }
    }
}

impl DemoConfig {
    /// A few weeks of two shops: seconds to generate, still with every planted structure.
    pub fn small() -> Self {
        Self {
            seed: 7,
            stores: 2,
            products: 48,
            customers: 150,
            days: 42,
            tickets_per_day: 14.0,
            orders_per_day: 1.0,
            disruptions: 2,
            ..Self::default()
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    pub seed: u64,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub warehouses: usize,
    pub categories: usize,
    pub products: usize,
    pub suppliers: usize,
    pub customers: usize,
    pub pos_sales: u64,
    pub sale_lines: u64,
    pub revenue: i64,
    pub orders: u64,
    pub orders_cancelled: u64,
    pub orders_returned: u64,
    pub transfers: u64,
    pub reorders: u64,
    pub promotions: usize,
    /// Units asked for at a till when the shop had none left (censored demand).
    pub lost_units: u64,
    /// (product, shop, day) closing with zero stock, for products that normally sell.
    pub stockout_days: u64,
    pub open_alerts: i64,
    /// The article names of the planted co-purchase pairs present in the catalogue.
    pub planted_pairs: Vec<(String, String)>,
    /// SKUs of the products whose supply was disrupted.
    pub disrupted: Vec<String>,
}

const BY: &str = "demo";

/// One generation under way: what every phase reads and advances. The phases draw from the
/// one random stream in a fixed order, so the same configuration gives the same store.
struct Run<'a> {
    db: &'a Db,
    cfg: &'a DemoConfig,
    /// The first day of history.
    first_day: NaiveDate,
    /// When the generation started: rows a store function stamped with the clock are at or
    /// after it.
    started: DateTime<Utc>,
    actor: Actor,
    rng: ChaCha8Rng,
    /// How each till ticket is paid: a stream of its own (same seed, another ChaCha stream), so
    /// that drawing it leaves every other row of the store as the one stream makes it.
    payments: ChaCha8Rng,
    sim: Sim,
    summary: DemoSummary,
}

/// Generates the demo into an empty, migrated database. `progress(stage, done, total)` is
/// called as work advances.
pub async fn generate(
    db: &Db,
    cfg: &DemoConfig,
    mut progress: impl FnMut(&str, u64, u64),
) -> anyhow::Result<DemoSummary> {
    let first_day = cfg.end_date - Duration::days(i64::from(cfg.days.max(1)) - 1);
    let started = bodega_store::now();
    if local_to_utc(cfg.end_date + Duration::days(1), 0, 0) >= started {
        bail!("the demo's end date {} must be in the past", cfg.end_date);
    }
    if cfg.stores == 0 || cfg.stores + 1 > data::LOCATIONS.len() {
        bail!("stores must be between 1 and {}", data::LOCATIONS.len() - 1);
    }
    let mut run = Run {
        db,
        cfg,
        first_day,
        started,
        actor: Actor::system(BY),
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        payments: {
            let mut payments = ChaCha8Rng::seed_from_u64(cfg.seed);
            payments.set_stream(1);
            payments
        },
        sim: Sim::default(),
        summary: DemoSummary {
            seed: cfg.seed,
            first_day: Some(first_day),
            last_day: Some(cfg.end_date),
            ..Default::default()
        },
    };

    // Locations, suppliers, categories and products; then what the simulation derives from
    // them, and the products' alert thresholds.
    run.catalogue(&mut progress).await?;
    run.sim.prepare(cfg);
    run.planted_pairs();
    run.thresholds().await?;

    // Customers; then whom each shop serves, and the planted supply disruptions.
    run.customers(&mut progress).await?;
    run.sim.prepare_customers();
    run.sim.plan_disruptions(&mut run.rng, cfg);
    run.summary.disrupted = run
        .sim
        .disruptions
        .iter()
        .map(|d| run.sim.products[d.product].sku.clone())
        .collect();

    // The opening stock, a year of trading one transaction per day, and the closing counts.
    run.opening_stock().await?;
    run.trade(&mut progress).await?;
    run.close().await?;
    Ok(run.summary)
}
