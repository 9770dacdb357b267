#!/usr/bin/env bash
# Forecasting side by side, one scorer per data set:
#  - M3 (3,003 series, official horizons): Bodega vs statsforecast AutoETS / AutoTheta /
#    SeasonalNaive and Prophet — sMAPE and MASE (bench/forecast_m3.py);
#  - Online Retail demand per product, weekly and daily (1,643 products sold in >= 30 weeks, last
#    8 weeks held out): Bodega vs seasonal naive, statsforecast CrostonSBA / AutoETS and Prophet —
#    WAPE (bench/forecast_retail.py).
# Usage: bench/forecast.sh [PROPHET_EVERY]   (Prophet on every K-th M3 series, default 10; 1 = all)
# Needs bench/.venv: python3 -m venv bench/.venv && bench/.venv/bin/pip install statsforecast prophet pandas
# Results in bench/out/{m3,retail}_*.{csv,json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BODEGA_DATA_DIR:-../shared/data}"
[ -d "$DATA/m3" ] || DATA=/work/shared/data
PROPHET_EVERY="${1:-10}"
TARGET="${CARGO_TARGET_DIR:-target}"
PY="nice -n 15 bench/.venv/bin/python"
mkdir -p bench/out
[ -n "${BODEGA_BENCH_NO_BUILD:-}" ] || nice -n 15 cargo build --release -q -p bodega
BIN="$TARGET/release/bodega"
nproc; grep -m1 'model name' /proc/cpuinfo || true

$PY bench/forecast_retail.py prepare "$DATA/online_retail/online_retail.csv" bench/out 2>&1 | grep -v plotly
$PY bench/forecast_retail.py prepare "$DATA/online_retail/online_retail.csv" bench/out daily 2>&1 | grep -v plotly
for variant in auto backtest decomposable; do
    name=bodega; [ "$variant" = auto ] || name="bodega_$variant"
    echo "== Bodega $variant: M3"
    nice -n 15 "$BIN" eval forecast --series "$DATA/m3/m3_series.csv" --meta "$DATA/m3/m3_meta.csv" --strategy "$variant" \
        --out "bench/out/m3_${name}_eval.json" --forecasts "bench/out/m3_${name}.csv"
    echo "== Bodega $variant: Online Retail weekly"
    nice -n 15 "$BIN" eval forecast --series bench/out/retail_series.csv --meta bench/out/retail_meta.csv \
        --strategy "$variant" --out "bench/out/retail_${name}_eval.json" --forecasts "bench/out/retail_${name}.csv"
    echo "== Bodega $variant: Online Retail daily"
    nice -n 15 "$BIN" eval forecast --series bench/out/retail_daily_series.csv --meta bench/out/retail_daily_meta.csv \
        --strategy "$variant" --out "bench/out/retail_daily_${name}_eval.json" --forecasts "bench/out/retail_daily_${name}.csv"
done
echo "== statsforecast and Prophet: M3"
$PY bench/forecast_m3.py baselines "$DATA/m3" bench/out --prophet-every "$PROPHET_EVERY" 2>&1 | grep -v -e cmdstanpy -e plotly
echo "== statsforecast and Prophet: Online Retail weekly"
$PY bench/forecast_retail.py baselines bench/out 2>&1 | grep -v -e cmdstanpy -e plotly
echo "== statsforecast and Prophet: Online Retail daily"
$PY bench/forecast_retail.py baselines bench/out daily 2>&1 | grep -v -e cmdstanpy -e plotly
echo "== M3 scores"
$PY bench/forecast_m3.py score "$DATA/m3" bench/out 2>&1 | grep -v plotly
echo "== Online Retail weekly scores"
$PY bench/forecast_retail.py score bench/out 2>&1 | grep -v plotly
echo "== Online Retail daily scores"
$PY bench/forecast_retail.py score bench/out daily 2>&1 | grep -v plotly
