#!/usr/bin/env bash
# Sets up the system packages, builds, and runs the whole test suite (CPU and OpenCL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test
# The portable bundle (release build, static Swift runtime) run from / under env -i.
bash scripts/bundle-test.sh
