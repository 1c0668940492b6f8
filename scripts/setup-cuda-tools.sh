#!/usr/bin/env bash
# Installs PyPI's NVRTC (the CUDA run-time compiler, which needs no GPU) into the
# git-ignored .cuda-tools/, for the tests that compile kernels.cl for sm_80 and sm_90.
# The CUDA backend's loader also looks there. Idempotent; about 60 MB to download.
set -euo pipefail
cd "$(dirname "$0")/.."
version=13.5.37
dir=.cuda-tools
stamp="$dir/.nvidia-cuda-nvrtc-$version"
if [ -f "$stamp" ]; then
    echo "setup-cuda-tools: NVRTC $version present in $dir"
    exit 0
fi
python=python3
command -v "$python" >/dev/null || python=python
if ! "$python" -m pip --version >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup-cuda-tools: installing python3-pip"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    python=python3
fi
rm -rf "$dir"
# --target keeps it out of every Python environment; --no-deps: the wheel is self-contained.
"$python" -m pip install --disable-pip-version-check --root-user-action=ignore --no-input -q --no-deps --target "$dir" "nvidia-cuda-nvrtc==$version"
touch "$stamp"
echo "setup-cuda-tools: NVRTC $version installed in $dir"
