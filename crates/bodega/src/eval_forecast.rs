//! `bodega eval forecast`: the M3 evaluation runner of bodega-forecast behind the command line.

use std::path::PathBuf;

use anyhow::Context;
use bodega_forecast::{auto::Strategy, eval};

#[derive(clap::Args)]
pub struct EvalForecastArgs {
    /// Series file: series_id,part,t,value (part = train/test).
    #[arg(long, value_name = "FILE")]
    series: PathBuf,
    /// Meta file: series_id,n,h,period,…
    #[arg(long, value_name = "FILE")]
    meta: PathBuf,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write every forecast as CSV (series_id,step,value) here.
    #[arg(long, value_name = "FILE")]
    forecasts: Option<PathBuf>,
    /// auto (combination; backtest choice for intermittent series), backtest, combo, ets, theta,
    /// otm, snaive, decomposable (Prophet-style), croston, sba or tsb.
    #[arg(long, default_value = "auto")]
    strategy: String,
}

pub fn run(args: &EvalForecastArgs) -> anyhow::Result<()> {
    let strategy = Strategy::parse(&args.strategy).with_context(|| format!("unknown strategy {}", args.strategy))?;
    let series = eval::load(&args.series, &args.meta)?;
    let (report, results) = eval::evaluate(&series, strategy);
    print!("{}", eval::render(&report));
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(path) = &args.forecasts {
        std::fs::write(path, eval::forecasts_csv(&results)).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
