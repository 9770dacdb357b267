//! M-competition evaluation: reads the layout of shared/data/m3 (`series_id,part,t,value` and
//! `series_id,n,h,period,…`), forecasts every series in parallel (rayon) and scores sMAPE and
//! MASE as the M3 literature does.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use rayon::prelude::*;
use serde::Serialize;

use crate::auto::{self, Options, Strategy};
use crate::metrics;

/// One M3 series with its official split.
#[derive(Debug, Clone)]
pub struct Series {
    pub id: String,
    pub period: String,
    pub horizon: usize,
    pub train: Vec<f64>,
    pub test: Vec<f64>,
}

/// Season length used for models and for MASE's scale: 12 monthly, 4 quarterly, 7 daily (a
/// shop's week; M3 has no daily series), 1 otherwise.
pub fn season_length(period: &str) -> usize {
    match period {
        "MONTHLY" => 12,
        "QUARTERLY" => 4,
        "DAILY" => 7,
        _ => 1,
    }
}

/// Load the series and meta files. Series keep the meta file's order.
pub fn load(series_file: &Path, meta_file: &Path) -> anyhow::Result<Vec<Series>> {
    let mut meta = csv::Reader::from_path(meta_file).with_context(|| format!("reading {}", meta_file.display()))?;
    let headers = meta.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(ci), Some(ch), Some(cp)) = (col("series_id"), col("h"), col("period")) else {
        bail!("{}: expected columns series_id, h, period", meta_file.display());
    };
    let mut out = Vec::new();
    let mut index = HashMap::new();
    for rec in meta.records() {
        let rec = rec?;
        let id = rec.get(ci).unwrap_or_default().to_string();
        let h: usize = rec.get(ch).unwrap_or_default().parse().context("meta: h")?;
        index.insert(id.clone(), out.len());
        out.push(Series {
            id,
            period: rec.get(cp).unwrap_or_default().to_string(),
            horizon: h,
            train: Vec::new(),
            test: Vec::new(),
        });
    }
    let mut rdr = csv::Reader::from_path(series_file).with_context(|| format!("reading {}", series_file.display()))?;
    let mut rows: Vec<(usize, bool, usize, f64)> = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        let id = rec.get(0).unwrap_or_default();
        let Some(&i) = index.get(id) else { continue };
        let train = match rec.get(1) {
            Some("train") => true,
            Some("test") => false,
            other => bail!("series {id}: unknown part {other:?}"),
        };
        let t: usize = rec.get(2).unwrap_or_default().parse().context("series: t")?;
        let v: f64 = rec.get(3).unwrap_or_default().parse().context("series: value")?;
        rows.push((i, train, t, v));
    }
    rows.sort_by_key(|r| (r.0, !r.1, r.2));
    for (i, train, _, v) in rows {
        if train {
            out[i].train.push(v);
        } else {
            out[i].test.push(v);
        }
    }
    for s in &out {
        if s.train.is_empty() || s.test.len() != s.horizon {
            bail!(
                "series {}: {} train and {} test values for horizon {}",
                s.id,
                s.train.len(),
                s.test.len(),
                s.horizon
            );
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Score {
    pub smape: f64,
    pub mase: f64,
    pub series: usize,
    /// Overall: wall-clock seconds of the forecasting. Per period: summed per-series compute time.
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub overall: Score,
    pub by_period: BTreeMap<String, Score>,
    pub by_model: BTreeMap<String, usize>,
}

/// One series' result.
#[derive(Debug, Clone)]
pub struct SeriesResult {
    pub id: String,
    pub period: String,
    pub model: String,
    pub forecast: Vec<f64>,
    pub smape: f64,
    pub mase: f64,
    pub seconds: f64,
}

/// Forecast and score every series with `strategy`.
pub fn evaluate(series: &[Series], strategy: Strategy) -> (Report, Vec<SeriesResult>) {
    let start = Instant::now();
    let results: Vec<SeriesResult> = series
        .par_iter()
        .map(|s| {
            let t0 = Instant::now();
            let m = season_length(&s.period);
            let mut opts = Options::new(m, s.horizon);
            opts.strategy = strategy;
            opts.nonnegative = true;
            opts.spacing_days = match s.period.as_str() {
                "YEARLY" => 365,
                "QUARTERLY" => 91,
                "MONTHLY" => 30,
                "DAILY" => 1,
                _ => 7,
            };
            let f = auto::forecast(&s.train, &opts);
            let seconds = t0.elapsed().as_secs_f64();
            SeriesResult {
                id: s.id.clone(),
                period: s.period.clone(),
                smape: metrics::smape(&s.test, &f.mean),
                mase: metrics::mase(&s.train, &s.test, &f.mean, m),
                model: f.model,
                forecast: f.mean,
                seconds,
            }
        })
        .collect();
    let wall = start.elapsed().as_secs_f64();
    let mut by_period: BTreeMap<String, Vec<&SeriesResult>> = BTreeMap::new();
    let mut by_model = BTreeMap::new();
    for r in &results {
        by_period.entry(r.period.clone()).or_default().push(r);
        *by_model.entry(r.model.clone()).or_insert(0) += 1;
    }
    let score = |rs: &[&SeriesResult]| Score {
        smape: metrics::mean(rs.iter().map(|r| r.smape)),
        mase: metrics::mean(rs.iter().map(|r| r.mase).filter(|v| v.is_finite())),
        series: rs.len(),
        seconds: rs.iter().map(|r| r.seconds).sum(),
    };
    let all: Vec<&SeriesResult> = results.iter().collect();
    let mut overall = score(&all);
    overall.seconds = wall;
    let report = Report {
        overall,
        by_period: by_period.iter().map(|(k, v)| (k.clone(), score(v))).collect(),
        by_model,
    };
    (report, results)
}

/// The printed table.
pub fn render(report: &Report) -> String {
    let mut s = format!(
        "{:<10} {:>7} {:>8} {:>7} {:>9}\n",
        "period", "series", "sMAPE", "MASE", "seconds"
    );
    for (p, sc) in &report.by_period {
        s += &format!(
            "{:<10} {:>7} {:>8.3} {:>7.3} {:>9.2}\n",
            p, sc.series, sc.smape, sc.mase, sc.seconds
        );
    }
    let o = &report.overall;
    s += &format!(
        "{:<10} {:>7} {:>8.3} {:>7.3} {:>9.2}\n",
        "ALL", o.series, o.smape, o.mase, o.seconds
    );
    s += "models chosen:";
    for (m, c) in &report.by_model {
        s += &format!(" {m}={c}");
    }
    s.push('\n');
    s
}

/// Forecasts as CSV `series_id,step,value` (for the benchmark's common scorer).
pub fn forecasts_csv(results: &[SeriesResult]) -> String {
    let mut s = String::from("series_id,step,value\n");
    for r in results {
        for (i, v) in r.forecast.iter().enumerate() {
            s += &format!("{},{},{}\n", r.id, i + 1, v);
        }
    }
    s
}
