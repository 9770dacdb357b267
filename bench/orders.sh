#!/usr/bin/env bash
# Orders created + confirmed + shipped per second at concurrency 32, on SQLite and PostgreSQL.
# Usage: bench/orders.sh [seconds] [concurrency]   (results in bench/out/orders-*.json)
# BODEGA_BENCH_SQLITE_ONLY=1 or BODEGA_BENCH_POSTGRES_ONLY=1 runs one backend only.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN="${1:-20}"
CONCURRENCY="${2:-32}"
PG_BASE="${BODEGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
mkdir -p bench/out
[ -n "${BODEGA_BENCH_NO_BUILD:-}" ] || cargo build --release -q -p bodega -p bodega-bench-orders
BIN="${CARGO_TARGET_DIR:-target}/release/bodega"
LOAD="${CARGO_TARGET_DIR:-target}/release/bodega-bench-orders"
PORT="${BODEGA_BENCH_PORT:-18181}"

run() {
    local label="$1" url="$2"
    export BODEGA_DATABASE_URL="$url" BODEGA_BIND="127.0.0.1:$PORT" BODEGA_RATE_LIMIT_PER_SECOND=0 \
        BODEGA_LOG_LEVEL=warn BODEGA_LOGIN_ATTEMPTS_PER_MINUTE=1000
    "$BIN" admin create --email bench@bodega.local --password bench-password >/dev/null
    "$BIN" serve & local pid=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
    "$LOAD" --url "http://127.0.0.1:$PORT" --email bench@bodega.local --password bench-password \
        --concurrency "$CONCURRENCY" --seconds "$SECONDS_RUN" --label "$label" | tee "bench/out/orders-$label.txt"
    tail -n 1 "bench/out/orders-$label.txt" > "bench/out/orders-$label.json"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

tmp=$(mktemp -d)
[ -n "${BODEGA_BENCH_POSTGRES_ONLY:-}" ] || run sqlite "sqlite://$tmp/bench.db"

db="bodega_bench_$$"
psql "$PG_BASE" -qc "CREATE DATABASE $db"
[ -n "${BODEGA_BENCH_SQLITE_ONLY:-}" ] || run postgres "${PG_BASE%/*}/$db"
psql "$PG_BASE" -qc "DROP DATABASE $db WITH (FORCE)"
rm -rf "$tmp"
