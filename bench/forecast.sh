#!/usr/bin/env bash
# Forecasting side by side on M3 (3,003 series, official horizons): Bodega vs statsforecast
# AutoETS / AutoTheta / SeasonalNaive and Prophet, one scorer (bench/forecast_m3.py).
# Usage: bench/forecast.sh [PROPHET_EVERY]   (Prophet on every K-th series, default 10; 1 = all)
# Needs bench/.venv with statsforecast and prophet: python3 -m venv bench/.venv &&
#   bench/.venv/bin/pip install statsforecast prophet pandas
# Results in bench/out/m3_*.{csv,json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BODEGA_M3_DIR:-../shared/data/m3}"
[ -d "$DATA" ] || DATA=/work/shared/data/m3
PROPHET_EVERY="${1:-10}"
TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p bench/out
[ -n "${BODEGA_BENCH_NO_BUILD:-}" ] || nice -n 15 cargo build --release -q -p bodega
nice -n 15 "$TARGET/release/bodega" eval forecast --series "$DATA/m3_series.csv" --meta "$DATA/m3_meta.csv" \
    --out bench/out/m3_bodega_eval.json --forecasts bench/out/m3_bodega.csv
nice -n 15 bench/.venv/bin/python bench/forecast_m3.py baselines "$DATA" bench/out --prophet-every "$PROPHET_EVERY" \
    2>&1 | grep -v -e cmdstanpy -e plotly
nice -n 15 bench/.venv/bin/python bench/forecast_m3.py score "$DATA" bench/out 2>&1 | grep -v plotly
