//! Exponential smoothing state-space models (Hyndman et al. 2008) with automatic choice by AICc
//! over the set statsforecast's AutoETS considers: error A/M, trend N/A/Ad, season N/A/M, without
//! the unstable additive-error/multiplicative-season mixes and without multiplicative trends.
//!
//! In-house rather than `augurs-ets`: augurs-ets 0.10 documents that "seasonal models are not yet
//! implemented", and M3's monthly and quarterly series need them. Smoothing parameters and the
//! initial level/slope are fitted by maximum likelihood (Nelder–Mead); the initial seasonal states
//! come from a classical decomposition of the first years (as R's `ets` starts from) and are not
//! re-optimised, which keeps each fit to at most six parameters and the whole search fast.

use crate::optim::nelder_mead;
use crate::{decompose_seasonal, ols_line, SeasonKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Additive,
    Multiplicative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    None,
    Additive,
    Damped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    None,
    Additive,
    Multiplicative,
}

/// One ETS model form, e.g. ETS(M,Ad,M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtsSpec {
    pub error: Error,
    pub trend: Trend,
    pub season: Season,
}

impl EtsSpec {
    pub fn name(&self) -> String {
        let e = match self.error {
            Error::Additive => "A",
            Error::Multiplicative => "M",
        };
        let t = match self.trend {
            Trend::None => "N",
            Trend::Additive => "A",
            Trend::Damped => "Ad",
        };
        let s = match self.season {
            Season::None => "N",
            Season::Additive => "A",
            Season::Multiplicative => "M",
        };
        format!("ETS({e},{t},{s})")
    }
}

/// A fitted ETS model.
#[derive(Debug, Clone)]
pub struct EtsFit {
    pub spec: EtsSpec,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
    pub aicc: f64,
    /// Residual standard deviation (relative for multiplicative errors).
    pub sigma: f64,
    pub season_length: usize,
    level: f64,
    slope: f64,
    /// Seasonal states for the next `m` periods, in time order.
    seasons: Vec<f64>,
    n: usize,
}

struct Params {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
    l0: f64,
    b0: f64,
}

const BAD: f64 = 1e300;

/// Runs the recursion; returns (likelihood term, sse of errors, final states).
fn run(y: &[f64], spec: EtsSpec, m: usize, p: &Params, s0: &[f64], s: &mut [f64]) -> (f64, f64, f64, f64) {
    let (mut l, mut b) = (p.l0, p.b0);
    s.copy_from_slice(s0);
    let phib_f = match spec.trend {
        Trend::None => 0.0,
        Trend::Additive => 1.0,
        Trend::Damped => p.phi,
    };
    let beta_a = if spec.trend == Trend::None {
        0.0
    } else {
        p.beta / p.alpha
    };
    let mut sse = 0.0;
    let mut sum_log = 0.0;
    let mut idx = 0usize;
    for &yt in y {
        let phib = phib_f * b;
        let q = l + phib;
        let si = if m > 1 { s[idx] } else { 0.0 };
        let yhat = match spec.season {
            Season::None => q,
            Season::Additive => q + si,
            Season::Multiplicative => q * si,
        };
        let e = match spec.error {
            Error::Additive => yt - yhat,
            Error::Multiplicative => {
                if yhat <= 0.0 || !yhat.is_finite() {
                    return (BAD, BAD, l, b);
                }
                sum_log += yhat.ln();
                (yt - yhat) / yhat
            }
        };
        sse += e * e;
        let pt = match spec.season {
            Season::None => yt,
            Season::Additive => yt - si,
            Season::Multiplicative => {
                if si.abs() < 1e-10 {
                    return (BAD, BAD, l, b);
                }
                yt / si
            }
        };
        let newl = q + p.alpha * (pt - q);
        if spec.trend != Trend::None {
            b = phib + beta_a * (newl - l - phib);
        }
        match spec.season {
            Season::None => {}
            Season::Additive => s[idx] = si + p.gamma * (yt - q - si),
            Season::Multiplicative => {
                if q.abs() < 1e-10 {
                    return (BAD, BAD, l, b);
                }
                s[idx] = si + p.gamma * (yt / q - si)
            }
        }
        l = newl;
        if spec.season == Season::Multiplicative && l <= 0.0 {
            return (BAD, BAD, l, b);
        }
        if m > 1 {
            idx += 1;
            if idx == m {
                idx = 0;
            }
        }
    }
    let n = y.len() as f64;
    let lik = n * (sse.max(1e-300)).ln() + 2.0 * sum_log;
    if !lik.is_finite() {
        return (BAD, BAD, l, b);
    }
    (lik, sse, l, b)
}

fn n_params(spec: EtsSpec, m: usize) -> usize {
    let mut k = 2; // alpha, l0
    if spec.trend != Trend::None {
        k += 2; // beta, b0
    }
    if spec.trend == Trend::Damped {
        k += 1;
    }
    if spec.season != Season::None {
        k += m; // gamma and m−1 free initial seasonal states, counted as R's ets does
    }
    k + 1 // sigma
}

/// Fit one ETS form. `None` when the data cannot carry it (too short, non-positive values for
/// multiplicative parts, or a failed fit).
pub fn fit(y: &[f64], m: usize, spec: EtsSpec) -> Option<EtsFit> {
    let n = y.len();
    let m = if spec.season == Season::None { 1 } else { m };
    let positive = y.iter().all(|v| *v > 0.0);
    if (spec.error == Error::Multiplicative || spec.season == Season::Multiplicative) && !positive {
        return None;
    }
    if spec.season != Season::None && (m < 2 || n < 2 * m) {
        return None;
    }
    let k = n_params(spec, m);
    if n <= k + 1 {
        return None;
    }
    // initial states
    let s0: Vec<f64> = match spec.season {
        Season::None => vec![0.0; m.max(1)],
        Season::Additive => decompose_seasonal(&y[..n.min(3 * m).max(2 * m)], m, SeasonKind::Additive)?,
        Season::Multiplicative => decompose_seasonal(&y[..n.min(3 * m).max(2 * m)], m, SeasonKind::Multiplicative)?,
    };
    let maxn = n.min((2 * m).max(10));
    let sa: Vec<f64> = (0..maxn)
        .map(|t| match spec.season {
            Season::None => y[t],
            Season::Additive => y[t] - s0[t % m],
            Season::Multiplicative => y[t] / s0[t % m],
        })
        .collect();
    let (l0, b0) = if spec.trend == Trend::None {
        (sa.iter().sum::<f64>() / maxn as f64, 0.0)
    } else {
        let (a, b) = ols_line(&sa);
        // `ols_line` uses t = 0..; the state before the first observation is one step earlier.
        (a - b, b)
    };
    let scale = y.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
    let mut x0 = vec![0.3, l0];
    let mut step = vec![0.2, 0.1 * scale.max(1e-8)];
    let has_trend = spec.trend != Trend::None;
    let has_season = spec.season != Season::None;
    let damped = spec.trend == Trend::Damped;
    if has_trend {
        x0.extend([0.05, b0]);
        step.extend([0.04, 0.1 * b0.abs().max(0.01 * scale).max(1e-8)]);
    }
    if has_season {
        x0.push(0.05);
        step.push(0.05);
    }
    if damped {
        x0.push(0.95);
        step.push(0.02);
    }
    let unpack = |x: &[f64]| -> Params {
        let mut i = 2;
        let (mut beta, mut b0) = (0.0, 0.0);
        if has_trend {
            beta = x[2];
            b0 = x[3];
            i = 4;
        }
        let mut gamma = 0.0;
        if has_season {
            gamma = x[i];
            i += 1;
        }
        let phi = if damped { x[i] } else { 1.0 };
        Params {
            alpha: x[0],
            beta,
            gamma,
            phi,
            l0: x[1],
            b0,
        }
    };
    let mut sbuf = vec![0.0; m.max(1)];
    let objective = |x: &[f64], sbuf: &mut [f64]| -> f64 {
        let p = unpack(x);
        if !(1e-4..=0.9999).contains(&p.alpha) {
            return BAD;
        }
        if has_trend && !(p.beta >= 1e-4 && p.beta <= p.alpha) {
            return BAD;
        }
        if has_season && !(p.gamma >= 1e-4 && p.gamma <= 1.0 - p.alpha) {
            return BAD;
        }
        if damped && !(0.8..=0.98).contains(&p.phi) {
            return BAD;
        }
        run(y, spec, m, &p, &s0, sbuf).0
    };
    let max_eval = 60 * x0.len();
    let r = nelder_mead(|x| objective(x, &mut sbuf), &x0, &step, max_eval, 1e-7);
    if r.f >= BAD {
        return None;
    }
    let p = unpack(&r.x);
    let (lik, sse, level, slope) = run(y, spec, m, &p, &s0, &mut sbuf);
    let kf = k as f64;
    let nf = n as f64;
    let aic = lik + 2.0 * kf;
    let aicc = aic + 2.0 * kf * (kf + 1.0) / (nf - kf - 1.0);
    // seasonal states for the next m periods in time order: the ring position of time n
    let seasons = if m > 1 {
        (0..m).map(|j| sbuf[(n + j) % m]).collect()
    } else {
        vec![]
    };
    Some(EtsFit {
        spec,
        alpha: p.alpha,
        beta: p.beta,
        gamma: p.gamma,
        phi: p.phi,
        aicc,
        sigma: (sse / (nf - kf).max(1.0)).sqrt(),
        season_length: m,
        level,
        slope,
        seasons,
        n,
    })
}

impl EtsFit {
    /// Point forecasts for `h` steps.
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(h);
        let mut damp_sum = 0.0;
        let mut phik = 1.0;
        for k in 1..=h {
            let trend = match self.spec.trend {
                Trend::None => self.level,
                Trend::Additive => self.level + k as f64 * self.slope,
                Trend::Damped => {
                    phik *= self.phi;
                    damp_sum += phik;
                    self.level + damp_sum * self.slope
                }
            };
            let s = if self.season_length > 1 {
                self.seasons[(k - 1) % self.season_length]
            } else {
                0.0
            };
            out.push(match self.spec.season {
                Season::None => trend,
                Season::Additive => trend + s,
                Season::Multiplicative => trend * s,
            });
        }
        out
    }

    /// Forecast standard deviation per step (the class-1 formula of Hyndman et al. 2008, §6.3;
    /// for multiplicative errors the relative sigma is applied to the point forecast, an
    /// approximation).
    pub fn forecast_sd(&self, point: &[f64]) -> Vec<f64> {
        let m = self.season_length;
        let mut acc: f64 = 1.0;
        let mut out = Vec::with_capacity(point.len());
        for (i, f) in point.iter().enumerate() {
            let sd = self.sigma * acc.sqrt();
            out.push(match self.spec.error {
                Error::Additive => sd,
                Error::Multiplicative => sd * f.abs(),
            });
            let j = (i + 1) as f64;
            let mut c = self.alpha;
            match self.spec.trend {
                Trend::None => {}
                Trend::Additive => c += self.beta * j,
                Trend::Damped => c += self.beta * self.phi * (1.0 - self.phi.powf(j)) / (1.0 - self.phi),
            }
            if self.spec.season != Season::None && m > 1 && (i + 1) % m == 0 {
                c += self.gamma;
            }
            acc += c * c;
        }
        out
    }

    pub fn n(&self) -> usize {
        self.n
    }
}

/// The candidate forms for season length `m` (seasonal forms only when m > 1).
pub fn candidates(m: usize, damped_only: bool) -> Vec<EtsSpec> {
    let mut out = Vec::new();
    let seasons: &[Season] = if m > 1 {
        &[Season::None, Season::Additive, Season::Multiplicative]
    } else {
        &[Season::None]
    };
    let trends: &[Trend] = if damped_only {
        &[Trend::None, Trend::Damped]
    } else {
        &[Trend::None, Trend::Additive, Trend::Damped]
    };
    for &error in &[Error::Additive, Error::Multiplicative] {
        for &trend in trends {
            for &season in seasons {
                if error == Error::Additive && season == Season::Multiplicative {
                    continue;
                }
                out.push(EtsSpec { error, trend, season });
            }
        }
    }
    out
}

/// Automatic ETS: fit every candidate form and keep the lowest AICc.
pub fn auto(y: &[f64], m: usize) -> Option<EtsFit> {
    let mut best: Option<EtsFit> = None;
    for spec in candidates(m, false) {
        if let Some(f) = fit(y, m, spec) {
            if best.as_ref().is_none_or(|b| f.aicc < b.aicc) {
                best = Some(f);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ses_recursion_matches_hand_computation() {
        // SES with alpha 0.5, l0 = 10: errors 2, 1, 4.5; levels 11, 11.5, 13.75 → forecast 13.75.
        let y = [12.0, 12.0, 16.0];
        let p = Params {
            alpha: 0.5,
            beta: 0.0,
            gamma: 0.0,
            phi: 1.0,
            l0: 10.0,
            b0: 0.0,
        };
        let spec = EtsSpec {
            error: Error::Additive,
            trend: Trend::None,
            season: Season::None,
        };
        let mut s = [0.0];
        let (_, sse, l, _) = run(&y, spec, 1, &p, &[0.0], &mut s);
        assert!((l - 13.75).abs() < 1e-12, "{l}");
        assert!((sse - (4.0 + 1.0 + 20.25)).abs() < 1e-12);
    }

    #[test]
    fn auto_ets_follows_a_trend_and_a_season() {
        let y: Vec<f64> = (0..60)
            .map(|t| 100.0 + 2.0 * t as f64 + [10.0, -5.0, 0.0, -5.0][t % 4])
            .collect();
        let f = auto(&y, 4).expect("fit");
        let fc = f.forecast(4);
        for (k, v) in fc.iter().enumerate() {
            let t = 60 + k;
            let truth = 100.0 + 2.0 * t as f64 + [10.0, -5.0, 0.0, -5.0][t % 4];
            assert!((v - truth).abs() < 3.0, "{} {v} {truth}", f.spec.name());
        }
    }
}
