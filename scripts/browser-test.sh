#!/usr/bin/env bash
# The browser test of `glow-gpu serve`: trains the `tiny` configuration for 2 steps (or takes
# GLOW_BROWSER_CHECKPOINT), serves it on 127.0.0.1 and a free port, and drives headless
# Chromium through the page with scripts/browser-test.py (moves the temperature, steps and a
# label slider, uploads a PNG). Screenshots go to GLOW_BROWSER_SCREENSHOTS (default: a
# temporary folder; docs/serve-*.png were made with GLOW_BROWSER_SCREENSHOTS=docs and the
# README's mnist checkpoint). Without chromium and chromedriver (scripts/setup-browser.sh
# installs them) it is skipped with a message, or fails when GLOW_REQUIRE_BROWSER=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${GLOW_GPU_BINARY:-.build/debug/glow-gpu}"
[ -x "$bin" ] || { echo "browser test: $bin not found (run swift build first, or set GLOW_GPU_BINARY)" >&2; exit 2; }
if ! bash scripts/setup-browser.sh; then
    msg="browser test: chromium and chromium-driver are not installed and could not be installed (apt-get install chromium chromium-driver)"
    if [ "${GLOW_REQUIRE_BROWSER:-0}" = 1 ]; then echo "$msg; GLOW_REQUIRE_BROWSER=1 makes this a failure" >&2; exit 1; fi
    echo "$msg; skipped"
    exit 0
fi
work="$(mktemp -d /tmp/glow-browser-XXXXXX)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
ckpt="${GLOW_BROWSER_CHECKPOINT:-}"
if [ -z "$ckpt" ]; then
    "$bin" train --config tiny --image-size 8 --steps 2 --device cpu --no-test --out "$work/run" >"$work/train.log" 2>&1 \
        || { cat "$work/train.log" >&2; exit 1; }
    ckpt="$work/run/checkpoint.safetensors"
fi
"$bin" serve --checkpoint "$ckpt" --device "${GLOW_BROWSER_DEVICE:-cpu}" --port 0 --directions-cache none \
    --direction-count "${GLOW_BROWSER_DIRECTION_COUNT:-20}" >"$work/serve.log" 2>&1 &
server=$!
port=""
for _ in $(seq 1 1200); do   # at most 120 s
    port="$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/serve.log" | grep -o '[0-9]*$' || true)"
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { echo "browser test: glow-gpu serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
timeout 180 python3 scripts/browser-test.py --url "http://127.0.0.1:$port/" \
    --screenshots "${GLOW_BROWSER_SCREENSHOTS:-$work/screenshots}"
