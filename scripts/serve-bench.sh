#!/usr/bin/env bash
# Benchmark of `glow-gpu serve` (docs/serve.md, "Latency"): an untrained `mnist`-configuration
# model (1 training step, no test split) served on the CPU backend, and 50 requests of a
# 16-image grid from scripts/serve-bench.py. Not a test: it prints the figures.
#   scripts/serve-bench.sh [REQUESTS]        environment: GLOW_GPU_BINARY (default .build/release/glow-gpu),
#                                            GLOW_BENCH_CHECKPOINT (use this checkpoint instead), GLOW_BENCH_DEVICE (cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${GLOW_GPU_BINARY:-.build/release/glow-gpu}"
[ -x "$bin" ] || { echo "serve-bench: $bin not found (swift build -c release first)" >&2; exit 2; }
work="$(mktemp -d /tmp/glow-serve-bench-XXXXXX)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
ckpt="${GLOW_BENCH_CHECKPOINT:-}"
if [ -z "$ckpt" ]; then
    "$bin" train --config mnist --steps 1 --device cpu --no-test --out "$work/run" >"$work/train.log" 2>&1 \
        || { cat "$work/train.log" >&2; exit 1; }
    ckpt="$work/run/checkpoint.safetensors"
fi
"$bin" serve --checkpoint "$ckpt" --device "${GLOW_BENCH_DEVICE:-cpu}" --port 0 --dataset none >"$work/serve.log" 2>&1 &
server=$!
port=""
for _ in $(seq 1 600); do
    port="$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/serve.log" | grep -o '[0-9]*$' || true)"
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { echo "serve-bench: glow-gpu serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
head -1 "$work/serve.log"
python3 scripts/serve-bench.py --url "http://127.0.0.1:$port/" --requests "${1:-50}" --count 16
