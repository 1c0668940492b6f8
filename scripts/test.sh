#!/usr/bin/env bash
# Sets up the system packages, builds, and runs the whole test suite (CPU and OpenCL, and
# kernels.cl through NVRTC for CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-cuda-tools.sh
swift build --build-tests
swift test
# The GPU kernel variant (local-memory tiles, barriers, implicit-GEMM convolutions, tree
# reductions) on PoCL: every test class in Tests/GlowTests/Backends/ (the self-test's rows on
# every backend against Float64 and the CPU, kernel tables and tuning, the training step on
# the device with its one host wait and LU kernels, CPU/OpenCL model parity) again, with
# every OpenCL operation taking its GPU path (CPU-only tests live elsewhere, e.g. CPU/). About
# a minute. The classes are read from the folder's files, so a renamed or new class there is
# included; the pass stops here if the folder yields fewer classes or tests than stated below
# (raise them when adding some).
gpu_min_classes=11
gpu_min_tests=36
gpu_classes=$(sed -nE 's/^(final )?class ([A-Za-z0-9_]+) *: *XCTestCase.*/\2/p' Tests/GlowTests/Backends/*.swift | sort -u)
gpu_class_count=$(printf '%s\n' "$gpu_classes" | grep -c . || true)
if [ "$gpu_class_count" -lt "$gpu_min_classes" ]; then
    echo "test.sh: $gpu_class_count XCTestCase classes in Tests/GlowTests/Backends/, fewer than $gpu_min_classes" >&2
    exit 1
fi
gpu_filter="^GlowTests\.($(printf '%s\n' "$gpu_classes" | paste -sd'|' -))/"
gpu_test_count=$(swift test list --skip-build | grep -cE "$gpu_filter" || true)
if [ "$gpu_test_count" -lt "$gpu_min_tests" ]; then
    echo "test.sh: the GPU-variant pass ($gpu_filter) lists $gpu_test_count tests, fewer than $gpu_min_tests" >&2
    exit 1
fi
echo "test.sh: GPU-variant pass: $gpu_test_count tests in $gpu_class_count classes"
GLOW_CL_VARIANT=gpu GLOW_REQUIRE_OPENCL=1 swift test --skip-build --filter "$gpu_filter"
# The per-operation parity rows again with the NVIDIA entry's tile (128 × 128, K-slices of 8)
# and with narrower __local vectors, so every shape of the tiled kernels that a tuning can
# pick has run on PoCL (kernels.cl compiles each as its own program).
parity_filter="^GlowTests\.BackendParityTests/"
if [ "$(swift test list --skip-build | grep -cE "$parity_filter" || true)" -lt 5 ]; then
    echo "test.sh: $parity_filter lists fewer than 5 tests (renamed?)" >&2
    exit 1
fi
for tuning in "MWG=128,NWG=128,KWG=8,MDIMC=16,NDIMC=16" "VWM=2,VWN=1"; do
    echo "test.sh: parity rows with GLOW_CL_TUNING=$tuning"
    GLOW_CL_VARIANT=gpu GLOW_CL_TUNING="$tuning" GLOW_REQUIRE_OPENCL=1 swift test --skip-build --filter "$parity_filter"
done
# `glow-gpu serve` in headless Chromium (scripts/browser-test.sh; installs Debian's chromium and
# chromium-driver, skips with a message when they cannot be installed unless GLOW_REQUIRE_BROWSER=1).
bash scripts/browser-test.sh
# Every file parser under libFuzzer (Fuzz/, docs/reliability.md) for 20 s each, side by side.
bash scripts/fuzz.sh 20
# The portable bundle (release build, static Swift runtime) run from / under env -i.
bash scripts/bundle-test.sh
