#!/usr/bin/env bash
# Recommendation requests per second over HTTP on the demo store, with wrk on the same 2 cores:
# POST /api/recommendations/basket (random two-product baskets) and
# POST /api/ml/recommendations/get (random customers, hybrid), both with an x-api-key.
# Usage: bench/recommend_http.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN="${1:-10}"
CONNECTIONS="${2:-64}"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
[ -n "${BODEGA_BENCH_NO_BUILD:-}" ] || cargo build --release -q -p bodega
BIN=target/release/bodega
PORT=18282
tmp=$(mktemp -d)
export BODEGA_DATABASE_URL="sqlite://$tmp/bench.db" BODEGA_BIND="127.0.0.1:$PORT" BODEGA_RATE_LIMIT_PER_SECOND=0 \
    BODEGA_LOG_LEVEL=warn BODEGA_LOGIN_ATTEMPTS_PER_MINUTE=1000
"$BIN" admin create --email bench@bodega.local --password bench-password >/dev/null
"$BIN" demo >"$tmp/demo.log" 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
token=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@bodega.local","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
key=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/api-keys" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"bench","permissions":["ml:read"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
sleep 2 # the recommender loads in the background after start
export BODEGA_BENCH_KEY="$key" BODEGA_BENCH_PRODUCTS=300
grep -h "Recommendation model" "$tmp/demo.log" || true
for path in basket user; do
    url="http://127.0.0.1:$PORT/api/recommendations/basket"
    [ "$path" = user ] && url="http://127.0.0.1:$PORT/api/ml/recommendations/get"
    echo "== $path: $url"
    BODEGA_BENCH_PATH=$path wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" -s bench/recommend_http.lua "$url" | grep -E "RESULT|Requests/sec"
done
echo "== a sale in the next recommendation"
python3 bench/sale_to_recommendation.py "http://127.0.0.1:$PORT" "$token" 50
