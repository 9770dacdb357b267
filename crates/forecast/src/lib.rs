//! Bodega's forecasting engine: pure functions over `&[f64]` series, no I/O except the M3
//! evaluation runner (`eval`).
//!
//! - models: seasonal naive, ETS with AICc choice (`ets`), Theta (`theta`), Croston / SBA / TSB
//!   (`intermittent`), a Prophet-style decomposable regression (`decomposable`)
//! - `auto`: per-series choice by rolling-origin backtest, plus the ETS/Theta combination
//! - prediction intervals 80% / 95% (`Forecast`)
//! - accuracy measures (`metrics`), reorder advice (`reorder`)
//!
//! Crates considered (issue 5): `augurs` (augurs-ets 0.10, augurs-mstl) and `anofox-forecast`
//! (0.4). augurs-ets documents that its seasonal ETS models are not implemented yet; anofox-forecast
//! covers the model list but is young, large (ARIMA, GARCH, TBATS, WASM bindings) and
//! slower in the hot loop than a lean fit. The models here are written in-house, each a
//! few hundred lines with an allocation-free inner loop, which is what lets all 3,003 M3 series
//! run in a tenth of statsforecast AutoETS's time (see docs/BENCHMARKS.md).

pub mod auto;
pub mod decomposable;
pub mod ets;
pub mod eval;
pub mod intermittent;
pub mod metrics;
mod optim;
pub mod reorder;
pub mod theta;

use serde::Serialize;

/// z for the two-sided 80% and 95% intervals.
pub const Z80: f64 = 1.281_551_565_545;
pub const Z95: f64 = 1.959_963_984_540;

/// A point forecast with 80% and 95% prediction intervals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Forecast {
    /// The model (or combination) that produced it, e.g. "ETS(M,Ad,M)" or "combo(ETS,Theta)".
    pub model: String,
    pub mean: Vec<f64>,
    pub lower80: Vec<f64>,
    pub upper80: Vec<f64>,
    pub lower95: Vec<f64>,
    pub upper95: Vec<f64>,
}

impl Forecast {
    /// Intervals from a per-step standard deviation of the forecast error (normal errors).
    /// `floor` clamps the lower bounds (0 for demand that cannot be negative).
    pub fn from_sd(model: impl Into<String>, mean: Vec<f64>, sd: &[f64], floor: Option<f64>) -> Self {
        let lo = |v: f64| floor.map_or(v, |f| v.max(f));
        let mut fc = Forecast {
            model: model.into(),
            lower80: Vec::with_capacity(mean.len()),
            upper80: Vec::with_capacity(mean.len()),
            lower95: Vec::with_capacity(mean.len()),
            upper95: Vec::with_capacity(mean.len()),
            mean,
        };
        for (i, &m) in fc.mean.iter().enumerate() {
            let s = sd
                .get(i)
                .copied()
                .or_else(|| sd.last().copied())
                .unwrap_or(0.0)
                .max(0.0);
            fc.lower80.push(lo(m - Z80 * s));
            fc.upper80.push(m + Z80 * s);
            fc.lower95.push(lo(m - Z95 * s));
            fc.upper95.push(m + Z95 * s);
        }
        fc
    }
}

/// Seasonal naive: each future period repeats the value one season earlier (naive when m ≤ 1).
pub fn seasonal_naive(y: &[f64], m: usize, h: usize) -> Vec<f64> {
    let n = y.len();
    if n == 0 {
        return vec![0.0; h];
    }
    let m = if m >= 1 && n >= m { m } else { 1 };
    (0..h).map(|k| y[n - m + (k % m)]).collect()
}

/// Residual sd of the seasonal naive's one-season-ahead errors, growing with whole seasons ahead.
pub fn seasonal_naive_sd(y: &[f64], m: usize, h: usize) -> Vec<f64> {
    let m = if m >= 1 && y.len() > m { m } else { 1 };
    let diffs: Vec<f64> = y.windows(m + 1).map(|w| w[m] - w[0]).collect();
    let s = if diffs.is_empty() {
        0.0
    } else {
        (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt()
    };
    (0..h).map(|k| s * ((k / m + 1) as f64).sqrt()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeasonKind {
    Additive,
    Multiplicative,
}

/// Classical decomposition's seasonal figure (centred moving average, then the mean ratio or
/// difference per position), normalised to mean 1 (multiplicative) or 0 (additive). Position 0
/// is the season of `y[0]`. `None` when fewer than two full seasons.
pub fn decompose_seasonal(y: &[f64], m: usize, kind: SeasonKind) -> Option<Vec<f64>> {
    let n = y.len();
    if m < 2 || n < 2 * m {
        return None;
    }
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n - half {
        let ma = if m.is_multiple_of(2) {
            if t + half >= n {
                continue;
            }
            let inner: f64 = y[t + 1 - half..t + half].iter().sum();
            (inner + 0.5 * (y[t - half] + y[t + half])) / m as f64
        } else {
            y[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        let v = match kind {
            SeasonKind::Additive => y[t] - ma,
            SeasonKind::Multiplicative => {
                if ma == 0.0 {
                    return None;
                }
                y[t] / ma
            }
        };
        sums[t % m] += v;
        counts[t % m] += 1;
    }
    if counts.contains(&0) {
        return None;
    }
    let mut fig: Vec<f64> = sums.iter().zip(&counts).map(|(s, &c)| s / c as f64).collect();
    let avg = fig.iter().sum::<f64>() / m as f64;
    match kind {
        SeasonKind::Additive => fig.iter_mut().for_each(|v| *v -= avg),
        SeasonKind::Multiplicative => {
            if avg <= 0.0 || fig.iter().any(|v| *v <= 0.0) {
                return None;
            }
            fig.iter_mut().for_each(|v| *v /= avg)
        }
    }
    Some(fig)
}

/// The 90% autocorrelation test for seasonality used by the Theta method (Assimakopoulos &
/// Nikolopoulos 2000; as in R's `thetaf` and statsforecast): |r_m| > 1.645·√((1 + 2Σ r_i²)/n).
pub fn seasonality_test(y: &[f64], m: usize) -> bool {
    let n = y.len();
    if m < 2 || n < 3 * m {
        return false;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let denom: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if denom <= 0.0 {
        return false;
    }
    let acf = |lag: usize| -> f64 { (lag..n).map(|t| (y[t] - mean) * (y[t - lag] - mean)).sum::<f64>() / denom };
    let r: Vec<f64> = (1..=m).map(acf).collect();
    let sum_sq: f64 = r[..m - 1].iter().map(|v| v * v).sum();
    let limit = 1.645 * ((1.0 + 2.0 * sum_sq) / n as f64).sqrt();
    r[m - 1].abs() > limit
}

/// Least-squares line through (t, y_t), t = 0, 1, …: returns (intercept, slope).
pub fn ols_line(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    if y.len() < 2 {
        return (y.first().copied().unwrap_or(0.0), 0.0);
    }
    let tm = (n - 1.0) / 2.0;
    let ym = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let dt = t as f64 - tm;
        sxy += dt * (v - ym);
        sxx += dt * dt;
    }
    let b = sxy / sxx;
    (ym - b * tm, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(seasonal_naive(&y, 3, 5), vec![5.0, 6.0, 7.0, 5.0, 6.0]);
        assert_eq!(seasonal_naive(&y, 1, 2), vec![7.0, 7.0]);
    }

    #[test]
    fn intervals_are_ordered() {
        let fc = Forecast::from_sd("x", vec![10.0, 10.0], &[1.0, 2.0], Some(0.0));
        for i in 0..2 {
            assert!(fc.lower95[i] < fc.lower80[i] && fc.lower80[i] < fc.mean[i]);
            assert!(fc.upper95[i] > fc.upper80[i] && fc.upper80[i] > fc.mean[i]);
        }
        assert!(fc.upper95[1] - fc.lower95[1] > fc.upper95[0] - fc.lower95[0]);
    }

    #[test]
    fn decomposition_recovers_a_seasonal_pattern() {
        let pat = [1.2, 0.8, 1.0, 1.0];
        let y: Vec<f64> = (0..16).map(|t| 100.0 * pat[t % 4]).collect();
        let fig = decompose_seasonal(&y, 4, SeasonKind::Multiplicative).expect("figure");
        for (a, b) in fig.iter().zip(pat) {
            assert!((a - b).abs() < 1e-9);
        }
        assert!(seasonality_test(&y, 4));
        let (a, b) = ols_line(&[1.0, 3.0, 5.0]);
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
    }
}
