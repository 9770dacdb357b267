//! A Prophet-style decomposable model (Taylor & Letham 2018), fitted by ridge least squares
//! instead of Stan: y(t) = trend(t) + weekly(t) + yearly(t) + holidays(t) + regressors(t) + ε.
//!
//! - trend: piecewise linear, `changepoints` hinges spread over the first `changepoint_range` of
//!   the history, their slope changes shrunk by a ridge penalty (Prophet's Laplace prior becomes
//!   an L2 one: a closed-form fit, milliseconds per series instead of a Stan optimisation);
//! - weekly (order 3) and yearly (order 10) Fourier terms, each only when the data can show it
//!   (weekly when observations are less than 7 days apart, yearly with two years of history);
//! - holidays: one indicator per holiday name, 1 in the period containing the date;
//! - regressors (promotions, prices): given for history and future, one coefficient each.
//!
//! Each component is returned separately over history + future for plotting. In-house: neither
//! augurs nor anofox-forecast offers a holiday/regressor-aware decomposable model (augurs-prophet
//! needs a Stan/WASM optimiser).

use serde::Serialize;

use crate::{Z80, Z95};

/// A holiday occurrence (`day` = days since 1970-01-01).
#[derive(Debug, Clone)]
pub struct Holiday {
    pub name: String,
    pub day: i64,
}

/// An extra regressor, e.g. a promotion flag: one value per history and per future period.
#[derive(Debug, Clone)]
pub struct Regressor {
    pub name: String,
    pub history: Vec<f64>,
    pub future: Vec<f64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub changepoints: usize,
    pub changepoint_range: f64,
    /// Ridge weight on changepoint slope changes (larger = stiffer trend).
    pub changepoint_penalty: f64,
    /// Ridge weight on seasonal, holiday and regressor coefficients.
    pub seasonality_penalty: f64,
    pub weekly_order: usize,
    pub yearly_order: usize,
    /// Force weekly / yearly terms on or off (None = decide from the data).
    pub weekly: Option<bool>,
    pub yearly: Option<bool>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            changepoints: 25,
            changepoint_range: 0.8,
            changepoint_penalty: 1.0,
            seasonality_penalty: 0.01,
            weekly_order: 3,
            yearly_order: 10,
            weekly: None,
            yearly: None,
        }
    }
}

/// The fitted components over history followed by future.
#[derive(Debug, Clone, Serialize)]
pub struct Components {
    pub days: Vec<i64>,
    pub trend: Vec<f64>,
    pub weekly: Vec<f64>,
    pub yearly: Vec<f64>,
    pub holidays: Vec<f64>,
    pub regressors: Vec<(String, Vec<f64>)>,
    pub yhat: Vec<f64>,
    /// Intervals for the future part only (same length as `future_days`).
    pub lower80: Vec<f64>,
    pub upper80: Vec<f64>,
    pub lower95: Vec<f64>,
    pub upper95: Vec<f64>,
    pub sigma: f64,
}

impl Components {
    /// The future part of `yhat`.
    pub fn forecast(&self) -> &[f64] {
        &self.yhat[self.yhat.len() - self.lower80.len()..]
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Col {
    Intercept,
    Slope,
    Changepoint(f64),
    Weekly(usize, bool),
    Yearly(usize, bool),
    Holiday(usize),
    Regressor(usize),
}

/// Fit on (`days`, `y`) and predict at `future_days`. Errors on mismatched lengths or too few points.
pub fn fit(
    days: &[i64],
    y: &[f64],
    future_days: &[i64],
    holidays: &[Holiday],
    regressors: &[Regressor],
    opts: &Options,
) -> Result<Components, String> {
    let n = y.len();
    if days.len() != n {
        return Err("days and y differ in length".into());
    }
    if n < 4 {
        return Err("at least 4 observations are needed".into());
    }
    for r in regressors {
        if r.history.len() != n || r.future.len() != future_days.len() {
            return Err(format!("regressor {}: history/future lengths do not match", r.name));
        }
    }
    let d0 = days[0] as f64;
    let span = (days[n - 1] - days[0]).max(1) as f64;
    let spacing = {
        let mut d: Vec<i64> = days.windows(2).map(|w| w[1] - w[0]).collect();
        d.sort_unstable();
        d.get(d.len() / 2).copied().unwrap_or(1).max(1)
    };
    let weekly = opts.weekly.unwrap_or(spacing < 7 && span >= 14.0);
    let yearly = opts.yearly.unwrap_or(span >= 730.0);
    let scale = y.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-9);
    let mut cols = vec![Col::Intercept, Col::Slope];
    let ncp = opts.changepoints.min(n.saturating_sub(3) / 2);
    for j in 1..=ncp {
        cols.push(Col::Changepoint(opts.changepoint_range * j as f64 / (ncp + 1) as f64));
    }
    if weekly {
        for k in 1..=opts.weekly_order {
            cols.push(Col::Weekly(k, true));
            cols.push(Col::Weekly(k, false));
        }
    }
    if yearly {
        for k in 1..=opts.yearly_order {
            cols.push(Col::Yearly(k, true));
            cols.push(Col::Yearly(k, false));
        }
    }
    let mut names: Vec<String> = holidays.iter().map(|h| h.name.clone()).collect();
    names.sort();
    names.dedup();
    for i in 0..names.len() {
        cols.push(Col::Holiday(i));
    }
    for i in 0..regressors.len() {
        cols.push(Col::Regressor(i));
    }
    let p = cols.len();
    let all_days: Vec<i64> = days.iter().chain(future_days).copied().collect();
    let value = |c: Col, row: usize| -> f64 {
        let day = all_days[row];
        let t = (day as f64 - d0) / span;
        match c {
            Col::Intercept => 1.0,
            Col::Slope => t,
            Col::Changepoint(s) => (t - s).max(0.0),
            Col::Weekly(k, sin) => fourier(day as f64, 7.0, k, sin),
            Col::Yearly(k, sin) => fourier(day as f64, 365.25, k, sin),
            Col::Holiday(i) => {
                let hit = holidays
                    .iter()
                    .any(|h| h.name == names[i] && h.day >= day && h.day < day + spacing);
                if hit {
                    1.0
                } else {
                    0.0
                }
            }
            Col::Regressor(i) => {
                if row < n {
                    regressors[i].history[row]
                } else {
                    regressors[i].future[row - n]
                }
            }
        }
    };
    // normal equations with ridge
    let mut xtx = vec![0.0; p * p];
    let mut xty = vec![0.0; p];
    let mut row = vec![0.0; p];
    for (r, yv) in y.iter().enumerate() {
        for (j, c) in cols.iter().enumerate() {
            row[j] = value(*c, r);
        }
        let ys = yv / scale;
        for a in 0..p {
            xty[a] += row[a] * ys;
            for b in a..p {
                xtx[a * p + b] += row[a] * row[b];
            }
        }
    }
    for a in 0..p {
        for b in 0..a {
            xtx[a * p + b] = xtx[b * p + a];
        }
        let pen = match cols[a] {
            Col::Intercept | Col::Slope => 1e-9,
            Col::Changepoint(_) => opts.changepoint_penalty,
            _ => opts.seasonality_penalty,
        };
        xtx[a * p + a] += pen;
    }
    let beta = cholesky_solve(&mut xtx, &xty, p).ok_or("singular design")?;
    let total = all_days.len();
    let mut comp = Components {
        days: all_days.clone(),
        trend: vec![0.0; total],
        weekly: vec![0.0; total],
        yearly: vec![0.0; total],
        holidays: vec![0.0; total],
        regressors: regressors.iter().map(|r| (r.name.clone(), vec![0.0; total])).collect(),
        yhat: vec![0.0; total],
        lower80: vec![],
        upper80: vec![],
        lower95: vec![],
        upper95: vec![],
        sigma: 0.0,
    };
    for r in 0..total {
        for (j, c) in cols.iter().enumerate() {
            let v = value(*c, r) * beta[j] * scale;
            match c {
                Col::Intercept | Col::Slope | Col::Changepoint(_) => comp.trend[r] += v,
                Col::Weekly(..) => comp.weekly[r] += v,
                Col::Yearly(..) => comp.yearly[r] += v,
                Col::Holiday(_) => comp.holidays[r] += v,
                Col::Regressor(i) => comp.regressors[*i].1[r] += v,
            }
        }
        comp.yhat[r] = comp.trend[r]
            + comp.weekly[r]
            + comp.yearly[r]
            + comp.holidays[r]
            + comp.regressors.iter().map(|x| x.1[r]).sum::<f64>();
    }
    let sse: f64 = y.iter().zip(&comp.yhat).map(|(a, f)| (a - f).powi(2)).sum();
    let sigma = (sse / (n.saturating_sub(2).max(1)) as f64).sqrt();
    comp.sigma = sigma;
    for k in 0..future_days.len() {
        // trend uncertainty grows with the distance from the last observation (an approximation
        // of Prophet's simulated changepoints)
        let sd = sigma * (1.0 + (k + 1) as f64 / n as f64).sqrt();
        let f = comp.yhat[n + k];
        comp.lower80.push(f - Z80 * sd);
        comp.upper80.push(f + Z80 * sd);
        comp.lower95.push(f - Z95 * sd);
        comp.upper95.push(f + Z95 * sd);
    }
    Ok(comp)
}

fn fourier(day: f64, period: f64, k: usize, sin: bool) -> f64 {
    let x = std::f64::consts::TAU * k as f64 * day / period;
    if sin {
        x.sin()
    } else {
        x.cos()
    }
}

/// Solve A x = b for a symmetric positive definite A (row-major p×p, overwritten).
fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
    let mut z = vec![0.0; p];
    for i in 0..p {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * p + k] * z[k];
        }
        z[i] = s / a[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let mut s = z[i];
        for k in i + 1..p {
            s -= a[k * p + i] * x[k];
        }
        x[i] = s / a[i * p + i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_trend_and_weekly_pattern() {
        let pattern = [3.0, -1.0, -1.0, -1.0, -1.0, 2.0, -1.0];
        let days: Vec<i64> = (0..140).map(|d| 19_000 + d).collect();
        let y: Vec<f64> = days
            .iter()
            .enumerate()
            .map(|(t, d)| 10.0 + 0.05 * t as f64 + pattern[(d % 7) as usize])
            .collect();
        let future: Vec<i64> = (140..154).map(|d| 19_000 + d).collect();
        let c = fit(&days, &y, &future, &[], &[], &Options::default()).expect("fit");
        for (i, d) in c.days.iter().enumerate() {
            let t = i as f64;
            assert!(
                (c.weekly[i] - pattern[(d % 7) as usize]).abs() < 0.15,
                "weekly {i}: {}",
                c.weekly[i]
            );
            assert!(
                (c.trend[i] - (10.0 + 0.05 * t)).abs() < 0.3,
                "trend {i}: {}",
                c.trend[i]
            );
        }
        for (k, f) in c.forecast().iter().enumerate() {
            let t = 140 + k;
            let truth = 10.0 + 0.05 * t as f64 + pattern[(19_000 + t) % 7];
            assert!((f - truth).abs() < 0.3);
            assert!(c.lower95[k] < c.lower80[k] && c.upper80[k] < c.upper95[k]);
        }
    }

    #[test]
    fn holidays_and_promotions_get_their_own_components() {
        let days: Vec<i64> = (0..100).map(|d| 20_000 + d * 7).collect();
        let promo: Vec<f64> = (0..100).map(|i| if i % 10 == 3 { 1.0 } else { 0.0 }).collect();
        let hols: Vec<Holiday> = (0..100)
            .filter(|i| i % 25 == 7)
            .map(|i| Holiday {
                name: "sale".into(),
                day: 20_000 + i * 7 + 2,
            })
            .collect();
        let y: Vec<f64> = (0..100)
            .map(|i| 50.0 + 20.0 * promo[i as usize] + if i % 25 == 7 { 30.0 } else { 0.0 })
            .collect();
        let reg = Regressor {
            name: "promo".into(),
            history: promo,
            future: vec![1.0, 0.0],
        };
        let future = [20_000 + 700, 20_000 + 707];
        let c = fit(&days, &y, &future, &hols, &[reg], &Options::default()).expect("fit");
        assert!((c.regressors[0].1[3] - 20.0).abs() < 1.0, "{}", c.regressors[0].1[3]);
        assert!((c.holidays[7] - 30.0).abs() < 1.5, "{}", c.holidays[7]);
        let f = c.forecast();
        assert!((f[0] - 70.0).abs() < 2.0 && (f[1] - 50.0).abs() < 2.0, "{f:?}");
    }
}
