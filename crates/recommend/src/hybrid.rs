//! A weighted blend of models. Each model's scores are divided by its largest finite score
//! over the catalogue before weighting, so models on different scales (cosine sums with a
//! repeat term, ALS dot products, text similarities) mix by rank strength rather than by
//! units. Items a model has no opinion on (`NEG_INFINITY`) get 0 from it.

use crate::scorer::Scorer;
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
