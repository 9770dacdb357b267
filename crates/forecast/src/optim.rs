//! A small Nelder–Mead minimiser (in-house: the few-parameter fits here need no more, and an
//! allocation-free loop is what keeps the per-series fits fast).

pub(crate) struct NmResult {
    pub x: Vec<f64>,
    pub f: f64,
}

/// Minimise `f` from `x0` with initial simplex steps `step`; stops after `max_eval` evaluations
/// or when the simplex's function values agree to `tol` (relative).
pub(crate) fn nelder_mead(
    mut f: impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: &[f64],
    max_eval: usize,
    tol: f64,
) -> NmResult {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    let mut vals: Vec<f64> = Vec::with_capacity(n + 1);
    pts.push(x0.to_vec());
    vals.push(f(x0));
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += step[i];
        vals.push(f(&p));
        pts.push(p);
    }
    let mut evals = n + 1;
    let mut centroid = vec![0.0; n];
    let mut xr = vec![0.0; n];
    let mut xe = vec![0.0; n];
    let mut order: Vec<usize> = (0..=n).collect();
    while evals < max_eval {
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        let (best, worst, second) = (order[0], order[n], order[n - 1]);
        let fb = vals[best];
        let fw = vals[worst];
        if (fw - fb).abs() <= tol * (fb.abs() + 1e-10) {
            break;
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for &i in &order[..n] {
            for (c, v) in centroid.iter_mut().zip(&pts[i]) {
                *c += v / n as f64;
            }
        }
        for j in 0..n {
            xr[j] = centroid[j] + (centroid[j] - pts[worst][j]);
        }
        let fr = f(&xr);
        evals += 1;
        if fr < fb {
            for j in 0..n {
                xe[j] = centroid[j] + 2.0 * (centroid[j] - pts[worst][j]);
            }
            let fe = f(&xe);
            evals += 1;
            if fe < fr {
                pts[worst].copy_from_slice(&xe);
                vals[worst] = fe;
            } else {
                pts[worst].copy_from_slice(&xr);
                vals[worst] = fr;
            }
        } else if fr < vals[second] {
            pts[worst].copy_from_slice(&xr);
            vals[worst] = fr;
        } else {
            let outside = fr < fw;
            for j in 0..n {
                xe[j] = if outside {
                    centroid[j] + 0.5 * (xr[j] - centroid[j])
                } else {
                    centroid[j] + 0.5 * (pts[worst][j] - centroid[j])
                };
            }
            let fc = f(&xe);
            evals += 1;
            if fc < fr.min(fw) {
                pts[worst].copy_from_slice(&xe);
                vals[worst] = fc;
            } else {
                // shrink towards the best point
                let bp = pts[best].clone();
                for i in 0..=n {
                    if i == best {
                        continue;
                    }
                    for j in 0..n {
                        pts[i][j] = bp[j] + 0.5 * (pts[i][j] - bp[j]);
                    }
                    vals[i] = f(&pts[i]);
                    evals += 1;
                }
            }
        }
    }
    let best = (0..=n).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap_or(0);
    NmResult {
        x: pts[best].clone(),
        f: vals[best],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_quadratic() {
        let r = nelder_mead(
            |x| (x[0] - 1.0).powi(2) + 3.0 * (x[1] + 2.0).powi(2),
            &[0.0, 0.0],
            &[0.5, 0.5],
            2000,
            1e-14,
        );
        assert!((r.x[0] - 1.0).abs() < 1e-4 && (r.x[1] + 2.0).abs() < 1e-4, "{:?}", r.x);
    }
}
