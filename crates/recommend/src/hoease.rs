//! Higher-order EASE (Steck & Liang, "Negative interactions for improved collaborative
//! filtering: don't go deeper, go higher", RecSys 2021): EASE plus pair features.
//!
//! Next to the products `X` (rows: baskets or customers), the features hold `P` pair columns
//! `z_(a,b) = x_a · x_b` for the `P` pairs of products that meet in the most rows, so that
//! "a and b together" can speak for (or against) a product differently from a and b apart.
//! Features `A = [X, Z]`; each product `k` is predicted by a ridge regression of `X_k` on
//! every feature except `S_k = {k} ∪ {pairs containing k}` (which would give the target away).
//!
//! Closed form: with `K = AᵀWA + Λ` (W: row weights, Λ: λ on the products' diagonal, λ_pair on
//! the pairs') and `Q = K⁻¹`, the restricted solution is
//! `β_F = −Q_(F,S_k) (Q_(S_k,S_k))⁻¹ e_k` on `F` = all features outside `S_k` (0 on `S_k`),
//! because `X_k = A e_k`. For `S_k = {k}` it is EASE's `−Q_ik / Q_kk`. Each product costs one
//! `|S_k| × |S_k|` solve after the one inverse.
//!
//! Row weights `W_r ∝ |row r|^−row_power` (mean 1) keep large baskets, whose many
//! co-occurrences would otherwise dominate the Gram matrix, from drowning the small ones.
//!
//! A history `h` (product, strength) scores `Σ_f β_f · a_f(h)` with `a` its products'
//! strengths and the pairs' products of strengths. Dense in `items + pairs`, so capped like
//! EASE ([`HoEaseConfig::max_features`]).

use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use crate::matrix::Csr;
use crate::scorer::{keep_strongest, merge_by_item, Scorer};

/// Settings of the higher-order EASE model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoEaseConfig {
    /// Pair features: the most frequent co-occurring pairs (0: EASE with row weights).
    pub pairs: usize,
    /// L2 regularisation on the products' weights (in units of an average row's weight).
    pub lambda: f64,
    /// L2 regularisation on the pairs' weights.
    pub pair_lambda: f64,
    /// Row weight `|row|^−row_power`, normalised to mean 1 (0: every row counts the same).
    pub row_power: f64,
    /// Products + pairs above this are not trained: products beyond it are not trained at all,
    /// pairs are cut to fit. The Gram matrix and its inverse take 16·features² bytes.
    pub max_features: usize,
    /// Weights kept per feature, the largest in magnitude (0 keeps all).
    pub keep: usize,
}

impl Default for HoEaseConfig {
    /// Chosen on Groceries' validation queries (four folds, none of them the test's); see
    /// docs/BENCHMARKS.md.
    fn default() -> Self {
        Self {
            pairs: 2_000,
            lambda: 100.0,
            pair_lambda: 100.0,
            row_power: 1.0,
            max_features: 6_000,
            keep: crate::ease::KEEP,
        }
    }
}

/// The trained weights; see the module documentation.
#[derive(Debug, Clone)]
pub struct HoEase {
    items: usize,
    /// Pair `p` is feature `items + p`: products `(a, b)`, `a < b`.
    pairs: Vec<(u32, u32)>,
    /// Per product `a`: its partners `b > a` and their pair index, by partner.
    partners: Vec<Vec<(u32, u32)>>,
    /// Weights by feature row, sparse: row `f` (entries `offsets[f]..offsets[f + 1]`) holds
    /// how much feature `f` speaks for each product it keeps.
    offsets: Vec<usize>,
    products: Vec<u32>,
    weights: Vec<f32>,
    seen: Vec<bool>,
}

/// The `count` pairs of products that meet in the most rows (at least one), most frequent
/// first, ties by the lower pair.
pub fn frequent_pairs(matrix: &Csr, count: usize) -> Vec<(u32, u32)> {
    let n = matrix.cols();
    if count == 0 || n < 2 {
        return Vec::new();
    }
    let mut meets = vec![0u32; n * n];
    for r in 0..matrix.rows() {
        let (cols, _) = matrix.row(r);
        for (i, &a) in cols.iter().enumerate() {
            for &b in &cols[i + 1..] {
                meets[a as usize * n + b as usize] += 1;
            }
        }
    }
    let mut pairs: Vec<(u32, u32, u32)> = (0..n)
        .flat_map(|a| ((a + 1)..n).map(move |b| (a, b)))
        .filter_map(|(a, b)| {
            let c = meets[a * n + b];
            (c > 0).then_some((c, a as u32, b as u32))
        })
        .collect();
    pairs.sort_unstable_by(|x, y| y.0.cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    pairs.truncate(count);
    pairs.into_iter().map(|(_, a, b)| (a, b)).collect()
}

/// Per product `a`: (partner `b > a`, pair index), by partner.
fn partner_lists(items: usize, pairs: &[(u32, u32)]) -> Vec<Vec<(u32, u32)>> {
    let mut partners = vec![Vec::new(); items];
    for (p, &(a, b)) in pairs.iter().enumerate() {
        partners[a as usize].push((b, p as u32));
    }
    for list in &mut partners {
        list.sort_unstable();
    }
    partners
}

/// The features of one row: (feature, value), products first (ascending, as given), then the
/// active pairs. `cols` must be sorted.
fn row_features(items: usize, partners: &[Vec<(u32, u32)>], cols: &[u32], vals: &[f32], out: &mut Vec<(usize, f64)>) {
    out.clear();
    out.extend(cols.iter().zip(vals).map(|(&c, &v)| (c as usize, f64::from(v))));
    for (i, &a) in cols.iter().enumerate() {
        let Some(list) = partners.get(a as usize) else { continue };
        for &(b, p) in list {
            if let Ok(j) = cols[i + 1..].binary_search(&b) {
                out.push((items + p as usize, f64::from(vals[i]) * f64::from(vals[i + 1 + j])));
            }
        }
    }
}

impl HoEase {
    /// Fits the model on `matrix` (rows: baskets or customers; columns: products). None when
    /// there are more products than `config.max_features`, the matrix is empty, or a λ is not
    /// positive.
    pub fn train(matrix: &Csr, config: &HoEaseConfig) -> Option<Self> {
        let n = matrix.cols();
        let lambdas_ok = config.lambda > 0.0 && config.pair_lambda > 0.0;
        if n == 0 || n > config.max_features || !lambdas_ok || !config.row_power.is_finite() {
            return None;
        }
        let pairs = frequent_pairs(matrix, config.pairs.min(config.max_features - n));
        let partners = partner_lists(n, &pairs);
        let features = n + pairs.len();
        let mut seen = vec![false; n];
        let raw: Vec<f64> = (0..matrix.rows())
            .map(|r| {
                let size = matrix.row(r).0.len();
                if size == 0 {
                    0.0
                } else {
                    (size as f64).powf(-config.row_power)
                }
            })
            .collect();
        let nonempty = raw.iter().filter(|&&w| w > 0.0).count();
        if nonempty == 0 {
            return None;
        }
        let mean = raw.iter().sum::<f64>() / nonempty as f64;
        // K = AᵀWA + Λ, accumulated on the lower triangle.
        let mut k = Mat::<f64>::zeros(features, features);
        let mut row = Vec::new();
        for (r, &w) in raw.iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            let w = w / mean;
            let (cols, vals) = matrix.row(r);
            for &c in cols {
                seen[c as usize] = true;
            }
            row_features(n, &partners, cols, vals, &mut row);
            for &(f, vf) in &row {
                for &(g, vg) in &row {
                    if g <= f {
                        k[(f, g)] += w * vf * vg;
                    }
                }
            }
        }
        for f in 0..features {
            for g in 0..f {
                k[(g, f)] = k[(f, g)];
            }
            k[(f, f)] += if f < n { config.lambda } else { config.pair_lambda };
        }
        let q = k.llt(Side::Lower).ok()?.inverse();
        drop(k);
        // Per product k: S_k = {k} ∪ its pairs; β_F = −Q_(F,S) Q_(S,S)⁻¹ e_k.
        let mut member: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        for (p, &(a, b)) in pairs.iter().enumerate() {
            member[a as usize].push(n + p);
            member[b as usize].push(n + p);
        }
        let mut beta = vec![0f32; features * n];
        let mut column = vec![0f64; features];
        for (target, s) in member.iter().enumerate() {
            let q_ss = Mat::<f64>::from_fn(s.len(), s.len(), |i, j| q[(s[i], s[j])]);
            let e = Mat::<f64>::from_fn(s.len(), 1, |i, _| if i == 0 { 1.0 } else { 0.0 });
            let y = q_ss.llt(Side::Lower).ok()?.solve(&e);
            column.fill(0.0);
            for (i, &sf) in s.iter().enumerate() {
                let yi = y[(i, 0)];
                for (c, &qf) in column.iter_mut().zip(q.col(sf).iter()) {
                    *c -= qf * yi;
                }
            }
            for (f, &c) in column.iter().enumerate() {
                beta[f * n + target] = c as f32;
            }
            for &sf in s {
                beta[sf * n + target] = 0.0;
            }
        }
        drop(q);
        let keep = if config.keep == 0 { n } else { config.keep.min(n) };
        let mut offsets = Vec::with_capacity(features + 1);
        let mut products = Vec::new();
        let mut weights = Vec::new();
        let mut kept: Vec<(u32, f32)> = Vec::with_capacity(n);
        offsets.push(0);
        for f in 0..features {
            kept.clear();
            kept.extend(
                beta[f * n..(f + 1) * n]
                    .iter()
                    .enumerate()
                    .filter(|&(_, &w)| w != 0.0)
                    .map(|(j, &w)| (j as u32, w)),
            );
            keep_strongest(&mut kept, keep);
            products.extend(kept.iter().map(|&(j, _)| j));
            weights.extend(kept.iter().map(|&(_, w)| w));
            offsets.push(products.len());
        }
        Some(Self {
            items: n,
            pairs,
            partners,
            offsets,
            products,
            weights,
            seen,
        })
    }

    /// The pair features, (a, b) with a < b, most frequent first.
    pub fn pairs(&self) -> &[(u32, u32)] {
        &self.pairs
    }

    fn feature_row(&self, f: usize) -> (&[u32], &[f32]) {
        let range = self.offsets[f]..self.offsets[f + 1];
        (&self.products[range.clone()], &self.weights[range])
    }

    /// The learned weight of feature `feature` (a product below `items`, then the pairs in
    /// [`HoEase::pairs`] order) towards product `to`.
    pub fn weight(&self, feature: usize, to: u32) -> f32 {
        if feature + 1 >= self.offsets.len() {
            return 0.0;
        }
        let (products, weights) = self.feature_row(feature);
        products.binary_search(&to).map_or(0.0, |k| weights[k])
    }

    fn add_row(&self, f: usize, value: f32, scores: &mut [f32]) {
        let (products, weights) = self.feature_row(f);
        for (&j, &w) in products.iter().zip(weights) {
            if let Some(s) = scores.get_mut(j as usize) {
                *s += value * w;
            }
        }
    }
}

impl Scorer for HoEase {
    fn name(&self) -> &str {
        "hoease"
    }

    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        scores.fill(0.0);
        // The history's known products, by product, strengths of repeats summed.
        let known = merge_by_item(
            history
                .iter()
                .copied()
                .filter(|&(i, _)| (i as usize) < self.items)
                .collect(),
        );
        for (i, &(a, sa)) in known.iter().enumerate() {
            self.add_row(a as usize, sa, scores);
            let later = &known[i + 1..];
            for &(b, p) in &self.partners[a as usize] {
                if let Ok(j) = later.binary_search_by_key(&b, |&(x, _)| x) {
                    self.add_row(self.items + p as usize, sa * later[j].1, scores);
                }
            }
        }
        let n = self.seen.len().min(scores.len());
        for (s, &seen) in scores[..n].iter_mut().zip(&self.seen) {
            *s = if seen { *s } else { f32::NEG_INFINITY };
        }
        scores[n..].fill(f32::NEG_INFINITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ease::{Ease, EaseConfig};
    use rand::{Rng, SeedableRng};

    fn random_matrix(rows: usize, cols: usize, density: f64, seed: u64) -> Csr {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut triples = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                if rng.gen_bool(density) {
                    triples.push((r as u32, c as u32, 1.0));
                }
            }
        }
        Csr::from_triples(rows, cols, &triples)
    }

    fn dense_features(m: &Csr, pairs: &[(u32, u32)]) -> Mat<f64> {
        let n = m.cols();
        let mut a = Mat::<f64>::zeros(m.rows(), n + pairs.len());
        for r in 0..m.rows() {
            let (cols, vals) = m.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                a[(r, c as usize)] = f64::from(v);
            }
            for (p, &(x, y)) in pairs.iter().enumerate() {
                a[(r, n + p)] = a[(r, x as usize)] * a[(r, y as usize)];
            }
        }
        a
    }

    #[test]
    fn closed_form_equals_a_direct_restricted_ridge_solve() {
        let m = random_matrix(80, 7, 0.4, 3);
        let config = HoEaseConfig {
            pairs: 8,
            lambda: 2.0,
            pair_lambda: 5.0,
            row_power: 0.5,
            keep: 0,
            ..Default::default()
        };
        let model = HoEase::train(&m, &config).expect("trained");
        let pairs = model.pairs().to_vec();
        assert_eq!(pairs.len(), 8);
        let n = m.cols();
        let a = dense_features(&m, &pairs);
        let sizes: Vec<f64> = (0..m.rows()).map(|r| m.row(r).0.len() as f64).collect();
        let raw: Vec<f64> = sizes
            .iter()
            .map(|&s| if s > 0.0 { s.powf(-0.5) } else { 0.0 })
            .collect();
        let mean = raw.iter().sum::<f64>() / sizes.iter().filter(|&&s| s > 0.0).count() as f64;
        for k in 0..n {
            // F: products other than k and pairs without k.
            let f: Vec<usize> = (0..n + pairs.len())
                .filter(|&f| f != k && (f < n || (pairs[f - n].0 as usize != k && pairs[f - n].1 as usize != k)))
                .collect();
            let lhs = Mat::<f64>::from_fn(f.len(), f.len(), |i, j| {
                let diag = if i == j {
                    if f[i] < n {
                        2.0
                    } else {
                        5.0
                    }
                } else {
                    0.0
                };
                (0..m.rows())
                    .map(|r| raw[r] / mean * a[(r, f[i])] * a[(r, f[j])])
                    .sum::<f64>()
                    + diag
            });
            let rhs = Mat::<f64>::from_fn(f.len(), 1, |i, _| {
                (0..m.rows()).map(|r| raw[r] / mean * a[(r, f[i])] * a[(r, k)]).sum()
            });
            let beta = lhs.llt(Side::Lower).expect("SPD").solve(&rhs);
            for (i, &feature) in f.iter().enumerate() {
                let got = f64::from(model.weight(feature, k as u32));
                assert!(
                    (got - beta[(i, 0)]).abs() < 1e-5,
                    "feature {feature} → {k}: {got} vs {}",
                    beta[(i, 0)]
                );
            }
            assert_eq!(model.weight(k, k as u32), 0.0);
            for (p, &(x, y)) in pairs.iter().enumerate() {
                if x as usize == k || y as usize == k {
                    assert_eq!(model.weight(n + p, k as u32), 0.0, "pair {p} holds {k}");
                }
            }
        }
    }

    #[test]
    fn without_pairs_or_row_weights_it_is_ease() {
        let m = random_matrix(60, 6, 0.5, 9);
        let ho = HoEase::train(
            &m,
            &HoEaseConfig {
                pairs: 0,
                lambda: 3.0,
                row_power: 0.0,
                ..Default::default()
            },
        )
        .expect("trained");
        let ease = Ease::train(
            &m,
            &EaseConfig {
                lambda: 3.0,
                ..Default::default()
            },
        )
        .expect("trained");
        for from in 0..6u32 {
            for to in 0..6u32 {
                assert!((ho.weight(from as usize, to) - ease.weight(from, to)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn pair_features_are_the_most_frequent_pairs_and_fire_only_together() {
        // 0+1 meet three times, 2+3 twice, 0+2 once.
        let rows: &[&[u32]] = &[&[0, 1], &[0, 1, 4], &[0, 1], &[2, 3], &[2, 3], &[0, 2]];
        let triples: Vec<(u32, u32, f32)> = rows
            .iter()
            .enumerate()
            .flat_map(|(r, items)| items.iter().map(move |&i| (r as u32, i, 1.0)))
            .collect();
        let m = Csr::from_triples(rows.len(), 5, &triples);
        assert_eq!(frequent_pairs(&m, 2), vec![(0, 1), (2, 3)]);
        assert_eq!(frequent_pairs(&m, 10).len(), 5, "(0,1) (2,3) (0,2) (0,4) (1,4)");
        let model = HoEase::train(
            &m,
            &HoEaseConfig {
                pairs: 2,
                lambda: 0.5,
                pair_lambda: 0.5,
                keep: 0,
                ..Default::default()
            },
        )
        .expect("trained");
        let score = |history: &[(u32, f32)]| {
            let mut s = vec![0.0; 5];
            model.score(None, history, &mut s);
            s
        };
        // Only 0 and 1 together switch pair feature 0 (0,1) on; in any order.
        let together = score(&[(1, 1.0), (0, 1.0)]);
        let parts = score(&[(0, 1.0)])
            .iter()
            .zip(score(&[(1, 1.0)]))
            .map(|(a, b)| a + b)
            .collect::<Vec<_>>();
        for j in 0..5u32 {
            let expected = parts[j as usize] + model.weight(5, j);
            assert!((together[j as usize] - expected).abs() < 1e-5, "{j}");
        }
        // 0 with 2 is no selected pair: just the sum.
        let apart = score(&[(0, 1.0), (2, 1.0)]);
        for j in 0..5u32 {
            let expected = model.weight(0, j) + model.weight(2, j);
            assert!((apart[j as usize] - expected).abs() < 1e-5);
        }
    }

    #[test]
    fn unseen_products_are_not_scored_and_large_catalogues_are_skipped() {
        let m = Csr::from_triples(2, 3, &[(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0)]);
        let model = HoEase::train(&m, &HoEaseConfig::default()).expect("trained");
        let mut s = vec![0.0; 3];
        model.score(None, &[(0, 1.0), (7, 1.0)], &mut s);
        assert_eq!(s[2], f32::NEG_INFINITY);
        assert!(s[1] > 0.0);
        let small = HoEaseConfig {
            max_features: 2,
            ..Default::default()
        };
        assert!(HoEase::train(&m, &small).is_none());
        // Pairs are cut to fit: 3 products + 1 pair.
        let tight = HoEaseConfig {
            max_features: 4,
            ..Default::default()
        };
        assert_eq!(HoEase::train(&m, &tight).expect("trained").pairs().len(), 1);
        assert!(HoEase::train(&Csr::from_triples(1, 2, &[]), &HoEaseConfig::default()).is_none());
    }
}
