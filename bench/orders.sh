#!/usr/bin/env bash
# Orders created + confirmed + shipped per second at concurrency 32, on SQLite and PostgreSQL.
# Usage: bench/orders.sh [seconds] [concurrency]   (results in bench/out/orders-*.json)
# BODEGA_BENCH_SQLITE_ONLY=1 or BODEGA_BENCH_POSTGRES_ONLY=1 runs one backend only.
# Each run ends with the CPU per order of the server, the load generator and, when PostgreSQL
# runs on this machine and its data directory is readable, its backends (all of them).
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
    local postmaster="" server0 pg0 load_cpu
    [ "$label" = postgres ] && postmaster=$(postmaster_pid)
    server0=$(cpu_ticks "$pid"); pg0=$(cpu_ticks "$postmaster")
    TIMEFORMAT='%U %S'
    load_cpu=$( { time "$LOAD" --url "http://127.0.0.1:$PORT" --email bench@bodega.local --password bench-password \
        --concurrency "$CONCURRENCY" --seconds "$SECONDS_RUN" --label "$label" > "bench/out/orders-$label.txt"; } 2>&1 )
    cat "bench/out/orders-$label.txt"
    tail -n 1 "bench/out/orders-$label.txt" > "bench/out/orders-$label.json"
    local server1; server1=$(cpu_ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    sleep 0.5 # the backends exit and are reaped: their time joins the postmaster's children's
    report_cpu "$label" $((server1 - server0)) "$load_cpu" $(($(cpu_ticks "$postmaster") - pg0)) | tee -a "bench/out/orders-$label.txt"
}

# CPU time in clock ticks of a process and of its reaped children (0 without a readable pid).
cpu_ticks() { { [ -n "$1" ] && awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null; } || echo 0; }

# The local PostgreSQL server's main process, whose reaped children are the backends; empty when
# the server is elsewhere or its data directory cannot be read.
postmaster_pid() {
    local dir; dir=$(psql "$PG_BASE" -Atc "SHOW data_directory" 2>/dev/null) || return 0
    head -n 1 "$dir/postmaster.pid" 2>/dev/null || true
}

# CPU milliseconds per order of the server, the load generator and (PostgreSQL, when local) the
# database backends: where the two cores went.
report_cpu() {
    local label="$1" server_ticks="$2" load_cpu="$3" pg_ticks="$4" orders
    orders=$(grep -o '"orders":[0-9]*' "bench/out/orders-$label.json" | cut -d: -f2)
    awk -v n="${orders:-0}" -v hz="$(getconf CLK_TCK)" -v s="$server_ticks" -v l="$load_cpu" -v p="$pg_ticks" -v pg="$label" 'BEGIN {
        if (n == 0) exit
        split(l, t, " ")
        printf "cpu ms/order: server %.2f, load generator %.2f", s * 1000 / hz / n, (t[1] + t[2]) * 1000 / n
        if (pg == "postgres") printf ", PostgreSQL backends %s", (p > 0 ? sprintf("%.2f", p * 1000 / hz / n) : "not measured")
        printf "\n" }'
}

tmp=$(mktemp -d)
[ -n "${BODEGA_BENCH_POSTGRES_ONLY:-}" ] || run sqlite "sqlite://$tmp/bench.db"

db="bodega_bench_$$"
psql "$PG_BASE" -qc "CREATE DATABASE $db"
[ -n "${BODEGA_BENCH_SQLITE_ONLY:-}" ] || run postgres "${PG_BASE%/*}/$db"
psql "$PG_BASE" -qc "DROP DATABASE $db WITH (FORCE)"
rm -rf "$tmp"
