#!/usr/bin/env bash
# Recommendations side by side, one split and one scorer for every model (issue 4):
# Bodega's models (bodega eval recommendations) and the peers implicit (CosineRecommender,
# BM25Recommender, AlternatingLeastSquares) and rusket (EASE, ALS), trained by
# bench/recommend_peers.py on the training split Bodega exports, their top-10 lists scored by
# Bodega with the same metrics.
# Usage: bench/recommend.sh [TEST_FROM]   (default 2011-11-01; Online Retail)
# Creates bench/.venv with implicit and rusket when missing (or uses $BODEGA_PEERS_VENV).
# Results in bench/out/recommend_*.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BODEGA_DATA_DIR:-../shared/data}"
[ -d "$DATA/online_retail" ] || DATA=/work/shared/data
TEST_FROM="${1:-2011-11-01}"
. bench/recommend_setup.sh
OUT=bench/out/recommend_split
mkdir -p "$OUT"
CSV="$(realpath "$DATA/online_retail/online_retail.csv")"

echo "== export the split"
"$BIN" eval recommendations --online-retail "$CSV" --test-from "$TEST_FROM" --export-split "$OUT" >/dev/null
echo "== peers"
"$VENV/bin/python" bench/recommend_peers.py "$OUT"
echo "== Bodega (settings tuned on a validation split before $TEST_FROM) and the peers, one scorer"
"$BIN" eval recommendations --online-retail "$CSV" --test-from "$TEST_FROM" --tune \
    --score-lists "$OUT"/peer-*.json --out bench/out/recommend_eval.json 2>bench/out/recommend_tuning.log
echo "== latency (in-process)"
nice -n 10 cargo bench -q -p bodega-recommend --bench latency -- "$CSV" "$TEST_FROM"
