#!/usr/bin/env bash
# Basket completion on arules' Groceries (9,835 baskets, no customers, no times), one scorer for
# every model (issue 4): every fifth basket with two or more items is a query with one item
# held out (`bodega eval recommendations --baskets`); Bodega's models and the peers (implicit
# cosine / BM25 / ALS, rusket EASE / ALS, trained by bench/recommend_peers.py on the same
# matrix) rank the catalogue without the query's own items; Bodega scores every top-10.
# Usage: bench/recommend_groceries.sh   (bench/.venv or $BODEGA_PEERS_VENV as in recommend.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BODEGA_DATA_DIR:-../shared/data}"
[ -d "$DATA/groceries" ] || DATA=/work/shared/data
. bench/recommend_setup.sh
OUT=bench/out/groceries_split
mkdir -p "$OUT"
BASKETS="$(realpath "$DATA/groceries/groceries_baskets.txt")"

echo "== export the queries"
"$BIN" eval recommendations --baskets "$BASKETS" --export-split "$OUT" "$@" >/dev/null
echo "== peers"
"$VENV/bin/python" bench/recommend_peers.py "$OUT" --exclude-seen
echo "== Bodega and the peers, one scorer"
"$BIN" eval recommendations --baskets "$BASKETS" --score-lists "$OUT"/peer-*.json \
    --out bench/out/groceries_eval.json "$@"
