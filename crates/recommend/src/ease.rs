//! EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): a learned item-item model.
//! Where the cosine of [`crate::itemitem`] counts how often two products meet, EASE fits the
//! weights that best rebuild every customer's row from their other products, so products that
//! only meet because both are everywhere (milk, bread) stop dominating.
//!
//! With `G = XᵀX + λI` (X: customers × products interaction strengths) and `P = G⁻¹`, the
//! closed form is `B_ij = −P_ij / P_jj` and `B_jj = 0`; a customer with history `h` scores
//! `hᵀB`. The inverse is dense and O(items³), so the model is meant for catalogues up to some
//! thousands of products ([`EaseConfig::max_items`]); it is retrained in batch and complements
//! the item-item model, which learns each sale as it happens.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use crate::matrix::Csr;
use crate::scorer::{keep_strongest, Scorer};

/// Settings of the EASE model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EaseConfig {
    /// L2 regularisation λ added to the Gram matrix's diagonal (350: best of 50–1,000 on
    /// Groceries' validation queries; EASE's usual default is 500).
    pub lambda: f64,
    /// Dropout rate `p` of the denoising variant (DLAE, Steck 2020): each product's diagonal
    /// also gets `p / (1 − p) · G_ii`, regularising popular products more. 0: plain EASE.
    pub dropout: f64,
    /// Larger catalogues are not trained (the Gram matrix and its inverse take 16·items² bytes
    /// while training, time ∝ items³): 6,000 items take ≈ 580 MB and a few seconds on two cores.
    pub max_items: usize,
    /// Weights kept per product, the largest in magnitude (0 keeps all). The rest are tiny
    /// and cost memory (4·items² bytes dense) and time at every answer; see `KEEP` below.
    pub keep: usize,
}

impl Default for EaseConfig {
    fn default() -> Self {
        Self {
            lambda: 350.0,
            dropout: 0.0,
            max_items: 6_000,
            keep: KEEP,
        }
    }
}

/// Default of [`EaseConfig::keep`].
pub const KEEP: usize = 256;

/// The trained weights; see the module documentation.
#[derive(Debug, Clone)]
pub struct Ease {
    items: usize,
    /// `B` by rows, sparse: row `h` (entries `offsets[h]..offsets[h + 1]`) holds how much
    /// having `h` speaks for each product it keeps, by product.
    offsets: Vec<usize>,
    products: Vec<u32>,
    weights: Vec<f32>,
    /// Products present in the training matrix (the others get no score).
    seen: Vec<bool>,
}

impl Ease {
    /// Fits EASE on `matrix` (rows: customers or baskets; columns: products). None when the
    /// catalogue is larger than `config.max_items`, the matrix is empty, or λ is not positive.
    pub fn train(matrix: &Csr, config: &EaseConfig) -> Option<Self> {
        let n = matrix.cols();
        let dropout_ok = (0.0..1.0).contains(&config.dropout);
        if n == 0 || n > config.max_items || config.lambda.is_nan() || config.lambda <= 0.0 || !dropout_ok {
            return None;
        }
        let mut gram = Mat::<f64>::zeros(n, n);
        let mut seen = vec![false; n];
        for r in 0..matrix.rows() {
            let (cols, vals) = matrix.row(r);
            for (&a, &va) in cols.iter().zip(vals) {
                seen[a as usize] = true;
                for (&b, &vb) in cols.iter().zip(vals) {
                    gram[(a as usize, b as usize)] += f64::from(va) * f64::from(vb);
                }
            }
        }
        if !seen.iter().any(|&s| s) {
            return None;
        }
        let denoise = config.dropout / (1.0 - config.dropout);
        for i in 0..n {
            gram[(i, i)] += config.lambda + denoise * gram[(i, i)];
        }
        // G is symmetric positive definite (a Gram matrix plus λI), so Cholesky applies.
        let inverse = gram.llt(Side::Lower).ok()?.inverse();
        let keep = if config.keep == 0 { n } else { config.keep.min(n) };
        let mut offsets = Vec::with_capacity(n + 1);
        let mut products = Vec::with_capacity(n * keep);
        let mut weights = Vec::with_capacity(n * keep);
        let mut row: Vec<(u32, f32)> = Vec::with_capacity(n);
        offsets.push(0);
        for h in 0..n {
            row.clear();
            row.extend(
                (0..n)
                    .filter(|&j| j != h)
                    .map(|j| (j as u32, (-inverse[(h, j)] / inverse[(j, j)]) as f32))
                    .filter(|&(_, w)| w != 0.0),
            );
            keep_strongest(&mut row, keep);
            products.extend(row.iter().map(|&(j, _)| j));
            weights.extend(row.iter().map(|&(_, w)| w));
            offsets.push(products.len());
        }
        Some(Self {
            items: n,
            offsets,
            products,
            weights,
            seen,
        })
    }

    /// Row `h` of `B`: the products it speaks for, ascending, and their weights.
    fn row(&self, h: usize) -> (&[u32], &[f32]) {
        let range = self.offsets[h]..self.offsets[h + 1];
        (&self.products[range.clone()], &self.weights[range])
    }

    /// The learned weight of `from` towards `to` (0 for unknown items).
    pub fn weight(&self, from: u32, to: u32) -> f32 {
        if from as usize >= self.items {
            return 0.0;
        }
        let (products, weights) = self.row(from as usize);
        products.binary_search(&to).map_or(0.0, |k| weights[k])
    }
}

impl Scorer for Ease {
    fn name(&self) -> &str {
        "ease"
    }

    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        scores.fill(0.0);
        for &(item, strength) in history {
            if (item as usize) < self.items {
                let (products, weights) = self.row(item as usize);
                for (&j, &w) in products.iter().zip(weights) {
                    if let Some(s) = scores.get_mut(j as usize) {
                        *s += strength * w;
                    }
                }
            }
        }
        // Branch-free over slices, so that it vectorises.
        let known = self.seen.len().min(scores.len());
        for (s, &seen) in scores[..known].iter_mut().zip(&self.seen) {
            *s = if seen { *s } else { f32::NEG_INFINITY };
        }
        scores[known..].fill(f32::NEG_INFINITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[u32]], cols: usize) -> Csr {
        let triples: Vec<(u32, u32, f32)> = rows
            .iter()
            .enumerate()
            .flat_map(|(r, items)| items.iter().map(move |&i| (r as u32, i, 1.0)))
            .collect();
        Csr::from_triples(rows.len(), cols, &triples)
    }

    #[test]
    fn weights_match_the_closed_form_on_a_hand_solved_case() {
        // Two products always bought together, twice: G = [[2, 2], [2, 2]] + λI with λ = 1,
        // P = G⁻¹ = [[3, −2], [−2, 3]] / 5, so B_01 = −P_01 / P_11 = 2/3.
        let x = matrix(&[&[0, 1], &[0, 1]], 2);
        let ease = Ease::train(
            &x,
            &EaseConfig {
                lambda: 1.0,
                ..Default::default()
            },
        )
        .expect("trained");
        assert!((ease.weight(0, 1) - 2.0 / 3.0).abs() < 1e-6);
        assert!((ease.weight(1, 0) - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(ease.weight(0, 0), 0.0);
    }

    /// Product 0 is in every basket; 1 and 2 go together, 3 and 4 go together.
    fn everywhere_and_two_pairs() -> Csr {
        matrix(
            &[
                &[0, 1, 2],
                &[0, 1, 2],
                &[0, 1, 2],
                &[0, 3, 4],
                &[0, 3, 4],
                &[0, 3],
                &[0, 4],
            ],
            5,
        )
    }

    #[test]
    fn a_product_that_meets_everything_stops_dominating() {
        let x = everywhere_and_two_pairs();
        let ease = Ease::train(
            &x,
            &EaseConfig {
                lambda: 0.5,
                ..Default::default()
            },
        )
        .expect("trained");
        let mut scores = vec![0.0; 5];
        ease.score(None, &[(1, 1.0)], &mut scores);
        // 2 follows 1 better than the ubiquitous 0 does (its co-occurrence count is the same).
        assert!(scores[2] > scores[0], "{scores:?}");
        assert!(scores[2] > scores[3] && scores[2] > scores[4], "{scores:?}");
    }

    #[test]
    fn unseen_products_are_not_scored_and_large_catalogues_are_skipped() {
        let x = matrix(&[&[0, 1]], 3);
        let ease = Ease::train(&x, &EaseConfig::default()).expect("trained");
        let mut scores = vec![0.0; 3];
        ease.score(None, &[(0, 1.0)], &mut scores);
        assert_eq!(scores[2], f32::NEG_INFINITY);
        assert!(scores[1] > 0.0);
        let small = EaseConfig {
            max_items: 2,
            ..Default::default()
        };
        assert!(Ease::train(&x, &small).is_none());
        assert!(Ease::train(&Csr::from_triples(1, 2, &[]), &EaseConfig::default()).is_none());
    }

    #[test]
    fn pruning_keeps_the_largest_weights_of_each_row() {
        let x = everywhere_and_two_pairs();
        let config = |keep| EaseConfig {
            lambda: 0.5,
            keep,
            ..Default::default()
        };
        let all = Ease::train(&x, &config(0)).expect("trained");
        let two = Ease::train(&x, &config(2)).expect("trained");
        for from in 0..5u32 {
            let mut row: Vec<(u32, f32)> = (0..5)
                .filter(|&to| to != from)
                .map(|to| (to, all.weight(from, to)))
                .collect();
            row.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            for (rank, &(to, w)) in row.iter().enumerate() {
                let expected = if rank < 2 { w } else { 0.0 };
                assert_eq!(two.weight(from, to), expected, "{from} → {to}");
            }
            assert_eq!(two.row(from as usize).0.len(), 2);
        }
        // Scores sum the kept weights only.
        let mut scores = vec![0.0; 5];
        two.score(None, &[(1, 2.0), (3, 1.0)], &mut scores);
        for (j, s) in scores.iter().enumerate() {
            let expected = 2.0 * two.weight(1, j as u32) + two.weight(3, j as u32);
            assert!((s - expected).abs() < 1e-6, "{j}: {s} vs {expected}");
        }
    }
}
