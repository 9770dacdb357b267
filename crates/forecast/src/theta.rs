//! The Theta method (Assimakopoulos & Nikolopoulos 2000) in Hyndman & Billah's form: simple
//! exponential smoothing plus a drift of (1 − 1/θ)·b per step, b the slope of the least-squares
//! line; θ = 2 is the standard Theta method (STM), an optimised θ the OTM of Fiorucci et al.
//! (2016) chosen by in-sample one-step MSE. Seasonal series (90% ACF test) are first adjusted
//! by a classical multiplicative decomposition, as statsforecast AutoTheta and R's `thetaf` do.
//! In-house (see lib.rs for the crate choice).

use crate::optim::nelder_mead;
use crate::{decompose_seasonal, ols_line, seasonality_test, SeasonKind};

/// A fitted simple exponential smoothing.
#[derive(Debug, Clone, Copy)]
pub struct Ses {
    pub alpha: f64,
    pub level: f64,
    pub sse: f64,
    pub l0: f64,
}

fn ses_run(y: &[f64], alpha: f64, l0: f64) -> (f64, f64) {
    let mut l = l0;
    let mut sse = 0.0;
    for &v in y {
        let e = v - l;
        sse += e * e;
        l += alpha * e;
    }
    (l, sse)
}

/// Simple exponential smoothing with alpha and the initial level fitted by least squares.
pub fn ses(y: &[f64]) -> Ses {
    let l0 = y.first().copied().unwrap_or(0.0);
    if y.len() < 3 {
        return Ses {
            alpha: 0.5,
            level: y.last().copied().unwrap_or(0.0),
            sse: 0.0,
            l0,
        };
    }
    let scale = y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64;
    let r = nelder_mead(
        |x| {
            if !(1e-4..=0.9999).contains(&x[0]) {
                return 1e300;
            }
            ses_run(y, x[0], x[1]).1
        },
        &[0.5, l0],
        &[0.2, 0.1 * scale.max(1e-8)],
        150,
        1e-8,
    );
    let (level, sse) = ses_run(y, r.x[0], r.x[1]);
    Ses {
        alpha: r.x[0],
        level,
        sse,
        l0: r.x[1],
    }
}

/// A fitted Theta model.
#[derive(Debug, Clone)]
pub struct ThetaFit {
    pub theta: f64,
    pub ses: Ses,
    pub slope: f64,
    /// Seasonal indices for the next m periods (empty when not seasonal).
    seasons: Vec<f64>,
    n: usize,
    /// Residual sd of the one-step fit (on the seasonally adjusted scale).
    pub sigma: f64,
}

/// Fit Theta; `theta = None` optimises θ in [1, 4] (OTM), `Some(2.0)` is the standard method.
pub fn fit(y: &[f64], m: usize, theta: Option<f64>) -> ThetaFit {
    let n = y.len();
    let positive = y.iter().all(|v| *v > 0.0);
    let mut seasons = Vec::new();
    let sa: Vec<f64> = if m > 1 && positive && seasonality_test(y, m) {
        match decompose_seasonal(y, m, SeasonKind::Multiplicative) {
            Some(fig) => {
                seasons = (0..m).map(|j| fig[(n + j) % m]).collect();
                y.iter().enumerate().map(|(t, v)| v / fig[t % m]).collect()
            }
            None => y.to_vec(),
        }
    } else {
        y.to_vec()
    };
    let s = ses(&sa);
    let (_, slope) = ols_line(&sa);
    let a = s.alpha;
    let theta = match theta {
        Some(t) => t,
        None => {
            // one-step in-sample MSE of SES + w·b·(1 − (1−α)^t)/α over a grid of w = 1 − 1/θ
            let mut best = (f64::INFINITY, 2.0);
            for i in 0..=12 {
                let th = 1.0 + 0.25 * i as f64;
                let w = 1.0 - 1.0 / th;
                let mut l = s.l0;
                let mut pw = 1.0;
                let mut sse = 0.0;
                for &v in &sa {
                    pw *= 1.0 - a;
                    let f = l + w * slope * (1.0 - pw) / a;
                    sse += (v - f).powi(2);
                    l += a * (v - l);
                }
                if sse < best.0 {
                    best = (sse, th);
                }
            }
            best.1
        }
    };
    let sigma = (s.sse / (n.max(3) - 2) as f64).sqrt();
    ThetaFit {
        theta,
        ses: s,
        slope,
        seasons,
        n,
        sigma,
    }
}

impl ThetaFit {
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        let a = self.ses.alpha;
        let w = 1.0 - 1.0 / self.theta;
        let tail = (1.0 - a).powi(self.n as i32) / a;
        (0..h)
            .map(|k| {
                let f = self.ses.level + w * self.slope * (k as f64 + 1.0 / a - tail);
                if self.seasons.is_empty() {
                    f
                } else {
                    f * self.seasons[k % self.seasons.len()]
                }
            })
            .collect()
    }

    /// SES-style forecast sd: σ·√(1 + (k−1)α²), scaled by the seasonal index.
    pub fn forecast_sd(&self, h: usize) -> Vec<f64> {
        let a = self.ses.alpha;
        (0..h)
            .map(|k| {
                let sd = self.sigma * (1.0 + k as f64 * a * a).sqrt();
                if self.seasons.is_empty() {
                    sd
                } else {
                    sd * self.seasons[k % self.seasons.len()]
                }
            })
            .collect()
    }

    pub fn is_seasonal(&self) -> bool {
        !self.seasons.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_theta_on_a_line_continues_half_way_between_ses_and_the_line() {
        // On an exact line SES lags; Theta adds half the slope's drift. The forecast must rise
        // and stay close to the line (within the SES lag).
        let y: Vec<f64> = (0..40).map(|t| 10.0 + 2.0 * t as f64).collect();
        let f = fit(&y, 1, Some(2.0));
        assert!((f.slope - 2.0).abs() < 1e-9);
        let fc = f.forecast(5);
        for w in fc.windows(2) {
            assert!((w[1] - w[0] - 1.0).abs() < 1e-9, "drift is b/2 per step: {fc:?}");
        }
        // SES with alpha ≈ 1 ends at the last value; theta adds b/2·(1/α − tail) ≈ 1 at h = 1
        assert!((fc[0] - (88.0 + 1.0)).abs() < 0.5, "{fc:?}");
        // optimised theta picks a larger θ on a pure line: closer to the line's own 90
        let o = fit(&y, 1, None);
        assert!(o.theta >= 2.0);
        assert!((o.forecast(1)[0] - 90.0).abs() <= (fc[0] - 90.0).abs() + 1e-9);
    }
}
