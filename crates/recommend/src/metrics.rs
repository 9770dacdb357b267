//! Top-k ranking metrics with binary relevance.
//!
//! For one user with ranked list `r_1..r_k` and relevant set `R` (`|R| > 0`):
//! - precision@k = hits / k;
//! - recall@k = hits / |R|;
//! - NDCG@k = Σ_{p: r_p ∈ R} 1/log2(p+1) / Σ_{p=1..min(k,|R|)} 1/log2(p+1);
//! - AP@k = Σ_{p: r_p ∈ R} precision@p / min(k, |R|) (MAP@k is its mean);
//! - hit rate@k = 1 when at least one hit.
//!
//! Every metric is averaged over users; catalogue coverage is the share of the catalogue that
//! appears in at least one user's list.

use std::collections::HashSet;

use serde::Serialize;

/// One user's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UserMetrics {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub ap: f64,
    pub hit: f64,
}

/// Metrics of `ranked` (best first, truncated to `k`) against the `relevant` items;
/// `relevant_total` is `|R|` (it may exceed `relevant.len()` when some relevant items cannot be
/// ranked at all, e.g. products first sold after the split).
pub fn user_metrics(ranked: &[u32], relevant: &HashSet<u32>, relevant_total: usize, k: usize) -> UserMetrics {
    if relevant_total == 0 || k == 0 {
        return UserMetrics::default();
    }
    let mut hits = 0usize;
    let (mut dcg, mut ap) = (0.0, 0.0);
    for (p, item) in ranked.iter().take(k).enumerate() {
        if relevant.contains(item) {
            hits += 1;
            dcg += 1.0 / ((p + 2) as f64).log2();
            ap += hits as f64 / (p + 1) as f64;
        }
    }
    let ideal = k.min(relevant_total);
    let idcg: f64 = (0..ideal).map(|p| 1.0 / ((p + 2) as f64).log2()).sum();
    UserMetrics {
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant_total as f64,
        ndcg: dcg / idcg,
        ap: ap / ideal as f64,
        hit: if hits > 0 { 1.0 } else { 0.0 },
    }
}

/// Averages over users, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Metrics {
    #[serde(rename = "precision@10")]
    pub precision: f64,
    #[serde(rename = "recall@10")]
    pub recall: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg: f64,
    #[serde(rename = "map@10")]
    pub map: f64,
    #[serde(rename = "hit_rate@10")]
    pub hit_rate: f64,
    pub coverage: f64,
    pub users: usize,
}

/// Sums user metrics and the recommended items.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    sum: UserMetrics,
    users: usize,
    recommended: HashSet<u32>,
}

impl Accumulator {
    pub fn add(&mut self, ranked: &[u32], m: UserMetrics) {
        self.sum.precision += m.precision;
        self.sum.recall += m.recall;
        self.sum.ndcg += m.ndcg;
        self.sum.ap += m.ap;
        self.sum.hit += m.hit;
        self.users += 1;
        self.recommended.extend(ranked.iter().copied());
    }

    pub fn merge(mut self, other: Self) -> Self {
        self.sum.precision += other.sum.precision;
        self.sum.recall += other.sum.recall;
        self.sum.ndcg += other.sum.ndcg;
        self.sum.ap += other.sum.ap;
        self.sum.hit += other.sum.hit;
        self.users += other.users;
        self.recommended.extend(other.recommended);
        self
    }

    /// The averages; `catalogue` = number of rankable items (for coverage).
    pub fn finish(&self, catalogue: usize) -> Metrics {
        let n = self.users.max(1) as f64;
        Metrics {
            precision: self.sum.precision / n,
            recall: self.sum.recall / n,
            ndcg: self.sum.ndcg / n,
            map: self.sum.ap / n,
            hit_rate: self.sum.hit / n,
            coverage: self.recommended.len() as f64 / catalogue.max(1) as f64,
            users: self.users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u32]) -> HashSet<u32> {
        items.iter().copied().collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_values() {
        // Ranked [5, 1, 7, 2], relevant {1, 2, 9}, k = 4: hits at positions 2 and 4.
        let m = user_metrics(&[5, 1, 7, 2], &set(&[1, 2, 9]), 3, 4);
        assert!(close(m.precision, 0.5));
        assert!(close(m.recall, 2.0 / 3.0));
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/2.
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(m.ndcg, dcg / idcg));
        // AP = (1/2 + 2/4) / min(4, 3) = 1/3.
        assert!(close(m.ap, 1.0 / 3.0));
        assert_eq!(m.hit, 1.0);
    }

    #[test]
    fn perfect_and_empty_lists() {
        let m = user_metrics(&[3, 4], &set(&[3, 4]), 2, 10);
        assert!(close(m.ndcg, 1.0) && close(m.ap, 1.0) && close(m.recall, 1.0));
        assert!(close(m.precision, 0.2));
        let none = user_metrics(&[1, 2], &set(&[3]), 1, 10);
        assert_eq!(none, UserMetrics { ..Default::default() });
        // A relevant item that cannot be ranked still counts in |R|.
        let unseen = user_metrics(&[3], &set(&[3]), 2, 10);
        assert!(close(unseen.recall, 0.5));
        assert!(close(unseen.ndcg, 1.0 / (1.0 + 1.0 / 3f64.log2())));
    }

    #[test]
    fn averages_and_coverage() {
        let mut acc = Accumulator::default();
        let a = [1, 2];
        acc.add(&a, user_metrics(&a, &set(&[1]), 1, 2));
        let b = [2, 3];
        acc.add(&b, user_metrics(&b, &set(&[9]), 1, 2));
        let m = acc.finish(6);
        assert!(close(m.hit_rate, 0.5));
        assert!(close(m.precision, 0.25));
        assert!(close(m.ndcg, 0.5));
        assert!(close(m.coverage, 0.5)); // {1, 2, 3} of 6
        assert_eq!(m.users, 2);
    }
}
