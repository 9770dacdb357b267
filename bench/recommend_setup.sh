# Sourced by bench/recommend*.sh: the peers' venv (implicit, rusket; created when missing, or
# $BODEGA_PEERS_VENV), the release build of bodega, and the machine it runs on.
# Sets VENV and BIN; expects to run from the repository root.
TARGET="${CARGO_TARGET_DIR:-target}"
VENV="${BODEGA_PEERS_VENV:-bench/.venv}"
if ! "$VENV/bin/python" -c 'import implicit, rusket, threadpoolctl, scipy' 2>/dev/null; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q implicit rusket threadpoolctl scipy
fi
[ -n "${BODEGA_BENCH_NO_BUILD:-}" ] || nice -n 15 cargo build --release -q -p bodega
BIN="$TARGET/release/bodega"
nproc; grep -m1 'model name' /proc/cpuinfo || true
