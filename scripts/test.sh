#!/usr/bin/env bash
# Sets up the system packages, builds, and runs the whole test suite (CPU and OpenCL, and
# kernels.cl through NVRTC for CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-cuda-tools.sh
swift build --build-tests
swift test
