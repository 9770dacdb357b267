//! A weighted blend of models. Each model's scores are divided by its largest finite score
//! over the catalogue before weighting, so models on different scales (cosine sums with a
//! repeat term, ALS dot products, text similarities) mix by rank strength rather than by
//! units. Items a model has no opinion on (`NEG_INFINITY`) get 0 from it.

use crate::scorer::{Scored, Scorer, TopN};
use crate::shortlist::Shortlist;
use crate::simd::max_finite;

pub struct Hybrid {
    parts: Vec<(Box<dyn Scorer>, f32)>,
    name: String,
}

impl Hybrid {
    pub fn new(name: impl Into<String>, parts: Vec<(Box<dyn Scorer>, f32)>) -> Self {
        Self {
            parts,
            name: name.into(),
        }
    }

    /// Which part contributed most to `item`'s blended score (index into the parts), with the
    /// normalised contributions of every part; None when no part scores it.
    pub fn contributions(&self, user: Option<u32>, history: &[(u32, f32)], items: usize, item: u32) -> Vec<f32> {
        let mut buffer = vec![0f32; items];
        self.parts
            .iter()
            .map(|(model, weight)| {
                model.score(user, history, &mut buffer);
                let max = max_finite(&buffer);
                let s = buffer.get(item as usize).copied().unwrap_or(f32::NEG_INFINITY);
                if s.is_finite() && max > 0.0 {
                    weight * s / max
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// `total += weight · part / max(part)`; items the part has no opinion on (not finite) get
/// nothing from it. False, and nothing added, when the part has no positive score.
pub(crate) fn add_normalised(total: &mut [f32], part: &[f32], weight: f32) -> bool {
    let max = max_finite(part);
    if max <= 0.0 {
        return false;
    }
    let scale = weight / max;
    // Branch-free so that it vectorises.
    for (t, p) in total.iter_mut().zip(part) {
        *t += if p.is_finite() { scale * p } else { 0.0 };
    }
    true
}

/// The best `n` items of `(fixed + scale·part) + after` (the blend's order of additions, so
/// every score is bit for bit the dense blend's) without evaluating `part` everywhere: `part`
/// is known for the `shortlist` items, is at most `shortlist.bound_of_the_rest()` for every
/// other item below `known`, and counts 0 from `known` on (products the part's model never
/// saw). Every other item's upper bound is compared with the current n-th best score, and
/// `part_of` computes `part` only for the items whose bound can still enter, best bound
/// first: an exact top-n that evaluates a few dozen items instead of the whole catalogue.
#[allow(clippy::too_many_arguments)]
pub(crate) fn top_with_bounded_part(
    fixed: &[f32],
    after: &[f32],
    scale: f32,
    shortlist: Shortlist<'_>,
    known: usize,
    n: usize,
    exclude: impl Fn(u32) -> bool,
    part_of: impl Fn(u32) -> f32,
) -> Vec<Scored> {
    let blended = |j: usize, part: f32| {
        let contribution = if part.is_finite() { scale * part } else { 0.0 };
        (fixed[j] + contribution) + after[j]
    };
    let mut best = TopN::new(n);
    let mut settled = vec![false; fixed.len()];
    for (&j, &part) in shortlist.items.iter().zip(shortlist.scores) {
        if let Some(done) = settled.get_mut(j as usize) {
            *done = true;
            if !exclude(j) {
                best.push(j, blended(j as usize, part));
            }
        }
    }
    let bound = shortlist.bound_of_the_rest();
    let mut open: Vec<(u32, f32)> = Vec::new();
    // Most items fail the first test (their bound is below the shortlist's n-th best): the
    // loop stays cheap and branch-predictable; the rest are checked in full.
    for (j, upper) in (0..fixed.len()).map(|j| (j, blended(j, bound))) {
        if !best.admits(upper) || settled[j] || exclude(j as u32) {
            continue;
        }
        if j >= known {
            best.push(j as u32, blended(j, 0.0));
        } else {
            open.push((j as u32, upper));
        }
    }
    open.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (j, upper) in open {
        if !best.admits(upper) {
            break;
        }
        best.push(j, blended(j as usize, part_of(j)));
    }
    best.into_sorted()
}

impl Scorer for Hybrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        let mut any = vec![false; scores.len()];
        let mut total = vec![0f32; scores.len()];
        let mut buffer = vec![0f32; scores.len()];
        for (model, weight) in &self.parts {
            model.score(user, history, &mut buffer);
            if add_normalised(&mut total, &buffer, *weight) {
                for (a, s) in any.iter_mut().zip(&buffer) {
                    *a |= s.is_finite();
                }
            }
        }
        for ((out, t), a) in scores.iter_mut().zip(&total).zip(&any) {
            *out = if *a { *t } else { f32::NEG_INFINITY };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<f32>);

    impl Scorer for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn score(&self, _: Option<u32>, _: &[(u32, f32)], scores: &mut [f32]) {
            scores.copy_from_slice(&self.0);
        }
    }

    #[test]
    fn parts_are_normalised_then_weighted() {
        let hybrid = Hybrid::new(
            "h",
            vec![
                (Box::new(Fixed(vec![10.0, 5.0, f32::NEG_INFINITY])), 1.0),
                (Box::new(Fixed(vec![0.1, 0.4, f32::NEG_INFINITY])), 0.5),
            ],
        );
        let mut scores = vec![0.0; 3];
        hybrid.score(None, &[], &mut scores);
        // item 0: 1.0 + 0.5·0.25; item 1: 0.5 + 0.5·1.0; item 2: nobody.
        assert_eq!(scores, vec![1.125, 1.0, f32::NEG_INFINITY]);
        assert_eq!(hybrid.contributions(None, &[], 3, 1), vec![0.5, 0.5]);
        assert_eq!(hybrid.contributions(None, &[], 3, 0), vec![1.0, 0.125]);
    }
}
