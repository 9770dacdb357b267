//! Intermittent demand: Croston (1972), the Syntetos–Boylan approximation (2005) and
//! Teunter–Syntetos–Babai (2011). In-house (a few lines each).

/// Croston's method: SES (weight `alpha`) on the non-zero demand sizes and on the intervals
/// between them; the per-period forecast is size / interval. Initial size = the first non-zero
/// demand, initial interval = its 1-based position. All zeros → 0.
pub fn croston(y: &[f64], alpha: f64) -> f64 {
    let (z, p) = croston_states(y, alpha);
    if p > 0.0 {
        z / p
    } else {
        0.0
    }
}

/// SBA: Croston times (1 − α/2), removing Croston's positive bias.
pub fn sba(y: &[f64], alpha: f64) -> f64 {
    croston(y, alpha) * (1.0 - alpha / 2.0)
}

fn croston_states(y: &[f64], alpha: f64) -> (f64, f64) {
    let mut z = 0.0;
    let mut p = 0.0;
    let mut since = 0.0;
    let mut started = false;
    for &v in y {
        since += 1.0;
        if v > 0.0 {
            if started {
                z += alpha * (v - z);
                p += alpha * (since - p);
            } else {
                z = v;
                p = since;
                started = true;
            }
            since = 0.0;
        }
    }
    (z, p)
}

/// TSB: the demand probability is smoothed every period (weight `beta`), the size only when a
/// demand occurs (weight `alpha`); forecast = probability × size.
pub fn tsb(y: &[f64], alpha: f64, beta: f64) -> f64 {
    let first = match y.iter().position(|v| *v > 0.0) {
        Some(i) => i,
        None => return 0.0,
    };
    let mut z = y[first];
    let nonzero = y.iter().filter(|v| **v > 0.0).count();
    let mut prob = nonzero as f64 / y.len() as f64;
    for &v in &y[first + 1..] {
        if v > 0.0 {
            prob += beta * (1.0 - prob);
            z += alpha * (v - z);
        } else {
            prob += beta * (0.0 - prob);
        }
    }
    prob * z
}

/// Share of zero periods; above ~0.3 (an average inter-demand interval above 1.32, Syntetos et
/// al.) a series is treated as intermittent.
pub fn zero_share(y: &[f64]) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64
}

/// Average inter-demand interval (periods per non-zero demand).
pub fn adi(y: &[f64]) -> f64 {
    let nz = y.iter().filter(|v| **v > 0.0).count();
    if nz == 0 {
        f64::INFINITY
    } else {
        y.len() as f64 / nz as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn croston_on_a_known_sequence() {
        // y = 0 0 4 0 2 0 0 6, alpha 0.5
        // first demand 4 at position 3: z = 4, p = 3
        // demand 2 after 2 periods: z = 4 + .5(2−4) = 3, p = 3 + .5(2−3) = 2.5
        // demand 6 after 3 periods: z = 3 + .5(6−3) = 4.5, p = 2.5 + .5(3−2.5) = 2.75
        let y = [0.0, 0.0, 4.0, 0.0, 2.0, 0.0, 0.0, 6.0];
        assert!((croston(&y, 0.5) - 4.5 / 2.75).abs() < 1e-12);
        assert!((sba(&y, 0.5) - 0.75 * 4.5 / 2.75).abs() < 1e-12);
        assert_eq!(croston(&[0.0, 0.0], 0.1), 0.0);
    }

    #[test]
    fn tsb_by_hand() {
        // y = 0 3 0 3, alpha .5 beta .5: first demand at 1, z = 3, prob0 = 2/4 = .5
        // t=2 (0): prob .25; t=3 (3): prob .625, z 3 → .625·3
        let y = [0.0, 3.0, 0.0, 3.0];
        assert!((tsb(&y, 0.5, 0.5) - 1.875).abs() < 1e-12);
        assert!((zero_share(&y) - 0.5).abs() < 1e-12);
        assert!((adi(&y) - 2.0).abs() < 1e-12);
    }
}
