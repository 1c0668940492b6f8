#!/usr/bin/env bash
# Builds the portable bundle (scripts/bundle.sh, without the .tar.xz), copies it to a
# temporary folder, and runs it from / with an empty environment: `devices`, the operation
# rows of `selftest` on the first OpenCL device (PoCL through the bundled libOpenCL), and a
# 3-step tiny training on the bundled MNIST. Fails on any error or missing output.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/bundle.sh --no-tar
tmp=$(mktemp -d /tmp/glow-bundle-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r dist/glow-gpu "$tmp/glow-gpu"   # elsewhere than the checkout: nothing may come from it
g=$tmp/glow-gpu/glow-gpu
cd /
env -i "$g" devices | tee "$tmp/devices.txt"
grep -q '^cpu ' "$tmp/devices.txt"
if [ "${GLOW_REQUIRE_OPENCL:-}" = 1 ]; then grep -q '^opencl:0' "$tmp/devices.txt"; fi
if grep -q '^opencl:0' "$tmp/devices.txt"; then
    # PoCL itself runs `ld` from PATH to link kernels it has not cached: give it a PATH.
    env -i PATH=/usr/bin:/bin HOME="$tmp" "$g" selftest --device opencl --no-model | tail -n 1
fi
env -i "$g" train --config tiny --steps 3 --device cpu --eval-every 0 --sample-every 0 --out "$tmp/run" | tail -n 3
test -s "$tmp/run/checkpoint.safetensors"
test "$(grep -c '"step"' "$tmp/run/metrics.jsonl")" -ge 3
echo "bundle-test: ok in $((SECONDS - start)) s"
