//! Each trained user's best `m` products by ALS score, kept from training. With it a served
//! hybrid answer scores by ALS only the products that can still reach its top (see
//! [`crate::hybrid::top_with_bounded_part`]) instead of the whole catalogue: scoring every
//! product is ~100 multiply-adds each and was a fifth of a hybrid answer's time. A user's
//! factor is fixed until their next event (then they are folded in afresh and scored in
//! full), so the list stays exact for as long as it is used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::als::Als;
use crate::scorer::top_n;

#[derive(Debug, Clone, Default)]
pub struct AlsShortlist {
    /// Entries per user.
    m: usize,
    /// User-major, each user's `m` best first; short lists (a user with fewer finite scores)
    /// are padded with `NEG_INFINITY` scores.
    items: Vec<u32>,
    scores: Vec<f32>,
}

/// One user's best products by ALS, best first.
#[derive(Debug, Clone, Copy)]
pub struct Shortlist<'a> {
    pub items: &'a [u32],
    pub scores: &'a [f32],
}

impl Shortlist<'_> {
    /// An upper bound of the ALS score of every product the list leaves out. 0 is part of
    /// it: a product ALS cannot score (unseen at training) counts 0 in the blend.
    pub fn bound_of_the_rest(&self) -> f32 {
        self.scores
            .last()
            .copied()
            .filter(|s| s.is_finite())
            .unwrap_or(0.0)
            .max(0.0)
    }

    /// The best ALS score of any product (the blend's normaliser), NEG_INFINITY when none.
    pub fn best(&self) -> f32 {
        self.scores.first().copied().unwrap_or(f32::NEG_INFINITY)
    }
}

impl AlsShortlist {
    /// Every trained user's `m` best products (`m` is capped at the model's products; 0 keeps
    /// nothing). Users are scored in parallel.
    pub fn build(als: &Als, m: usize) -> Self {
        let m = m.min(als.items());
        if m == 0 || als.users() == 0 {
            return Self::default();
        }
        let mut items = vec![0u32; als.users() * m];
        let mut scores = vec![f32::NEG_INFINITY; als.users() * m];
        items
            .par_chunks_mut(m)
            .zip(scores.par_chunks_mut(m))
            .enumerate()
            .for_each_init(
                || vec![0f32; als.items()],
                |buffer, (user, (items, scores))| {
                    if let Some(x) = als.user_factor(user as u32) {
                        best_into(als, x, buffer, items, scores);
                    }
                },
            );
        Self { m, items, scores }
    }

    /// The list of trained user `user`; None for a user beyond the model or an empty list.
    ///
    /// (Lists hold only finite scores first; `of` stops at the first padding entry.)
    pub fn of(&self, user: u32) -> Option<Shortlist<'_>> {
        let range = user as usize * self.m..(user as usize + 1) * self.m;
        let scores = self.scores.get(range.clone())?;
        let kept = scores.iter().take_while(|s| s.is_finite()).count();
        (kept > 0).then(|| Shortlist {
            items: &self.items[range.start..range.start + kept],
            scores: &scores[..kept],
        })
    }
}

/// Writes the best `items.len()` products for factor `x` (scores in `buffer`, one per product).
fn best_into(als: &Als, x: &[f32], buffer: &mut [f32], items: &mut [u32], scores: &mut [f32]) {
    als.score_factor(x, buffer);
    for (k, best) in top_n(buffer, items.len(), |_| false).into_iter().enumerate() {
        items[k] = best.item;
        scores[k] = best.score;
    }
}

/// A customer folded in since training: their factor and best products by ALS, valid while
/// they have `events` events (their next event folds them in again).
#[derive(Debug)]
pub(crate) struct Folded {
    pub events: usize,
    pub x: Vec<f32>,
    items: Vec<u32>,
    scores: Vec<f32>,
}

impl Folded {
    pub fn new(als: &Als, x: Vec<f32>, events: usize, m: usize) -> Self {
        let m = m.min(als.items());
        let (mut items, mut scores) = (vec![0u32; m], vec![f32::NEG_INFINITY; m]);
        if m > 0 {
            best_into(als, &x, &mut vec![0f32; als.items()], &mut items, &mut scores);
        }
        let kept = scores.iter().take_while(|s| s.is_finite()).count();
        items.truncate(kept);
        scores.truncate(kept);
        Self {
            events,
            x,
            items,
            scores,
        }
    }

    pub fn shortlist(&self) -> Option<Shortlist<'_>> {
        (!self.items.is_empty()).then_some(Shortlist {
            items: &self.items,
            scores: &self.scores,
        })
    }
}

/// The customers folded in since training, so that their answers after the first one cost
/// what a trained customer's do. Derived data: a clone of the engine starts empty.
#[derive(Default)]
pub(crate) struct FoldedUsers(Mutex<HashMap<String, Arc<Folded>>>);

/// Customers kept at most; past it the cache starts over.
const FOLDED_USERS: usize = 65_536;

impl FoldedUsers {
    /// The customer's entry if it was made at `events` events.
    pub fn get(&self, user: &str, events: usize) -> Option<Arc<Folded>> {
        let map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(user).filter(|f| f.events == events).cloned()
    }

    pub fn put(&self, user: &str, folded: Arc<Folded>) {
        let mut map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= FOLDED_USERS && !map.contains_key(user) {
            map.clear();
        }
        map.insert(user.to_string(), folded);
    }
}

impl Clone for FoldedUsers {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for FoldedUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FoldedUsers")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::AlsConfig;
    use crate::matrix::Csr;

    #[test]
    fn each_list_holds_the_users_best_scores_in_order() {
        let triples: Vec<(u32, u32, f32)> = (0..6u32)
            .flat_map(|u| (0..10u32).filter(move |i| (u + i) % 3 == 0).map(move |i| (u, i, 1.0)))
            .collect();
        let matrix = Csr::from_triples(6, 10, &triples);
        let als = Als::train(
            &matrix,
            AlsConfig {
                factors: 4,
                iterations: 5,
                ..AlsConfig::default()
            },
        );
        let shortlist = AlsShortlist::build(&als, 3);
        let mut full = vec![0f32; 10];
        for user in 0..6u32 {
            als.score_factor(als.user_factor(user).unwrap(), &mut full);
            let expected = top_n(&full, 3, |_| false);
            let list = shortlist.of(user).unwrap();
            assert_eq!(list.items, expected.iter().map(|s| s.item).collect::<Vec<_>>());
            assert_eq!(list.scores, expected.iter().map(|s| s.score).collect::<Vec<_>>());
            assert!(list.best() >= list.scores[2]);
            let third = list.scores[2].max(0.0);
            for (item, score) in full.iter().enumerate() {
                if !list.items.contains(&(item as u32)) {
                    assert!(*score <= list.bound_of_the_rest() && list.bound_of_the_rest() == third);
                }
            }
        }
        assert!(shortlist.of(6).is_none());
        assert!(AlsShortlist::build(&als, 0).of(0).is_none());
    }
}
