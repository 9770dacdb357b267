//! Accuracy measures. Conventions follow the M3 literature (Hyndman & Koehler 2006):
//! sMAPE in percent on a 0..200 scale, MASE scaled by the in-sample mean absolute seasonal
//! difference.

use serde::Serialize;

/// Symmetric MAPE in percent: mean of 200·|y−f|/(|y|+|f|); a step where both are 0 counts 0.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(&y, &f)| {
        let d = y.abs() + f.abs();
        if d == 0.0 {
            0.0
        } else {
            200.0 * (y - f).abs() / d
        }
    }))
}

/// MAPE in percent over the steps whose actual is not 0 (NaN when every actual is 0).
pub fn mape(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(
        actual
            .iter()
            .zip(forecast)
            .filter(|(y, _)| **y != 0.0)
            .map(|(&y, &f)| 100.0 * (y - f).abs() / y.abs()),
    )
}

/// The MASE scale: in-sample mean absolute difference at lag `season` (lag 1 when the series
/// is not longer than one season).
pub fn mase_scale(train: &[f64], season: usize) -> f64 {
    let lag = if season >= 1 && train.len() > season { season } else { 1 };
    if train.len() <= lag {
        return f64::NAN;
    }
    mean(train.windows(lag + 1).map(|w| (w[lag] - w[0]).abs()))
}

/// Mean absolute scaled error; NaN when the in-sample scale is 0 (a constant series).
pub fn mase(train: &[f64], actual: &[f64], forecast: &[f64], season: usize) -> f64 {
    let scale = mase_scale(train, season);
    let mae = mean(actual.iter().zip(forecast).map(|(&y, &f)| (y - f).abs()));
    if scale > 0.0 {
        mae / scale
    } else {
        f64::NAN
    }
}

/// Weighted APE: Σ|y−f| / Σ|y| (a fraction, not percent); NaN when every actual is 0.
pub fn wape(actual: &[f64], forecast: &[f64]) -> f64 {
    let num: f64 = actual.iter().zip(forecast).map(|(&y, &f)| (y - f).abs()).sum();
    let den: f64 = actual.iter().map(|y| y.abs()).sum();
    if den > 0.0 {
        num / den
    } else {
        f64::NAN
    }
}

/// Bias as the mean error f − y: positive means over-forecasting.
pub fn bias(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(&y, &f)| f - y))
}

/// Relative bias: Σ(f − y) / Σ|y| (a fraction; positive means over-forecasting).
pub fn relative_bias(actual: &[f64], forecast: &[f64]) -> f64 {
    let num: f64 = actual.iter().zip(forecast).map(|(&y, &f)| f - y).sum();
    let den: f64 = actual.iter().map(|y| y.abs()).sum();
    if den > 0.0 {
        num / den
    } else {
        f64::NAN
    }
}

/// Every measure at once, as stored by accuracy tracking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    pub mape: f64,
    pub smape: f64,
    pub mase: f64,
    pub wape: f64,
    pub bias: f64,
    pub relative_bias: f64,
}

/// All measures for one forecast against its actuals; `train` and `season` give MASE's scale.
pub fn accuracy(train: &[f64], actual: &[f64], forecast: &[f64], season: usize) -> Accuracy {
    Accuracy {
        mape: mape(actual, forecast),
        smape: smape(actual, forecast),
        mase: mase(train, actual, forecast, season),
        wape: wape(actual, forecast),
        bias: bias(actual, forecast),
        relative_bias: relative_bias(actual, forecast),
    }
}

pub(crate) fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for v in it {
        s += v;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_against_hand_computed_values() {
        let y = [100.0, 200.0, 0.0, 50.0];
        let f = [110.0, 180.0, 10.0, 50.0];
        // sMAPE: 200·10/210, 200·20/380, 200·10/10, 0 → mean
        let expected = (2000.0 / 210.0 + 4000.0 / 380.0 + 200.0 + 0.0) / 4.0;
        assert!((smape(&y, &f) - expected).abs() < 1e-12);
        // MAPE over non-zero actuals: 10%, 10%, 0%
        assert!((mape(&y, &f) - 20.0 / 3.0).abs() < 1e-12);
        // WAPE: (10+20+10+0)/350
        assert!((wape(&y, &f) - 40.0 / 350.0).abs() < 1e-12);
        // bias: (10 −20 +10 +0)/4 = 0
        assert!(bias(&y, &f).abs() < 1e-12);
        assert!((relative_bias(&[10.0, 10.0], &[12.0, 13.0]) - 0.25).abs() < 1e-12);
        // MASE: train 1,3,2,6 lag 1 → |2|,|−1|,|4| → scale 7/3; MAE of (4,5) vs (5,5) = 0.5
        let train = [1.0, 3.0, 2.0, 6.0];
        assert!((mase(&train, &[4.0, 5.0], &[5.0, 5.0], 1) - 0.5 / (7.0 / 3.0)).abs() < 1e-12);
        // seasonal lag 2: |2−1|, |6−3| → scale 2; MAE 0.5 → 0.25
        assert!((mase(&train, &[4.0, 5.0], &[5.0, 5.0], 2) - 0.25).abs() < 1e-12);
        // lag longer than the series falls back to lag 1
        assert!((mase_scale(&train, 12) - 7.0 / 3.0).abs() < 1e-12);
    }
}
