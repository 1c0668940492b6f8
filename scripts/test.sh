#!/usr/bin/env bash
# Sets up the system packages, builds, and runs the whole test suite (CPU and OpenCL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test
# Every file parser under libFuzzer (Fuzz/, docs/reliability.md) for 20 s each, side by side.
bash scripts/fuzz.sh 20
