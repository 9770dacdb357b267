//! The one interface every model offers to the evaluation and to the hybrid blend.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

/// A history merged per item, in item order, the strengths of an item's repeats summed: the
/// sums then round the same way on every call (a hash map's order would change with its seed).
pub fn merge_by_item(mut history: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    history.sort_unstable_by_key(|&(i, _)| i);
    history.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 += next.1;
        }
        same
    });
    history
}

/// Keeps the `keep` entries of a sparse row with the largest magnitude (ties: the lower index),
/// sorted by index.
pub fn keep_strongest(row: &mut Vec<(u32, f32)>, keep: usize) {
    if row.len() > keep {
        row.select_nth_unstable_by(keep.saturating_sub(1), |a, b| {
            b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0))
        });
        row.truncate(keep);
    }
    row.sort_unstable_by_key(|&(j, _)| j);
}

/// The `n` best items of `scores`, best first, skipping `f32::NEG_INFINITY` and NaN scores and
/// the items for which `exclude` returns true. Ties are broken by the lower index so results
/// are deterministic.
pub fn top_n(scores: &[f32], n: usize, exclude: impl Fn(u32) -> bool) -> Vec<Scored> {
    let mut best = TopN::new(n);
    for (item, &score) in scores.iter().enumerate() {
        let item = item as u32;
        if best.admits(score) && !exclude(item) {
            best.push(item, score);
        }
    }
    best.into_sorted()
}

/// The best `n` of the items pushed so far (a min-heap: O(log n) a push), ordered as
/// [`top_n`] orders them. Callers that score items one at a time use it to stop scoring what
/// can no longer enter.
pub struct TopN {
    n: usize,
    heap: BinaryHeap<Worst>,
}

/// Heap order: the worst entry (lowest score, then highest index) on top.
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

impl TopN {
    pub fn new(n: usize) -> Self {
        Self {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
        }
    }

    /// Whether an item scored `score` (or an item whose score is at most `score`) could still
    /// enter: false for unscored (`NEG_INFINITY`, NaN) and for anything below the current
    /// n-th best. A tie may enter (the lower index wins it).
    pub fn admits(&self, score: f32) -> bool {
        if score.is_nan() || score == f32::NEG_INFINITY || self.n == 0 {
            return false;
        }
        self.heap.len() < self.n || self.heap.peek().is_some_and(|worst| score >= worst.0.score)
    }

    /// Offers an item; it stays if it is among the best `n` so far.
    pub fn push(&mut self, item: u32, score: f32) {
        if !self.admits(score) {
            return;
        }
        let candidate = Worst(Scored { item, score });
        if self.heap.len() < self.n {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    /// The kept items, best first, ties by the lower index.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut best: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        best
    }
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

    #[test]
    fn top_n_admits_ties_and_refuses_what_cannot_enter() {
        let mut best = TopN::new(2);
        assert!(best.admits(0.1) && !best.admits(f32::NEG_INFINITY) && !best.admits(f32::NAN));
        best.push(7, 0.5);
        best.push(3, 0.9);
        assert!(!best.admits(0.4));
        assert!(best.admits(0.5), "a tie may win on the lower index");
        best.push(2, 0.5);
        best.push(9, 0.5);
        assert_eq!(
            best.into_sorted(),
            vec![Scored { item: 3, score: 0.9 }, Scored { item: 2, score: 0.5 }]
        );
        assert!(!TopN::new(0).admits(1.0));
    }
}
