//! Offline evaluation on a temporal split, the same for every model (ours and, through
//! [`evaluate_lists`], the peers' exported top-k lists).
//!
//! - Training data: every line before `test_from`; the catalogue is the products seen there.
//! - Scored users: customers with purchases on both sides of the split.
//! - Relevant: the distinct products a scored user buys from `test_from` on (products first
//!   sold after the split count in `|R|` but can never be hit).
//! - Each model ranks the whole catalogue for each scored user; products bought before may be
//!   recommended again. Metrics at k = 10: see [`crate::metrics`].
//! - History given to every [`Scorer`]: per product the user bought, the number of baskets it
//!   was in, each weighted by `2^-(age / history_half_life)` (recency), oldest first.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::ids::Ids;
use crate::itemitem::{ItemItem, ItemItemConfig, TimedBasket};
use crate::metrics::{user_metrics, Accumulator, Metrics};
use crate::popular::{Popular, PopularConfig};
use crate::scorer::{top_n, Scorer};

const DAY: i64 = 86_400;

/// Half-life of the recency weighting of the histories, in days (tuned on Online Retail's
/// validation split).
pub const DEFAULT_HISTORY_HALF_LIFE_DAYS: f64 = 120.0;

/// One transaction line, ids already interned by the loader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub order: u32,
    pub customer: Option<u32>,
    pub product: u32,
    /// Unix seconds.
    pub at: i64,
}

/// A temporal split, ready for training and scoring.
#[derive(Debug, Clone)]
pub struct Split {
    pub test_from: i64,
    /// Dense catalogue index ↔ the loader's product index.
    pub items: Ids,
    /// Dense training-user index ↔ the loader's customer index.
    pub users: Ids,
    /// Training baskets (orders) over catalogue indexes, oldest first.
    pub baskets: Vec<TimedBasket>,
    /// Training purchases: (user, item, unix seconds), one per line with a customer.
    pub purchases: Vec<(u32, u32, i64)>,
    /// Per training user: recency-weighted basket counts per item, oldest purchase first.
    pub histories: Vec<Vec<(u32, f32)>>,
    /// Scored users: (user, relevant catalogue items, |R| including unseen products).
    pub scored: Vec<(u32, HashSet<u32>, usize)>,
    pub train_lines: usize,
    pub test_lines: usize,
    /// Never rank what a scored user already has (basket completion); false for shops' repeat
    /// purchases.
    pub exclude_known: bool,
}

/// What the JSON report says of the split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitSummary {
    pub test_from: String,
    pub train_lines: usize,
    pub test_lines: usize,
    pub train_baskets: usize,
    pub products: usize,
    pub train_customers: usize,
    pub scored_customers: usize,
    pub history_half_life_days: f64,
}

impl Split {
    pub fn new(lines: &[Line], test_from: i64, history_half_life_days: f64) -> Self {
        let mut items = Ids::new();
        let mut users = Ids::new();
        let mut order_index: HashMap<u32, usize> = HashMap::new();
        let mut baskets: Vec<TimedBasket> = Vec::new();
        let mut purchases = Vec::new();
        let mut sorted: Vec<&Line> = lines.iter().collect();
        sorted.sort_by_key(|l| l.at);
        let mut train_lines = 0;
        for l in sorted.iter().filter(|l| l.at < test_from) {
            train_lines += 1;
            let item = items.intern(l.product as i64);
            let b = *order_index.entry(l.order).or_insert_with(|| {
                baskets.push(TimedBasket {
                    at: l.at,
                    items: Vec::new(),
                });
                baskets.len() - 1
            });
            baskets[b].items.push(item);
            if let Some(c) = l.customer {
                let u = users.intern(c as i64);
                purchases.push((u, item, l.at));
            }
        }
        let half_life = history_half_life_days.max(1e-6) * DAY as f64;
        // (user, item) → (weight, last purchase), counting each order once.
        let mut seen: HashSet<(u32, u32, u32)> = HashSet::new();
        let mut per_user: Vec<HashMap<u32, (f32, i64)>> = vec![HashMap::new(); users.len()];
        for l in sorted.iter().filter(|l| l.at < test_from) {
            let Some(c) = l.customer else { continue };
            let (Some(u), Some(i)) = (users.index(c as i64), items.index(l.product as i64)) else {
                continue;
            };
            if !seen.insert((u, i, l.order)) {
                continue;
            }
            let w = (-((test_from - l.at) as f64) / half_life).exp2() as f32;
            let e = per_user[u as usize].entry(i).or_insert((0.0, l.at));
            e.0 += w;
            e.1 = e.1.max(l.at);
        }
        let histories = per_user
            .into_iter()
            .map(|h| {
                let mut v: Vec<(u32, f32, i64)> = h.into_iter().map(|(i, (w, t))| (i, w, t)).collect();
                v.sort_by_key(|&(i, _, t)| (t, i));
                v.into_iter().map(|(i, w, _)| (i, w)).collect()
            })
            .collect();
        let mut relevant: HashMap<u32, HashSet<u32>> = HashMap::new();
        let mut test_lines = 0;
        for l in sorted.iter().filter(|l| l.at >= test_from) {
            test_lines += 1;
            if let Some(c) = l.customer {
                if let Some(u) = users.index(c as i64) {
                    relevant.entry(u).or_default().insert(l.product);
                }
            }
        }
        let mut scored: Vec<(u32, HashSet<u32>, usize)> = relevant
            .into_iter()
            .map(|(u, products)| {
                let total = products.len();
                let known = products.iter().filter_map(|&p| items.index(p as i64)).collect();
                (u, known, total)
            })
            .collect();
        scored.sort_by_key(|s| s.0);
        Self {
            test_from,
            items,
            users,
            baskets,
            purchases,
            histories,
            scored,
            train_lines,
            test_lines,
            exclude_known: false,
        }
    }

    /// Whether `item` is ruled out for scored user `u`.
    fn excluded(&self, u: u32, item: u32) -> bool {
        self.exclude_known && self.histories[u as usize].iter().any(|&(i, _)| i == item)
    }

    /// Training users × catalogue: lines bought per pair (what the collaborative models and
    /// the peers train on).
    pub fn purchase_matrix(&self) -> crate::matrix::Csr {
        let triples: Vec<(u32, u32, f32)> = self.purchases.iter().map(|&(u, i, _)| (u, i, 1.0)).collect();
        crate::matrix::Csr::from_triples(self.users.len(), self.items.len(), &triples)
    }

    pub fn summary(&self, history_half_life_days: f64) -> SplitSummary {
        SplitSummary {
            test_from: chrono::DateTime::from_timestamp(self.test_from, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            train_lines: self.train_lines,
            test_lines: self.test_lines,
            train_baskets: self.baskets.len(),
            products: self.items.len(),
            train_customers: self.users.len(),
            scored_customers: self.scored.len(),
            history_half_life_days,
        }
    }
}

/// A trained model with its name and training time.
pub struct NamedModel {
    pub name: String,
    pub model: Box<dyn Scorer>,
    pub train_seconds: f64,
}

/// Builds a model and measures how long that took.
pub fn timed(name: &str, build: impl FnOnce() -> Box<dyn Scorer>) -> NamedModel {
    let start = Instant::now();
    let model = build();
    NamedModel {
        name: name.to_string(),
        model,
        train_seconds: start.elapsed().as_secs_f64(),
    }
}

/// Settings of the models trained by [`standard_models`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelSettings {
    pub item_item: ItemItemConfig,
    pub popular: PopularConfig,
}

/// Bodega's models trained on the split: popularity and item-item. Other models are one line
/// each: `models.push(timed("als", || Box::new(Als::train(...))))`.
pub fn standard_models(split: &Split, settings: &ModelSettings) -> Vec<NamedModel> {
    let n = split.items.len();
    vec![
        timed("popular", || {
            let purchases: Vec<(u32, i64)> = split.purchases.iter().map(|&(_, i, t)| (i, t)).collect();
            Box::new(Popular::train(
                n,
                &purchases,
                &[],
                settings.popular.clone(),
                split.test_from,
            ))
        }),
        timed("item-item", || {
            Box::new(ItemItem::train(
                n,
                &split.baskets,
                settings.item_item.clone(),
                split.test_from,
            ))
        }),
    ]
}

/// Scores one model: every scored user's top 10 over the whole catalogue.
pub fn evaluate_model(split: &Split, model: &dyn Scorer, k: usize) -> Metrics {
    let n = split.items.len();
    split
        .scored
        .par_iter()
        .fold(
            || (Accumulator::default(), vec![0f32; n]),
            |(mut acc, mut scores), (u, relevant, total)| {
                model.score(Some(*u), &split.histories[*u as usize], &mut scores);
                let ranked: Vec<u32> = top_n(&scores, k, |i| split.excluded(*u, i))
                    .into_iter()
                    .map(|s| s.item)
                    .collect();
                acc.add(&ranked, user_metrics(&ranked, relevant, *total, k));
                (acc, scores)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(Accumulator::default, Accumulator::merge)
        .finish(n)
}

/// Scores ready-made lists (a peer's output): `lists[user]` = ranked catalogue items for the
/// dense training user; users without a list count as all misses.
pub fn evaluate_lists(split: &Split, lists: &HashMap<u32, Vec<u32>>, k: usize) -> Metrics {
    let mut acc = Accumulator::default();
    let empty = Vec::new();
    for (u, relevant, total) in &split.scored {
        let ranked: Vec<u32> = lists
            .get(u)
            .unwrap_or(&empty)
            .iter()
            .copied()
            .filter(|&i| !split.excluded(*u, i))
            .take(k)
            .collect();
        acc.add(&ranked, user_metrics(&ranked, relevant, *total, k));
    }
    acc.finish(split.items.len())
}

/// One row of a report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    #[serde(flatten)]
    pub metrics: Metrics,
    pub train_seconds: f64,
}

/// Trains nothing: scores `models` and returns (name, result) in the given order.
pub fn evaluate(split: &Split, models: &[NamedModel], k: usize) -> Vec<(String, ModelResult)> {
    models
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                ModelResult {
                    metrics: evaluate_model(split, m.model.as_ref(), k),
                    train_seconds: m.train_seconds,
                },
            )
        })
        .collect()
}

/// A plain-text table of results.
pub fn render(rows: &[(String, ModelResult)]) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}\n",
        "model", "P@10", "R@10", "NDCG@10", "MAP@10", "HR@10", "cover", "train s"
    );
    for (name, r) in rows {
        let m = &r.metrics;
        out += &format!(
            "{:<24} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.3}\n",
            name, m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.coverage, r.train_seconds
        );
    }
    out
}

/// Item-item settings tuned on a validation split: the lines before `test_from`, split at
/// `test_from - validation_days`. Coordinate search (two passes) over half-life, K,
/// repeat weight, history power and history half-life, maximising NDCG@10. Never looks at the
/// test period. Returns the settings, the history half-life and a log of what was tried.
pub fn tune_item_item(
    lines: &[Line],
    test_from: i64,
    validation_days: i64,
    start: ItemItemConfig,
    history_half_life_days: f64,
) -> (ItemItemConfig, f64, Vec<String>) {
    let before: Vec<Line> = lines.iter().filter(|l| l.at < test_from).copied().collect();
    let valid_from = test_from - validation_days * DAY;
    let mut log = Vec::new();
    let mut cache: HashMap<u64, Split> = HashMap::new();
    let mut best = (start, history_half_life_days);
    let mut run = |c: &ItemItemConfig, h: f64, log: &mut Vec<String>| -> f64 {
        let split = cache
            .entry(h.to_bits())
            .or_insert_with(|| Split::new(&before, valid_from, h));
        let model = ItemItem::train(split.items.len(), &split.baskets, c.clone(), valid_from);
        let ndcg = evaluate_model(split, &model, 10).ndcg;
        log.push(format!(
            "half_life_days={} k={} repeat={} history_power={} history_half_life_days={} -> ndcg@10={:.4}",
            c.half_life_days, c.k, c.repeat, c.history_power, h, ndcg
        ));
        ndcg
    };
    let mut best_score = run(&best.0, best.1, &mut log);
    for _pass in 0..2 {
        for param in 0..5 {
            let candidates: Vec<(ItemItemConfig, f64)> = match param {
                0 => [30.0, 60.0, 120.0, 240.0, 1e6]
                    .iter()
                    .map(|&v| {
                        (
                            ItemItemConfig {
                                half_life_days: v,
                                ..best.0.clone()
                            },
                            best.1,
                        )
                    })
                    .collect(),
                1 => [20, 50, 100, 200, 400, 1000]
                    .iter()
                    .map(|&v| (ItemItemConfig { k: v, ..best.0.clone() }, best.1))
                    .collect(),
                2 => [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
                    .iter()
                    .map(|&v| {
                        (
                            ItemItemConfig {
                                repeat: v,
                                ..best.0.clone()
                            },
                            best.1,
                        )
                    })
                    .collect(),
                3 => [0.5, 0.75, 1.0]
                    .iter()
                    .map(|&v| {
                        (
                            ItemItemConfig {
                                history_power: v,
                                ..best.0.clone()
                            },
                            best.1,
                        )
                    })
                    .collect(),
                _ => [30.0, 60.0, 120.0, 240.0, 1e6]
                    .iter()
                    .map(|&v| (best.0.clone(), v))
                    .collect(),
            };
            for (c, h) in candidates {
                if c == best.0 && h == best.1 {
                    continue;
                }
                let s = run(&c, h, &mut log);
                if s > best_score {
                    best_score = s;
                    best = (c, h);
                }
            }
        }
    }
    log.push(format!("best on validation: ndcg@10={best_score:.4}"));
    (best.0, best.1, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000;

    fn line(order: u32, customer: u32, product: u32, days: i64) -> Line {
        Line {
            order,
            customer: Some(customer),
            product,
            at: T + days * DAY,
        }
    }

    #[test]
    fn split_scores_customers_on_both_sides_with_distinct_later_products() {
        let lines = [
            line(1, 10, 100, -5),
            line(1, 10, 101, -5),
            line(2, 11, 100, -3),
            line(3, 10, 101, 1),
            line(3, 10, 102, 1), // new product: in |R|, never rankable
            line(3, 10, 101, 1),
            line(4, 12, 100, 2), // customer 12 has no history: not scored
        ];
        let split = Split::new(&lines, T, 1e9);
        assert_eq!(split.items.len(), 2);
        assert_eq!(split.baskets.len(), 2);
        assert_eq!(split.scored.len(), 1);
        let (u, relevant, total) = &split.scored[0];
        assert_eq!(split.users.id(*u), 10);
        assert_eq!(*total, 2);
        let want: HashSet<u32> = [split.items.index(101).unwrap_or(u32::MAX)].into_iter().collect();
        assert_eq!(relevant, &want);
        // Customer 10 bought 100 and 101 once each (one order).
        assert_eq!(split.histories[*u as usize].len(), 2);
        assert!(split.histories[*u as usize].iter().all(|h| (h.1 - 1.0).abs() < 1e-6));
    }

    /// A model that ranks a fixed list.
    struct Fixed(Vec<u32>);
    impl Scorer for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn score(&self, _: Option<u32>, _: &[(u32, f32)], scores: &mut [f32]) {
            scores.fill(f32::NEG_INFINITY);
            for (p, &i) in self.0.iter().enumerate() {
                scores[i as usize] = -(p as f32);
            }
        }
    }

    #[test]
    fn a_model_and_its_exported_list_score_the_same() {
        let lines = [
            line(1, 10, 100, -5),
            line(1, 10, 101, -5),
            line(2, 11, 102, -3),
            line(3, 10, 101, 1),
            line(4, 11, 100, 1),
            line(4, 11, 101, 1),
        ];
        let split = Split::new(&lines, T, 30.0);
        let i101 = split.items.index(101).unwrap_or(0);
        let i102 = split.items.index(102).unwrap_or(0);
        let model = Fixed(vec![i101, i102]);
        let m = evaluate_model(&split, &model, 10);
        // Customer 10: relevant {101}, hit at 1: ndcg 1. Customer 11: relevant {100, 101}, hit
        // at 1: dcg 1, idcg 1 + 1/log2(3).
        let want = (1.0 + 1.0 / (1.0 + 1.0 / 3f64.log2())) / 2.0;
        assert!((m.ndcg - want).abs() < 1e-12);
        assert!((m.coverage - 2.0 / 3.0).abs() < 1e-12);
        let lists: HashMap<u32, Vec<u32>> = split.scored.iter().map(|s| (s.0, vec![i101, i102])).collect();
        assert_eq!(evaluate_lists(&split, &lists, 10), m);
    }
}
