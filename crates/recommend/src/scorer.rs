//! The one interface every model offers to the evaluation and to the hybrid blend.

/// An item with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub item: u32,
    pub score: f32,
}

/// A model that scores every catalogue item for one user.
pub trait Scorer: Send + Sync {
    /// Short name used in evaluation tables ("item-item", "als", "content", "hybrid", ...).
    fn name(&self) -> &str;

    /// Writes a score for every item into `scores` (`scores.len()` = number of items the model
    /// knows; higher is better). `user` is the user's dense index when the model was trained
    /// with it (None for an unknown user or an anonymous basket); `history` is the user's
    /// past interactions as (item index, strength), oldest first, which models that can fold
    /// a user in use instead of (or besides) a trained user factor. Items the model has no
    /// opinion on get `f32::NEG_INFINITY`.
    fn score(&self, user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]);
}

/// The `n` best items of `scores`, best first, skipping `f32::NEG_INFINITY` and NaN scores and
/// the items for which `exclude` returns true. Ties are broken by the lower index so results
/// are deterministic.
pub fn top_n(scores: &[f32], n: usize, exclude: impl Fn(u32) -> bool) -> Vec<Scored> {
    use std::cmp::Ordering;
    use std::collections::BinaryHeap;

    // A min-heap of the best n so far: O(items · log n).
    #[derive(PartialEq)]
    struct Worst(Scored);
    impl Eq for Worst {}
    impl Ord for Worst {
        fn cmp(&self, other: &Self) -> Ordering {
            other
                .0
                .score
                .total_cmp(&self.0.score)
                .then(self.0.item.cmp(&other.0.item))
        }
    }
    impl PartialOrd for Worst {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    if n == 0 {
        return Vec::new();
    }
    let mut heap = BinaryHeap::with_capacity(n + 1);
    for (item, &score) in scores.iter().enumerate() {
        if score.is_nan() || score == f32::NEG_INFINITY {
            continue;
        }
        let item = item as u32;
        if exclude(item) {
            continue;
        }
        let candidate = Worst(Scored { item, score });
        if heap.len() < n {
            heap.push(candidate);
        } else if heap.peek().is_some_and(|worst| candidate < *worst) {
            heap.pop();
            heap.push(candidate);
        }
    }
    let mut best: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_orders_best_first_and_skips_excluded_and_unscored() {
        let scores = [0.5, f32::NEG_INFINITY, 0.9, 0.5, f32::NAN, 0.7];
        let best = top_n(&scores, 3, |i| i == 5);
        let items: Vec<u32> = best.iter().map(|s| s.item).collect();
        assert_eq!(items, vec![2, 0, 3]);
        assert!(top_n(&scores, 0, |_| false).is_empty());
        assert_eq!(top_n(&scores, 10, |_| false).len(), 4);
    }
}
