//! The simulation's state: what the generator knows of the store while it writes it (stock
//! per location, reservations, orders in transit, smoothed demand, live alerts, rows waiting
//! to be written in bulk), and the in-memory model of demand: baskets, promotions, supply
//! disruptions and the shops' and the warehouse's replenishment targets.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::calendar::season_factor;
use crate::catalogue::round_price;
use crate::data::{Base, AFFINITIES, BASES};
use crate::random::poisson;
use crate::DemoConfig;

#[derive(Default)]
pub(crate) struct Sim {
    pub(crate) locations: Vec<Location>,
    pub(crate) suppliers: Vec<(i64, i32)>,
    pub(crate) products: Vec<Prod>,
    pub(crate) customers: Vec<Cust>,
    /// Cumulative customer weights per location (index 0 unused).
    pub(crate) customer_cum: Vec<Vec<f64>>,
    /// Variants of each base article present, by product index.
    pub(crate) variants: Vec<Vec<usize>>,
    /// (anchor product indexes, partner base, probability).
    pub(crate) affinities: Vec<(usize, usize, f64)>,
    pub(crate) on_hand: Vec<Vec<i64>>,
    pub(crate) reserved: Vec<i64>,
    pub(crate) on_order: Vec<i64>,
    /// Smoothed units asked for per shop and product (what the shop plans with).
    pub(crate) demand: Vec<Vec<f64>>,
    /// Ordinary units per day per location and product (flat season, no promotion).
    pub(crate) base_rate: Vec<Vec<f64>>,
    pub(crate) disruptions: Vec<Disruption>,
    pub(crate) pop_total: f64,
    /// Product id → index.
    pub(crate) index: HashMap<i64, usize>,
    /// Average unit cost per location and product, as the ledger computes it.
    pub(crate) avg: Vec<Vec<i64>>,
    /// Whether a live stock alert exists per location and product.
    pub(crate) live: Vec<Vec<bool>>,
    /// Movements and sale lines written in bulk, and the levels they changed.
    pub(crate) moves: Vec<MoveRow>,
    pub(crate) items: Vec<ItemRow>,
    pub(crate) dirty: std::collections::BTreeSet<(usize, usize)>,
    /// The live alert of each shop product (shops' alerts are written by this generator).
    pub(crate) alert_ids: HashMap<(usize, usize), i64>,
}

pub(crate) struct MoveRow {
    pub(crate) product_id: i64,
    pub(crate) warehouse_id: i64,
    pub(crate) kind: &'static str,
    pub(crate) quantity: i64,
    pub(crate) unit_cost: Option<i64>,
    pub(crate) balance_after: i64,
    pub(crate) reference_type: &'static str,
    pub(crate) reference_id: String,
    pub(crate) note: Option<&'static str>,
    pub(crate) at: DateTime<Utc>,
}

pub(crate) struct ItemRow {
    pub(crate) sale_id: i64,
    pub(crate) product: usize,
    pub(crate) unit_price: i64,
    pub(crate) unit_cost: i64,
    pub(crate) quantity: i64,
}

pub(crate) struct Location {
    pub(crate) id: i64,
    pub(crate) factor: f64,
}

pub(crate) struct Prod {
    pub(crate) id: i64,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) category: String,
    pub(crate) price: i64,
    pub(crate) cost: i64,
    pub(crate) pop: f64,
    pub(crate) base: usize,
    pub(crate) promos: Vec<Promo>,
    pub(crate) threshold: i64,
}

pub(crate) struct Promo {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) pct: i64,
    pub(crate) uplift: f64,
}

pub(crate) struct Cust {
    pub(crate) id: i64,
    pub(crate) home: usize,
    pub(crate) weight: f64,
    pub(crate) favourites: [usize; 2],
}

pub(crate) struct Disruption {
    pub(crate) product: usize,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// Mean lines per ticket before affinities (1 + Poisson(1.7)).
pub(crate) const LINES_PER_TICKET: f64 = 2.7;

impl Sim {
    pub(crate) fn prepare(&mut self, cfg: &DemoConfig) {
        let n = self.products.len();
        let locations = self.locations.len();
        self.on_hand = vec![vec![0; n]; locations];
        self.avg = vec![vec![0; n]; locations];
        self.live = vec![vec![false; n]; locations];
        self.reserved = vec![0; n];
        self.on_order = vec![0; n];
        self.variants = vec![Vec::new(); BASES.len()];
        for (i, p) in self.products.iter().enumerate() {
            self.variants[p.base].push(i);
            self.index.insert(p.id, i);
        }
        self.affinities = AFFINITIES
            .iter()
            .filter_map(|(a, b, prob)| {
                let ai = BASES.iter().position(|x| x.key == *a)?;
                let bi = BASES.iter().position(|x| x.key == *b)?;
                (!self.variants[ai].is_empty() && !self.variants[bi].is_empty()).then_some((ai, bi, *prob))
            })
            .collect();
        self.pop_total = self.products.iter().map(|p| p.pop).sum();
        self.base_rate = (0..locations)
            .map(|l| {
                self.products
                    .iter()
                    .map(|p| {
                        cfg.tickets_per_day * self.locations[l].factor * LINES_PER_TICKET * p.pop / self.pop_total
                            * mean_qty(&BASES[p.base])
                    })
                    .collect()
            })
            .collect();
        self.demand = self.base_rate.clone();
    }

    pub(crate) fn prepare_customers(&mut self) {
        self.customer_cum = (0..self.locations.len())
            .map(|l| {
                let mut acc = 0.0;
                self.customers
                    .iter()
                    .map(|c| {
                        acc += if c.home == l { c.weight } else { c.weight * 0.03 };
                        acc
                    })
                    .collect()
            })
            .collect();
    }

    pub(crate) fn plan_disruptions(&mut self, rng: &mut ChaCha8Rng, cfg: &DemoConfig) {
        // Among the most popular products; the last one runs to the end of the history.
        let mut ranked: Vec<usize> = (0..self.products.len()).collect();
        ranked.sort_by(|a, b| self.products[*b].pop.total_cmp(&self.products[*a].pop));
        let candidates: Vec<usize> = ranked.into_iter().take(12).collect();
        let mut used = HashSet::new();
        for i in 0..cfg.disruptions {
            let product = loop {
                let p = candidates[rng.gen_range(0..candidates.len())];
                if used.insert(p) || used.len() >= candidates.len() {
                    break p;
                }
            };
            let length = rng.gen_range(12..18u32).min(cfg.days / 2);
            let start = if i + 1 == cfg.disruptions {
                cfg.days.saturating_sub(length)
            } else {
                let span = cfg.days.saturating_sub(2 * length).max(1);
                length / 2 + (span * (i as u32 + 1)) / (cfg.disruptions as u32 + 1)
            };
            self.disruptions.push(Disruption {
                product,
                start,
                end: start + length,
            });
        }
    }

    pub(crate) fn disrupted(&self, p: usize, day: u32) -> bool {
        self.disruptions
            .iter()
            .any(|d| d.product == p && d.start <= day && day < d.end)
    }

    pub(crate) fn disruption_end(&self, p: usize) -> u32 {
        self.disruptions
            .iter()
            .filter(|d| d.product == p)
            .map(|d| d.end)
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn index_of(&self, product_id: i64) -> usize {
        self.index.get(&product_id).copied().unwrap_or(0)
    }

    pub(crate) fn lead(&self, p: usize) -> u32 {
        let supplier = BASES[self.products[p].base].supplier;
        self.suppliers[supplier].1.max(1) as u32
    }

    /// Books a quantity in memory as `stock::book` does in the database (the average cost
    /// moves on inbound goods with a cost); returns the balance after.
    pub(crate) fn apply(&mut self, l: usize, p: usize, quantity: i64, unit_cost: Option<i64>) -> i64 {
        let on_hand = self.on_hand[l][p];
        if let Some(cost) = unit_cost.filter(|_| quantity > 0) {
            if on_hand + quantity > 0 {
                self.avg[l][p] = (on_hand * self.avg[l][p] + quantity * cost) / (on_hand + quantity);
            }
        }
        self.on_hand[l][p] = on_hand + quantity;
        self.dirty.insert((l, p));
        self.on_hand[l][p]
    }

    pub(crate) fn available(&self, l: usize, p: usize) -> i64 {
        if l == 0 {
            self.cd_available(p)
        } else {
            self.on_hand[l][p]
        }
    }

    /// After a store function evaluated the alert of a warehouse product.
    pub(crate) fn sync_live(&mut self, l: usize, p: usize) {
        self.live[l][p] = self.available(l, p) < self.products[p].threshold;
    }

    pub(crate) fn cd_available(&self, p: usize) -> i64 {
        self.on_hand[0][p] - self.reserved[p]
    }

    pub(crate) fn price_on(&self, p: usize, day: u32) -> i64 {
        let prod = &self.products[p];
        match prod.promos.iter().find(|x| x.start <= day && day < x.end) {
            Some(x) => round_price(prod.price as f64 * (1.0 - x.pct as f64 / 100.0)),
            None => prod.price,
        }
    }

    pub(crate) fn uplift(&self, p: usize, day: u32) -> f64 {
        self.products[p]
            .promos
            .iter()
            .find(|x| x.start <= day && day < x.end)
            .map_or(1.0, |x| x.uplift)
    }

    /// What a shop expects to sell per day now: its recent demand, or the planned rate
    /// (season and promotions known ahead), whichever is higher.
    pub(crate) fn planned_rate(&self, s: usize, p: usize, date: NaiveDate, cfg: &DemoConfig) -> f64 {
        let day = (date - (cfg.end_date - Duration::days(i64::from(cfg.days) - 1)))
            .num_days()
            .max(0) as u32;
        let season = season_factor(BASES[self.products[p].base].season, date + Duration::days(2));
        let planned = self.base_rate[s][p] * season * self.uplift(p, day + 1);
        planned.max(self.demand[s][p])
    }

    /// (order-up-to level, reorder point) of a shop for the next delivery.
    pub(crate) fn store_target(&self, s: usize, p: usize, date: NaiveDate, cfg: &DemoConfig) -> (i64, i64) {
        let rate = self.planned_rate(s, p, date, cfg);
        let safety = 1.5 * (rate * 3.0).sqrt() + 1.0;
        let target = (rate * 4.5 + safety).ceil() as i64;
        let point = (rate * 3.0 + safety).ceil() as i64;
        (target.max(self.products[p].threshold + 1), point)
    }

    pub(crate) fn cd_rate(&self, p: usize, date: NaiveDate, cfg: &DemoConfig) -> f64 {
        let shops: f64 = (1..self.locations.len())
            .map(|s| self.planned_rate(s, p, date, cfg))
            .sum();
        shops + cfg.orders_per_day * LINES_PER_TICKET * 2.5 * self.products[p].pop / self.pop_total
    }

    pub(crate) fn cd_target(&self, p: usize, _day: u32, date: NaiveDate, cfg: &DemoConfig) -> i64 {
        (self.cd_rate(p, date, cfg) * (f64::from(self.lead(p)) + 10.0)).ceil() as i64 + 2
    }

    /// Cumulative product weights of a day: popularity × season × promotion.
    pub(crate) fn day_weights(&self, day: u32, date: NaiveDate) -> Vec<f64> {
        let mut acc = 0.0;
        self.products
            .iter()
            .enumerate()
            .map(|(i, p)| {
                acc += p.pop * season_factor(BASES[p.base].season, date) * self.uplift(i, day);
                acc
            })
            .collect()
    }

    pub(crate) fn pick_customer(&self, rng: &mut ChaCha8Rng, s: usize) -> Option<usize> {
        let cum = self.customer_cum.get(s)?;
        let total = *cum.last()?;
        if total <= 0.0 {
            return None;
        }
        let x = rng.gen_range(0.0..total);
        Some(cum.partition_point(|w| *w <= x).min(cum.len() - 1))
    }

    /// One basket: (product index, quantity), products distinct.
    pub(crate) fn basket(&self, rng: &mut ChaCha8Rng, weights: &[f64], customer: Option<usize>) -> Vec<(usize, i64)> {
        let mut basket: Vec<(usize, i64)> = Vec::new();
        let total = weights.last().copied().unwrap_or(0.0);
        let add = |basket: &mut Vec<(usize, i64)>, p: usize, q: i64| match basket.iter_mut().find(|(x, _)| *x == p) {
            Some((_, n)) => *n += q,
            None => basket.push((p, q)),
        };
        if total > 0.0 {
            let lines = 1 + poisson(rng, 1.7);
            for _ in 0..lines {
                let x = rng.gen_range(0.0..total);
                let p = weights.partition_point(|w| *w <= x).min(weights.len() - 1);
                add(&mut basket, p, quantity(rng, &BASES[self.products[p].base]));
            }
        }
        if let Some(k) = customer {
            if rng.gen_bool(0.3) {
                let p = self.customers[k].favourites[rng.gen_range(0..2)];
                add(&mut basket, p, 1);
            }
        }
        for &(anchor, partner, prob) in &self.affinities {
            let has_anchor = basket.iter().any(|(p, _)| self.products[*p].base == anchor);
            let has_partner = basket.iter().any(|(p, _)| self.products[*p].base == partner);
            if has_anchor && !has_partner && rng.gen_bool(prob) {
                let variants = &self.variants[partner];
                let p = if rng.gen_bool(0.7) {
                    variants[0]
                } else {
                    variants[rng.gen_range(0..variants.len())]
                };
                add(&mut basket, p, quantity(rng, &BASES[self.products[p].base]));
            }
        }
        for (p, q) in basket.iter_mut() {
            *q = (*q).min(i64::from(BASES[self.products[*p].base].max_qty.max(1)) * 2);
        }
        basket
    }
}

pub(crate) fn plan_promotions(rng: &mut ChaCha8Rng, days: u32, pop: f64) -> Vec<Promo> {
    let chance = if pop > 1.0 { 0.5 } else { 0.2 };
    if days < 21 || !rng.gen_bool(chance) {
        return Vec::new();
    }
    let count = if days >= 120 && rng.gen_bool(0.5) { 2 } else { 1 };
    let mut promos: Vec<Promo> = Vec::new();
    for i in 0..count {
        let length = rng.gen_range(7..15u32);
        let slot = days / count;
        let start = i * slot + rng.gen_range(0..slot.saturating_sub(length).max(1));
        let pct = [10, 15, 20, 25, 30][rng.gen_range(0..5)];
        // Roughly an elasticity of 3 to 4: 20 % off sells about 1.7 times as much.
        let uplift = 1.0 + pct as f64 / 100.0 * rng.gen_range(3.0..4.0);
        promos.push(Promo {
            start,
            end: (start + length).min(days),
            pct,
            uplift,
        });
    }
    promos
}

pub(crate) fn quantity(rng: &mut ChaCha8Rng, base: &Base) -> i64 {
    let mut q = 1;
    if base.max_qty >= 2 && rng.gen_bool(0.3) {
        q += 1;
    }
    if base.max_qty >= 3 && rng.gen_bool(0.15) {
        q += 1;
    }
    q
}

pub(crate) fn mean_qty(base: &Base) -> f64 {
    1.0 + if base.max_qty >= 2 { 0.3 } else { 0.0 } + if base.max_qty >= 3 { 0.15 } else { 0.0 }
}
