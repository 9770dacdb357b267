//! Decayed popularity, overall and per category: the cold-start answer and the baseline every
//! other model must beat.
//!
//! `pop(i) = Σ_purchases 2^-(now - t) / half_life` (one per basket line, quantities ignored so
//! a single bulk order does not dominate). For a user, the category part ranks products by
//! `share of the user's history in the product's category × the product's share of its
//! category`, plus a small share of the overall popularity so unknown tastes still rank.

use serde::{Deserialize, Serialize};

use crate::scorer::Scorer;

const DAY: f64 = 86_400.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PopularConfig {
    pub half_life_days: f64,
    /// Weight of the overall popularity next to the category term (0..1).
    pub overall_weight: f32,
}

impl Default for PopularConfig {
    fn default() -> Self {
        Self {
            half_life_days: 30.0,
            overall_weight: 0.2,
        }
    }
}

/// Popularity scores; see the module documentation.
#[derive(Debug, Clone)]
pub struct Popular {
    /// Decayed purchases per item, normalised to the best item = 1.
    overall: Vec<f32>,
    /// Category of every item (dense category index), when known.
    category: Vec<Option<u32>>,
    /// Each item's share of its category's decayed purchases.
    in_category: Vec<f32>,
    config: PopularConfig,
    name: String,
}

impl Popular {
    /// `purchases`: (item, unix seconds); `categories[i]`: item `i`'s category (may be shorter
    /// than `items` or empty when unknown).
    pub fn train(
        items: usize,
        purchases: &[(u32, i64)],
        categories: &[Option<u32>],
        config: PopularConfig,
        now: i64,
    ) -> Self {
        let half_life = config.half_life_days.max(1e-6) * DAY;
        let mut pop = vec![0f64; items];
        for &(i, t) in purchases {
            if let Some(p) = pop.get_mut(i as usize) {
                *p += (-((now - t) as f64) / half_life).exp2();
            }
        }
        let best = pop.iter().copied().fold(0.0, f64::max);
        let overall: Vec<f32> = pop
            .iter()
            .map(|&p| if best > 0.0 { (p / best) as f32 } else { 0.0 })
            .collect();
        let category: Vec<Option<u32>> = (0..items).map(|i| categories.get(i).copied().flatten()).collect();
        let ncat = category.iter().flatten().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut total = vec![0f64; ncat];
        for (i, c) in category.iter().enumerate() {
            if let Some(c) = c {
                total[*c as usize] += pop[i];
            }
        }
        let in_category = category
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Some(c) if total[*c as usize] > 0.0 => (pop[i] / total[*c as usize]) as f32,
                _ => 0.0,
            })
            .collect();
        let name = if ncat > 0 { "popular-in-category" } else { "popular" }.to_string();
        Self {
            overall,
            category,
            in_category,
            config,
            name,
        }
    }

    /// Overall popularity of `item` (best = 1).
    pub fn overall(&self, item: u32) -> f32 {
        self.overall.get(item as usize).copied().unwrap_or(0.0)
    }
}

impl Scorer for Popular {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        // The user's taste: share of history strength per category.
        let mut taste: Vec<(u32, f32)> = Vec::new();
        let mut total = 0.0;
        for &(i, h) in history {
            if let Some(Some(c)) = self.category.get(i as usize) {
                total += h;
                match taste.iter_mut().find(|t| t.0 == *c) {
                    Some(t) => t.1 += h,
                    None => taste.push((*c, h)),
                }
            }
        }
        let w = if total > 0.0 { self.config.overall_weight } else { 1.0 };
        for (j, s) in scores.iter_mut().enumerate() {
            let mut v = w * self.overall.get(j).copied().unwrap_or(0.0);
            if total > 0.0 {
                if let Some(Some(c)) = self.category.get(j) {
                    if let Some(t) = taste.iter().find(|t| t.0 == *c) {
                        v += (1.0 - w) * (t.1 / total) * self.in_category[j];
                    }
                }
            }
            *s = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000;
    const D: i64 = 86_400;

    #[test]
    fn popularity_decays_by_half_life() {
        // Item 0: one sale today (1.0). Item 1: two sales 30 days ago (2 · 0.5 = 1.0) and one
        // 60 days ago (0.25) = 1.25. Item 2: none.
        let sales = [(0, T), (1, T - 30 * D), (1, T - 30 * D), (1, T - 60 * D)];
        let p = Popular::train(3, &sales, &[], PopularConfig::default(), T);
        assert!((p.overall(1) - 1.0).abs() < 1e-6);
        assert!((p.overall(0) - 0.8).abs() < 1e-6);
        assert_eq!(p.overall(2), 0.0);
        let mut scores = vec![0.0; 3];
        p.score(None, &[], &mut scores);
        assert_eq!(scores, vec![0.8, 1.0, 0.0]);
        assert_eq!(p.name(), "popular");
    }

    #[test]
    fn category_taste_lifts_the_user_s_categories() {
        // Items 0, 1 in category 0; item 2 in category 1 and the best seller overall.
        let sales = [(0, T), (1, T), (1, T), (2, T), (2, T), (2, T), (2, T)];
        let cats = [Some(0), Some(0), Some(1)];
        let config = PopularConfig {
            half_life_days: 30.0,
            overall_weight: 0.2,
        };
        let p = Popular::train(3, &sales, &cats, config, T);
        let mut scores = vec![0.0; 3];
        p.score(None, &[(0, 1.0)], &mut scores);
        // item 0: 0.2·0.25 + 0.8·1·(1/3); item 1: 0.2·0.5 + 0.8·(2/3); item 2: 0.2·1.
        let want = [0.05 + 0.8 / 3.0, 0.1 + 1.6 / 3.0, 0.2];
        for (s, w) in scores.iter().zip(want) {
            assert!((s - w).abs() < 1e-6, "{scores:?}");
        }
        assert_eq!(p.name(), "popular-in-category");
    }
}
