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
# reductions) on PoCL: the parity suite, the model-level CPU/OpenCL parity and the training
# step on the device (TrainingStepTests: one host wait, the LU kernels) again, with every
# OpenCL operation taking its GPU path. One to two minutes.
GLOW_CL_VARIANT=gpu GLOW_REQUIRE_OPENCL=1 swift test --skip-build \
    --filter 'BackendParityTests|KernelTableTests|KernelTuningTests|GradientTests/testBackendGradientParity|ModelTests/testBackendParity|SelfTestTests/testPassesOnOpenCL|TrainingStepTests'
# `glow-gpu serve` in headless Chromium (scripts/browser-test.sh; installs Debian's chromium and
# chromium-driver, skips with a message when they cannot be installed unless GLOW_REQUIRE_BROWSER=1).
bash scripts/browser-test.sh
# Every file parser under libFuzzer (Fuzz/, docs/reliability.md) for 20 s each, side by side.
bash scripts/fuzz.sh 20
# The portable bundle (release build, static Swift runtime) run from / under env -i.
bash scripts/bundle-test.sh
