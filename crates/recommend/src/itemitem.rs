//! The item-item model of seed 003: products bought in the same basket, weighted by how
//! recently, normalised by cosine, with the top-K neighbours of every product kept ready.
//!
//! Every basket `b` bought at time `t_b` weighs `w_b = 2^((t_b - t0) / half_life)`: the weights
//! live in a *growing* time base `t0`, so a new sale never has to decay the existing counts
//! (cosine and the confidence ratios are invariant to a global scale). When the exponent grows
//! past [`RESCALE_AFTER_HALF_LIVES`], everything is multiplied once by `2^-(t - t0)/half_life`
//! and `t0` moves forward: a rare pass over every pair instead of one on every sale.
//!
//! With `C_i = Σ_{b ∋ i} w_b` (decayed basket count) and `C_ij = Σ_{b ∋ i, j} w_b` (decayed
//! co-occurrence), `sim(i, j) = C_ij / sqrt(C_i · C_j)` and the confidence of `j` given `i` is
//! `C_ij / C_i`, the recency-weighted share of `i`'s baskets that also held `j`.
//!
//! For the human reason, every item also keeps the exact list of baskets it was in during the
//! last `window_days` (90): "bought together with X in 37 baskets in the last 90 days" is an
//! exact count, from intersecting two of these lists.

use std::collections::{HashMap, VecDeque};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scorer::{merge_by_item, top_n, Scorer};

/// The time base moves forward when new weights reach `2^this`.
pub const RESCALE_AFTER_HALF_LIVES: f64 = 64.0;

/// Co-occurrence weights: f32 halves the memory of the pair rows; counts stay f64.
type W = f32;

const DAY: i64 = 86_400;

/// Settings of the item-item model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemItemConfig {
    /// A basket's weight halves every `half_life_days`.
    pub half_life_days: f64,
    /// Neighbours kept per product (used to score a customer's history).
    pub k: usize,
    /// The strongest neighbours per basket item used for a basket suggestion (≤ k).
    pub basket_k: usize,
    /// Exponent of the history strengths when scoring a user (1: linear; < 1 flattens).
    pub history_power: f32,
    /// Weight of the user's own (recency-weighted) purchases of a product, relative to the
    /// neighbour evidence: wholesale customers buy the same products again.
    pub repeat: f32,
    /// The window of the exact counts given as evidence, in days.
    pub window_days: i64,
}

impl Default for ItemItemConfig {
    fn default() -> Self {
        Self {
            half_life_days: 240.0,
            k: 400,
            basket_k: 50,
            history_power: 1.0,
            repeat: 4.0,
            window_days: 90,
        }
    }
}

/// A basket for training: when, and the item indexes in it (duplicates are ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedBasket {
    /// Unix seconds.
    pub at: i64,
    pub items: Vec<u32>,
}

/// A product suggested for a basket, with the evidence for its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct BasketSuggestion {
    pub item: u32,
    /// 1 = best.
    pub rank: u32,
    /// Sum of the cosine similarities to the basket's items.
    pub score: f32,
    /// The score as a percentage of the best one.
    pub relevance: f32,
    /// Estimated P(item | basket): decayed co-occurrence with the anchor / decayed count of
    /// the anchor.
    pub confidence: f32,
    /// The basket item it is most tied to.
    pub anchor: u32,
    /// Exact number of baskets holding both `anchor` and `item` in the last `window_days`.
    pub shared_baskets: u32,
    pub window_days: i64,
}

/// The trained model; see the module documentation.
#[derive(Debug, Clone)]
pub struct ItemItem {
    config: ItemItemConfig,
    /// Time base of the stored weights (unix seconds).
    t0: i64,
    /// The newest time seen (training `now` or the newest basket).
    now: i64,
    /// `C_i` in the base `t0`.
    count: Vec<f64>,
    /// `C_ij` for `j ≠ i`, sorted by `j`.
    rows: Vec<Vec<(u32, W)>>,
    /// `1 / sqrt(C_i)` in the base `t0` (0 for unseen items).
    inv_norm: Vec<f64>,
    /// Top-K by cosine as (j, C_ij): the co-occurrence stays exact (a basket holding both i
    /// and j recomputes i's list) and the similarity is read with the current norms.
    neighbours: Vec<Vec<(u32, W)>>,
    /// (unix seconds, basket sequence number) of the baskets holding the item within the
    /// window, oldest first.
    recent: Vec<VecDeque<(i64, u32)>>,
    baskets_seen: u32,
    rescales: u32,
}

fn inv_sqrt(c: f64) -> f64 {
    if c > 0.0 {
        1.0 / c.sqrt()
    } else {
        0.0
    }
}

fn dedup(items: &[u32]) -> Vec<u32> {
    let mut items = items.to_vec();
    items.sort_unstable();
    items.dedup();
    items
}

impl ItemItem {
    /// An empty model over `items` products, its time base at `now`.
    pub fn empty(items: usize, config: ItemItemConfig, now: i64) -> Self {
        Self {
            config,
            t0: now,
            now,
            count: vec![0.0; items],
            inv_norm: vec![0.0; items],
            rows: vec![Vec::new(); items],
            neighbours: vec![Vec::new(); items],
            recent: vec![VecDeque::new(); items],
            baskets_seen: 0,
            rescales: 0,
        }
    }

    /// Batch training on `baskets` (any order; processed oldest first) over `items` products.
    /// `now` is the time base and the clock of the evidence window.
    pub fn train(items: usize, baskets: &[TimedBasket], config: ItemItemConfig, now: i64) -> Self {
        let mut model = Self::empty(items, config, now);
        let mut order: Vec<usize> = (0..baskets.len()).collect();
        order.sort_by_key(|&b| baskets[b].at);
        let sets: Vec<Vec<u32>> = order.iter().map(|&b| dedup(&baskets[b].items)).collect();
        let max_item = sets.iter().flatten().copied().max().map_or(0, |m| m as usize + 1);
        model.grow(max_item);
        let n = model.count.len();
        let weights: Vec<f64> = order.iter().map(|&b| model.weight(baskets[b].at)).collect();
        if let Some(&last) = order.last() {
            model.now = model.now.max(baskets[last].at);
        }

        // Item → (basket, position of the item in it), chronological, as CSR.
        let mut start = vec![0usize; n + 1];
        for set in &sets {
            for &i in set {
                start[i as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut holding = vec![(0u32, 0u32); start[n]];
        for (b, set) in sets.iter().enumerate() {
            for (p, &i) in set.iter().enumerate() {
                holding[fill[i as usize]] = (b as u32, p as u32);
                fill[i as usize] += 1;
            }
        }

        // The upper triangle (j > i) of C, rows in parallel with a dense accumulator per worker;
        // every sum runs over the baskets in chronological order, as `observe_basket` adds them.
        let upper: Vec<(f64, Vec<(u32, W)>)> = (0..n)
            .into_par_iter()
            .map_init(
                || vec![0 as W; n],
                |acc, i| {
                    let mut c = 0.0;
                    let (mut lo, mut hi) = (usize::MAX, 0usize);
                    for &(b, p) in &holding[start[i]..start[i + 1]] {
                        let w = weights[b as usize];
                        c += w;
                        let after = &sets[b as usize][p as usize + 1..];
                        if let (Some(&first), Some(&last)) = (after.first(), after.last()) {
                            lo = lo.min(first as usize);
                            hi = hi.max(last as usize + 1);
                        }
                        let w = w as W;
                        for &j in after {
                            acc[j as usize] += w;
                        }
                    }
                    let mut row = Vec::new();
                    if lo < hi {
                        for (j, v) in acc[lo..hi].iter_mut().enumerate() {
                            if *v != 0.0 {
                                row.push(((lo + j) as u32, *v));
                                *v = 0.0;
                            }
                        }
                    }
                    (c, row)
                },
            )
            .collect();
        // Mirror: row j = (i < j, ascending) followed by its own upper part.
        let mut lower_len = vec![0usize; n];
        for (_, row) in &upper {
            for &(j, _) in row {
                lower_len[j as usize] += 1;
            }
        }
        let mut rows: Vec<Vec<(u32, W)>> = (0..n)
            .map(|j| Vec::with_capacity(lower_len[j] + upper[j].1.len()))
            .collect();
        // In parallel over ranges of target rows; every task reads each upper row's slice
        // that falls in its range, in ascending i.
        let chunk = n.div_ceil(4 * rayon::current_num_threads()).max(64);
        rows.par_chunks_mut(chunk).enumerate().for_each(|(c, targets)| {
            let (lo, hi) = ((c * chunk) as u32, (c * chunk + targets.len()) as u32);
            for (i, (_, row)) in upper.iter().enumerate().take(hi as usize) {
                let from = row.partition_point(|&(j, _)| j < lo);
                for &(j, v) in row[from..].iter().take_while(|&&(j, _)| j < hi) {
                    targets[(j - lo) as usize].push((i as u32, v));
                }
            }
        });
        for (i, (c, up)) in upper.into_iter().enumerate() {
            model.count[i] = c;
            model.inv_norm[i] = inv_sqrt(c);
            rows[i].extend(up);
        }
        model.rows = rows;
        let neighbours: Vec<Vec<(u32, W)>> = (0..n)
            .into_par_iter()
            .map_init(Vec::new, |buffer, i| model.top_k_into(i as u32, buffer))
            .collect();
        model.neighbours = neighbours;

        let from = model.now - model.config.window_days * DAY;
        for (seq, (&b, set)) in order.iter().zip(&sets).enumerate() {
            if baskets[b].at > from {
                for &i in set {
                    model.recent[i as usize].push_back((baskets[b].at, seq as u32));
                }
            }
        }
        model.baskets_seen = sets.len() as u32;
        model
    }

    /// A new basket: updates the counts and the neighbour lists of its items, so the next
    /// request already sees it. Neighbour lists of other products that list one of these
    /// items keep their membership until those products sell again (their similarity values
    /// are read fresh).
    pub fn observe_basket(&mut self, items: &[u32], at: i64) {
        let set = dedup(items);
        if let Some(&max) = set.last() {
            self.grow(max as usize + 1);
        }
        if (at - self.t0) as f64 / self.half_life_seconds() > RESCALE_AFTER_HALF_LIVES {
            self.rescale(at);
        }
        let w = self.weight(at);
        let wc = w as W;
        for &i in &set {
            self.count[i as usize] += w;
            self.inv_norm[i as usize] = inv_sqrt(self.count[i as usize]);
            let row = &mut self.rows[i as usize];
            for &j in &set {
                if j == i {
                    continue;
                }
                match row.binary_search_by_key(&j, |&(k, _)| k) {
                    Ok(p) => row[p].1 += wc,
                    Err(p) => row.insert(p, (j, wc)),
                }
            }
        }
        self.now = self.now.max(at);
        let seq = self.baskets_seen;
        self.baskets_seen += 1;
        let from = self.now - self.config.window_days * DAY;
        for &i in &set {
            let recent = &mut self.recent[i as usize];
            let p = recent.partition_point(|&(t, s)| (t, s) <= (at, seq));
            recent.insert(p, (at, seq));
            while recent.front().is_some_and(|&(t, _)| t <= from) {
                recent.pop_front();
            }
        }
        // Large (wholesale) baskets: recompute the lists on every core.
        let lists: Vec<Vec<(u32, W)>> = if set.len() >= 32 {
            set.par_iter()
                .map_init(Vec::new, |buffer, &i| self.top_k_into(i, buffer))
                .collect()
        } else {
            let mut buffer = Vec::new();
            set.iter().map(|&i| self.top_k_into(i, &mut buffer)).collect()
        };
        for (&i, list) in set.iter().zip(lists) {
            self.neighbours[i as usize] = list;
        }
    }

    /// Recomputes every neighbour list (after many incremental updates, e.g. nightly).
    pub fn refresh_neighbours(&mut self) {
        let n = self.count.len();
        self.neighbours = (0..n).into_par_iter().map(|i| self.top_k(i as u32)).collect();
    }

    pub fn config(&self) -> &ItemItemConfig {
        &self.config
    }

    pub fn items(&self) -> usize {
        self.count.len()
    }

    /// How many times the time base moved forward.
    pub fn rescales(&self) -> u32 {
        self.rescales
    }

    /// The model's clock: the newest basket or training time.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// `C_i`, decayed to now.
    pub fn count(&self, i: u32) -> f64 {
        self.count.get(i as usize).copied().unwrap_or(0.0) * self.to_now()
    }

    /// `C_ij`, decayed to now (`C_i` when `i == j`).
    pub fn co_count(&self, i: u32, j: u32) -> f64 {
        if i == j {
            return self.count(i);
        }
        f64::from(self.raw_co(i, j)) * self.to_now()
    }

    /// Cosine similarity of two products' recency-weighted basket vectors.
    pub fn similarity(&self, i: u32, j: u32) -> f64 {
        let (ci, cj) = (self.raw_count(i), self.raw_count(j));
        if ci <= 0.0 || cj <= 0.0 {
            return 0.0;
        }
        f64::from(self.raw_co(i, j)) / (ci * cj).sqrt()
    }

    /// The history product that ties to `j` best: the `(i, strength)` of `sorted` (by product)
    /// with the largest `strength · similarity(i, j)`, `j` itself left out; None when none
    /// was ever bought with it. Walks `j`'s own pair row once, instead of looking `j` up in
    /// every history product's row.
    pub fn strongest_tie(&self, j: u32, sorted: &[(u32, f32)]) -> Option<u32> {
        let row = self.rows.get(j as usize)?;
        let mut rest = row.as_slice();
        let mut best: Option<(u32, f64)> = None;
        for &(i, strength) in sorted {
            let at = rest.partition_point(|&(k, _)| k < i);
            rest = &rest[at..];
            let Some(&(k, co)) = rest.first() else { break };
            let ci = self.raw_count(i);
            if k != i || i == j || ci <= 0.0 {
                continue;
            }
            // similarity(i, j) without j's norm, the same for every i.
            let value = f64::from(strength) * f64::from(co) / ci.sqrt();
            if value > 0.0 && best.is_none_or(|(_, b)| value > b) {
                best = Some((i, value));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The top-K neighbours of `i` with their current similarity, best first.
    pub fn neighbours(&self, i: u32) -> Vec<(u32, f32)> {
        let mut list: Vec<(u32, f32)> = self.neighbour_sims(i).collect();
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        list
    }

    /// The neighbours of `i` with their current similarity; the first `basket_k` are the
    /// strongest, in order, as of the last time `i` sold (other products' norms may have moved
    /// since).
    fn neighbour_sims(&self, i: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let ni = self.inv_norm.get(i as usize).copied().unwrap_or(0.0);
        self.neighbours
            .get(i as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(move |&(j, c)| (j, (f64::from(c) * ni * self.inv_norm[j as usize]) as f32))
    }

    /// Exact number of baskets holding both products within the window ending now.
    pub fn shared_baskets(&self, i: u32, j: u32) -> u32 {
        let (Some(a), Some(b)) = (self.recent.get(i as usize), self.recent.get(j as usize)) else {
            return 0;
        };
        let from = self.now - self.config.window_days * DAY;
        let (a, b) = (in_window(a, from), in_window(b, from));
        // Each list holds a basket once, so the count adds up over their parts.
        let mut shared = 0;
        for x in a {
            for y in b {
                shared += count_shared(x, y);
            }
        }
        shared
    }

    /// The top `n` products to suggest with a basket, not in it, with their evidence.
    pub fn for_basket(&self, items: &[u32], n: usize) -> Vec<BasketSuggestion> {
        self.suggestions(self.basket_candidates(items, n))
    }

    /// The top `n` products for a basket, not in it, best first, as (product, score, anchor):
    /// the score sums the similarities from every basket product; the anchor is the basket
    /// product most similar to it. No evidence yet: see [`Self::suggestions`].
    pub fn basket_candidates(&self, items: &[u32], n: usize) -> Vec<(u32, f32, u32)> {
        let basket = dedup(items);
        // (candidate, score, best single similarity, anchor)
        let mut acc: HashMap<u32, (f32, f32, u32)> = HashMap::with_capacity(basket.len() * self.config.basket_k);
        for &i in &basket {
            for (j, s) in self.neighbour_sims(i).take(self.config.basket_k) {
                if basket.binary_search(&j).is_ok() {
                    continue;
                }
                let e = acc.entry(j).or_insert((0.0, f32::NEG_INFINITY, i));
                e.0 += s;
                if s > e.1 {
                    e.1 = s;
                    e.2 = i;
                }
            }
        }
        let mut ranked: Vec<(u32, f32, u32)> = acc.into_iter().map(|(j, (s, _, a))| (j, s, a)).collect();
        let by_best = |a: &(u32, f32, u32), b: &(u32, f32, u32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > n && n > 0 {
            ranked.select_nth_unstable_by(n - 1, by_best);
        }
        ranked.truncate(n);
        ranked.sort_unstable_by(by_best);
        ranked
    }

    /// Ranked (product, score, anchor) candidates with their evidence: rank, relevance against
    /// the first, P(product | anchor) and the baskets they shared in the window.
    pub fn suggestions(&self, ranked: Vec<(u32, f32, u32)>) -> Vec<BasketSuggestion> {
        let best = ranked.first().map_or(1.0, |r| r.1).max(f32::MIN_POSITIVE);
        let from = self.now - self.config.window_days * DAY;
        // An anchor usually serves several suggestions: its window is indexed once.
        let mut anchors: Vec<(u32, Option<WindowSet>)> = Vec::new();
        let mut shared = |anchor: u32, item: u32| {
            let index = match anchors.iter().position(|a| a.0 == anchor) {
                Some(k) => k,
                None => {
                    let set = self
                        .recent
                        .get(anchor as usize)
                        .and_then(|r| WindowSet::of(in_window(r, from)));
                    anchors.push((anchor, set));
                    anchors.len() - 1
                }
            };
            match (&anchors[index].1, self.recent.get(item as usize)) {
                (Some(set), Some(recent)) => set.count_in(in_window(recent, from)),
                _ => self.shared_baskets(anchor, item),
            }
        };
        ranked
            .into_iter()
            .enumerate()
            .map(|(rank, (item, score, anchor))| {
                let ca = self.raw_count(anchor);
                BasketSuggestion {
                    item,
                    rank: rank as u32 + 1,
                    score,
                    relevance: (100.0 * score / best).clamp(0.0, 100.0),
                    confidence: if ca > 0.0 {
                        (f64::from(self.raw_co(anchor, item)) / ca).clamp(0.0, 1.0) as f32
                    } else {
                        0.0
                    },
                    anchor,
                    shared_baskets: shared(anchor, item),
                    window_days: self.config.window_days,
                }
            })
            .collect()
    }

    /// The human reason for a suggestion, given product names.
    pub fn reason(suggestion: &BasketSuggestion, anchor_name: &str) -> String {
        let s = suggestion.shared_baskets;
        format!(
            "bought together with {anchor_name} in {s} basket{} in the last {} days",
            if s == 1 { "" } else { "s" },
            suggestion.window_days
        )
    }

    fn half_life_seconds(&self) -> f64 {
        self.config.half_life_days.max(1e-6) * DAY as f64
    }

    fn weight(&self, at: i64) -> f64 {
        ((at - self.t0) as f64 / self.half_life_seconds()).exp2()
    }

    fn to_now(&self) -> f64 {
        1.0 / self.weight(self.now)
    }

    fn raw_count(&self, i: u32) -> f64 {
        self.count.get(i as usize).copied().unwrap_or(0.0)
    }

    fn raw_co(&self, i: u32, j: u32) -> W {
        let Some(row) = self.rows.get(i as usize) else {
            return 0.0;
        };
        row.binary_search_by_key(&j, |&(k, _)| k).map_or(0.0, |p| row[p].1)
    }

    fn grow(&mut self, items: usize) {
        if items > self.count.len() {
            self.count.resize(items, 0.0);
            self.inv_norm.resize(items, 0.0);
            self.rows.resize(items, Vec::new());
            self.neighbours.resize(items, Vec::new());
            self.recent.resize(items, VecDeque::new());
        }
    }

    fn rescale(&mut self, at: i64) {
        let factor = 1.0 / self.weight(at);
        for c in &mut self.count {
            *c *= factor;
        }
        for row in self.rows.iter_mut().chain(self.neighbours.iter_mut()) {
            for e in row.iter_mut() {
                e.1 = (f64::from(e.1) * factor) as W;
            }
        }
        for (n, &c) in self.inv_norm.iter_mut().zip(&self.count) {
            *n = inv_sqrt(c);
        }
        self.t0 = at;
        self.rescales += 1;
    }

    /// The top-K of row `i` as (j, C_ij).
    fn top_k(&self, i: u32) -> Vec<(u32, W)> {
        self.top_k_into(i, &mut Vec::new())
    }

    /// [`Self::top_k`] with a reusable buffer.
    fn top_k_into(&self, i: u32, buffer: &mut Vec<(f32, u32, W)>) -> Vec<(u32, W)> {
        if self.raw_count(i) <= 0.0 {
            return Vec::new();
        }
        let row = &self.rows[i as usize];
        // Ranked by C_ij / sqrt(C_j) (the factor 1 / sqrt(C_i) is common to the row).
        buffer.clear();
        buffer.extend(
            row.iter()
                .filter(|&&(j, _)| self.inv_norm[j as usize] > 0.0)
                .map(|&(j, c)| ((f64::from(c) * self.inv_norm[j as usize]) as f32, j, c)),
        );
        let by_best = |a: &(f32, u32, W), b: &(f32, u32, W)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let k = self.config.k;
        if buffer.len() > k {
            buffer.select_nth_unstable_by(k, by_best);
            buffer.truncate(k);
        }
        // Only the head used for baskets needs its order.
        let head = self.config.basket_k.min(buffer.len());
        if head < buffer.len() && head > 0 {
            buffer.select_nth_unstable_by(head - 1, by_best);
        }
        buffer[..head].sort_unstable_by(by_best);
        buffer.iter().map(|&(_, j, c)| (j, c)).collect()
    }
}

impl Scorer for ItemItem {
    fn name(&self) -> &str {
        "item-item"
    }

    /// `score(j) = Σ_i s_i · sim(i, j)` over the history items `i` that list `j` among their
    /// neighbours, plus `repeat · s_j` for products the user bought before, where `s_i` is the
    /// history strength (the caller weights it by recency) relative to the strongest, raised to
    /// `history_power`. Products without evidence get a tiny share of their decayed
    /// popularity, so every catalogue item is ranked.
    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        let max_count = self.count.iter().copied().fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
        let prior = 1e-6 / max_count;
        // Over slices (no `chain`), so that the loop vectorises.
        let known = self.count.len().min(scores.len());
        for (s, &c) in scores[..known].iter_mut().zip(&self.count) {
            *s = (c * prior) as f32;
        }
        scores[known..].fill(0.0);
        let strength = merge_by_item(history.to_vec());
        let strongest = strength.iter().map(|s| s.1).fold(0.0f32, f32::max);
        if strongest <= 0.0 {
            return;
        }
        // Σ_i s_i · sim(i, j) = n_j · Σ_i C_ij · (s_i · n_i) (`sim = C_ij · n_i · n_j`, see
        // `neighbour_sims`): the neighbour loop, most of a user answer's time, only gathers
        // `C_ij · s_i · n_i` per product, and `n_j` is applied once per product afterwards.
        let mut gathered = vec![0f32; scores.len()];
        for &(i, h) in &strength {
            let s = match self.config.history_power {
                1.0 => h / strongest,
                power => (h / strongest).powf(power),
            };
            if let Some(own) = scores.get_mut(i as usize) {
                *own += self.config.repeat * s;
            }
            let scale = (f64::from(s) * self.inv_norm.get(i as usize).copied().unwrap_or(0.0)) as f32;
            let list = self.neighbours.get(i as usize).map(Vec::as_slice).unwrap_or(&[]);
            for &(j, c) in list {
                if let Some(g) = gathered.get_mut(j as usize) {
                    *g += c * scale;
                }
            }
        }
        for ((score, g), &nj) in scores.iter_mut().zip(&gathered).zip(&self.inv_norm) {
            *score += (f64::from(*g) * nj) as f32;
        }
    }
}

/// The best `n` for a user, as the evaluation would rank them (convenience for callers that
/// hold only this model).
pub fn recommend_for_history(model: &ItemItem, history: &[(u32, f32)], n: usize) -> Vec<crate::scorer::Scored> {
    let mut scores = vec![0.0; model.items()];
    model.score(None, history, &mut scores);
    top_n(&scores, n, |_| false)
}

/// A product's recent baskets after `from`, as the deque's two sorted parts.
fn in_window(recent: &VecDeque<(i64, u32)>, from: i64) -> [&[(i64, u32)]; 2] {
    let (front, back) = recent.as_slices();
    let after = |slice: &[(i64, u32)]| slice.partition_point(|&(t, _)| t <= from);
    [&front[after(front)..], &back[after(back)..]]
}

/// One product's baskets in the window as a bitset over their sequence numbers: counting the
/// baskets it shares with another product then costs one probe per basket of the other one
/// instead of a merge through both lists.
struct WindowSet {
    first: u32,
    bits: Vec<u64>,
}

impl WindowSet {
    /// Lists shorter than this are merged instead (indexing them would not pay).
    const MIN_LEN: usize = 64;

    /// None for a short list, or one whose sequence numbers are spread so thin that the
    /// bitset would outweigh the list (baskets recorded long after their time).
    fn of(parts: [&[(i64, u32)]; 2]) -> Option<Self> {
        let len = parts[0].len() + parts[1].len();
        if len < Self::MIN_LEN {
            return None;
        }
        let seqs = || parts.iter().flat_map(|p| p.iter().map(|&(_, s)| s));
        let (first, last) = seqs().fold((u32::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        let words = ((last - first) as usize + 64) / 64;
        if words > 2 * len {
            return None;
        }
        let mut bits = vec![0u64; words];
        for s in seqs() {
            let k = (s - first) as usize;
            bits[k / 64] |= 1 << (k % 64);
        }
        Some(Self { first, bits })
    }

    /// How many of `parts`' baskets are in the set (a basket has one time, so its sequence
    /// number alone identifies it).
    fn count_in(&self, parts: [&[(i64, u32)]; 2]) -> u32 {
        let mut shared = 0;
        for &(_, s) in parts.iter().flat_map(|p| p.iter()) {
            let k = s.wrapping_sub(self.first) as usize;
            if let Some(word) = self.bits.get(k / 64) {
                shared += ((word >> (k % 64)) & 1) as u32;
            }
        }
        shared
    }
}

/// How many entries two sorted lists of distinct entries share. Written out because it is
/// most of a basket answer's cost on a grocery catalogue (whole milk is in a quarter of the
/// baskets): a branch-free merge for lists of like size (no mispredicted branch per step),
/// and for a short list against a long one a galloping search of the long one.
fn count_shared(a: &[(i64, u32)], b: &[(i64, u32)]) -> u32 {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return 0;
    }
    if long.len() / short.len() >= 16 {
        let mut rest = long;
        let mut shared = 0;
        for item in short {
            // Gallop to a range that holds the item, then search it.
            let mut step = 1;
            while step < rest.len() && rest[step] < *item {
                step *= 2;
            }
            let end = (step + 1).min(rest.len());
            let at = rest[..end].partition_point(|x| x < item);
            shared += u32::from(at < rest.len() && rest[at] == *item);
            rest = &rest[at..];
        }
        return shared;
    }
    let (mut x, mut y, mut shared) = (0, 0, 0);
    while x < a.len() && y < b.len() {
        let (p, q) = (a[x], b[y]);
        shared += u32::from(p == q);
        x += usize::from(p <= q);
        y += usize::from(q <= p);
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_tie_is_the_history_product_most_alike_weighted_by_strength() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let baskets: Vec<TimedBasket> = (0..400)
            .map(|b| TimedBasket {
                at: T - 86_400 * (b % 50),
                items: {
                    let mut items: Vec<u32> = (0..rng.gen_range(1..6)).map(|_| rng.gen_range(0..30)).collect();
                    items.sort_unstable();
                    items.dedup();
                    items
                },
            })
            .collect();
        let m = ItemItem::train(31, &baskets, config(30.0, 10), T);
        for _ in 0..50 {
            let mut history: Vec<(u32, f32)> = (0..8)
                .map(|_| (rng.gen_range(0..31), rng.gen_range(0.1..2.0)))
                .collect();
            history.sort_unstable_by_key(|h| h.0);
            history.dedup_by_key(|h| h.0);
            for j in 0..31 {
                let brute = history
                    .iter()
                    .filter(|&&(i, _)| i != j)
                    .map(|&(i, s)| (i, f64::from(s) * m.similarity(i, j)))
                    .filter(|&(_, v)| v > 0.0)
                    .fold(None::<(u32, f64)>, |best, (i, v)| match best {
                        Some((_, b)) if v <= b * (1.0 + 1e-9) => best,
                        _ => Some((i, v)),
                    });
                assert_eq!(
                    m.strongest_tie(j, &history),
                    brute.map(|b| b.0),
                    "product {j}, {history:?}"
                );
            }
        }
    }

    #[test]
    fn shared_entries_are_counted_alike_by_merge_galloping_and_bitset() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut indexed = 0;
        for (len_a, len_b) in [(0, 5), (3, 3), (40, 50), (5, 400), (400, 7), (1, 1000), (200, 3000)] {
            let mut list = |len: usize| {
                let mut v: Vec<(i64, u32)> = (0..len).map(|_| (rng.gen_range(0..60), rng.gen_range(0..90))).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let (a, b) = (list(len_a), list(len_b));
            let naive = a.iter().filter(|x| b.contains(x)).count() as u32;
            assert_eq!(count_shared(&a, &b), naive, "{len_a} × {len_b}");
            assert_eq!(count_shared(&b, &a), naive, "{len_b} × {len_a}");
            // The same time for a basket in both lists, as in the model.
            let at = |v: Vec<(i64, u32)>| -> Vec<(i64, u32)> {
                v.into_iter().map(|(_, s)| (i64::from(s / 10), s)).collect()
            };
            let (mut a, mut b) = (at(a), at(b));
            for v in [&mut a, &mut b] {
                v.sort_unstable();
                v.dedup();
            }
            let naive = a.iter().filter(|x| b.contains(x)).count() as u32;
            if let Some(set) = WindowSet::of([&a[..a.len() / 2], &a[a.len() / 2..]]) {
                assert_eq!(set.count_in([&b[..], &[]]), naive, "{len_a} × {len_b} by bitset");
                indexed += 1;
            }
        }
        assert!(indexed >= 2, "the bitset was tried");
    }

    const T: i64 = 1_700_000_000;

    fn config(half_life_days: f64, k: usize) -> ItemItemConfig {
        ItemItemConfig {
            half_life_days,
            k,
            ..ItemItemConfig::default()
        }
    }

    fn basket(days_ago: i64, items: &[u32]) -> TimedBasket {
        TimedBasket {
            at: T - days_ago * DAY,
            items: items.to_vec(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn co_occurrence_and_cosine_by_hand_without_decay() {
        // Half-life so long that decay is invisible at 1e-9.
        let baskets = [
            basket(0, &[0, 1, 2]),
            basket(0, &[0, 1]),
            basket(0, &[1, 2, 2]),
            basket(0, &[3]),
        ];
        let m = ItemItem::train(4, &baskets, config(1e12, 10), T);
        assert!(close(m.count(0), 2.0) && close(m.count(1), 3.0) && close(m.count(2), 2.0));
        assert!(close(m.count(3), 1.0));
        assert!(close(m.co_count(0, 1), 2.0) && close(m.co_count(1, 0), 2.0));
        assert!(close(m.co_count(1, 2), 2.0) && close(m.co_count(0, 2), 1.0));
        assert!(close(m.co_count(0, 3), 0.0));
        // cos(0,1) = 2 / sqrt(2·3); cos(0,2) = 1 / sqrt(2·2) = 0.5.
        assert!(close(m.similarity(0, 1), 2.0 / 6f64.sqrt()));
        assert!(close(m.similarity(0, 2), 0.5));
        assert_eq!(m.similarity(0, 3), 0.0);
        let n0: Vec<u32> = m.neighbours(0).iter().map(|n| n.0).collect();
        assert_eq!(n0, vec![1, 2]);
        assert!(m.neighbours(3).is_empty());
    }

    #[test]
    fn decay_halves_a_basket_per_half_life() {
        // Half-life 10 days: a basket 10 days old weighs 1/2, 20 days old 1/4.
        let baskets = [basket(20, &[0, 1]), basket(10, &[0, 2]), basket(0, &[0, 1])];
        let m = ItemItem::train(3, &baskets, config(10.0, 10), T);
        assert!(close(m.count(0), 0.25 + 0.5 + 1.0));
        assert!(close(m.co_count(0, 1), 1.25));
        assert!(close(m.co_count(0, 2), 0.5));
        // cos(0,1) = 1.25 / sqrt(1.75 · 1.25)
        assert!(close(m.similarity(0, 1), 1.25 / (1.75f64 * 1.25).sqrt()));
        // Ten days later with no sale, every count halves but cosine does not move.
        let mut later = m.clone();
        later.observe_basket(&[2], T + 10 * DAY);
        assert!(close(later.co_count(0, 1), 0.625));
        assert!(close(later.count(2), 0.25 + 1.0));
        assert!(close(later.similarity(0, 1), m.similarity(0, 1)));
    }

    #[test]
    fn incremental_updates_equal_batch_training() {
        let all = [
            basket(30, &[0, 1, 2]),
            basket(25, &[1, 3]),
            basket(20, &[0, 3, 4]),
            basket(12, &[2, 4]),
            basket(5, &[0, 1, 4]),
            basket(1, &[3, 4, 5]),
        ];
        let batch = ItemItem::train(6, &all, config(14.0, 10), T);
        let mut online = ItemItem::train(3, &all[..2], config(14.0, 10), T);
        for b in &all[2..] {
            online.observe_basket(&b.items, b.at);
        }
        assert_eq!(online.items(), batch.items());
        for i in 0..6 {
            assert_eq!(online.count(i), batch.count(i), "count {i}");
            for j in 0..6 {
                assert_eq!(online.co_count(i, j), batch.co_count(i, j), "co {i} {j}");
            }
            // K covers every row here, so every list is exact.
            assert_eq!(online.neighbours(i), batch.neighbours(i), "neighbours {i}");
        }
        assert_eq!(online.for_basket(&[0], 3), batch.for_basket(&[0], 3));
    }

    #[test]
    fn incremental_neighbours_of_the_sold_items_are_exact_with_a_small_k() {
        let all = [
            basket(9, &[0, 1, 2, 3]),
            basket(8, &[0, 2]),
            basket(7, &[1, 3]),
            basket(3, &[0, 3]),
            basket(2, &[0, 3]),
        ];
        let batch = ItemItem::train(4, &all, config(5.0, 1), T);
        let mut online = ItemItem::train(4, &all[..3], config(5.0, 1), T);
        online.observe_basket(&[0, 3], all[3].at);
        online.observe_basket(&[3, 0, 3], all[4].at);
        assert_eq!(online.neighbours(0), batch.neighbours(0));
        assert_eq!(online.neighbours(3), batch.neighbours(3));
        assert_eq!(online.neighbours(0)[0].0, 3);
        online.refresh_neighbours();
        for i in 0..4 {
            assert_eq!(online.neighbours(i), batch.neighbours(i));
        }
    }

    #[test]
    fn the_time_base_moves_forward_without_changing_similarities() {
        let mut m = ItemItem::empty(2, config(1.0, 5), T);
        m.observe_basket(&[0, 1], T);
        m.observe_basket(&[0], T + DAY);
        let before = m.similarity(0, 1);
        // 300 half-lives later: the base must move (2^300 is still finite, but the model
        // rescales past 2^256).
        m.observe_basket(&[1], T + 300 * DAY);
        assert_eq!(m.rescales(), 1);
        // Weights of the first baskets are now 2^-300 and 2^-299 of the new one.
        assert!(close(m.count(1), 1.0 + 2f64.powi(-300)));
        assert!(m.similarity(0, 1) < before);
        assert!(m.similarity(0, 1).is_finite());
    }

    #[test]
    fn basket_suggestions_carry_exact_windowed_counts_and_confidence() {
        // 0 and 1 together 3 times in the window and once 200 days ago; 0 and 2 once.
        let baskets = [
            basket(200, &[0, 1]),
            basket(80, &[0, 1]),
            basket(40, &[0, 1, 2]),
            basket(1, &[0, 1]),
            basket(0, &[2]),
        ];
        let m = ItemItem::train(3, &baskets, config(1e12, 10), T);
        let s = m.for_basket(&[0], 5);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].item, s[0].rank, s[0].anchor), (1, 1, 0));
        assert_eq!(s[0].shared_baskets, 3);
        assert!((s[0].confidence - 1.0).abs() < 1e-6); // every basket with 0 had 1
        assert!((s[0].relevance - 100.0).abs() < 1e-4);
        assert_eq!((s[1].item, s[1].shared_baskets), (2, 1));
        assert!((s[1].confidence - 0.25).abs() < 1e-6);
        assert_eq!(
            ItemItem::reason(&s[0], "tea"),
            "bought together with tea in 3 baskets in the last 90 days"
        );
        // A sale 45 days later pushes the 80-day-old basket out of the window.
        let mut later = m.clone();
        later.observe_basket(&[2], T + 45 * DAY);
        assert_eq!(later.shared_baskets(0, 1), 2);
        // The basket's own items are never suggested.
        assert!(m.for_basket(&[0, 1, 2], 5).is_empty());
    }

    #[test]
    fn user_scores_add_neighbour_similarities_and_repeat_purchases() {
        let baskets = [basket(0, &[0, 1]), basket(0, &[0, 2]), basket(0, &[3])];
        let cfg = ItemItemConfig {
            repeat: 0.5,
            ..config(1e12, 10)
        };
        let m = ItemItem::train(4, &baskets, cfg, T);
        let mut scores = vec![0.0; 4];
        // History: item 1 twice as strong as item 2.
        m.score(None, &[(1, 2.0), (2, 1.0)], &mut scores);
        let cos = 1.0 / 2f32.sqrt(); // cos(0,1) = cos(0,2) = 1/sqrt(2·1)
        let tiny = |c: f32| 1e-6 * c / 2.0;
        assert!((scores[0] - (1.0 * cos + 0.5 * cos + tiny(2.0))).abs() < 1e-5);
        assert!((scores[1] - (0.5 * 1.0 + tiny(1.0))).abs() < 1e-5);
        assert!((scores[2] - (0.5 * 0.5 + tiny(1.0))).abs() < 1e-5);
        assert!(scores[3] > 0.0 && scores[3] < 1e-5);
    }
}
