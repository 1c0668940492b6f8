#!/usr/bin/env bash
# Installs the Debian packages glow-gpu builds and runs with, when missing. Idempotent.
set -euo pipefail
packages=(ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libopenblas-dev pkg-config libpng-dev zlib1g-dev clinfo libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Fashion-MNIST for --dataset fashion-mnist; optional, so a failure here is only reported.
optional=(dataset-fashion-mnist)
opt_missing=()
for p in "${optional[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#opt_missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${missing[*]} ${opt_missing[*]}"
    $sudo apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ${#opt_missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" >/dev/null \
            || echo "setup: optional ${opt_missing[*]} not installed (only --dataset fashion-mnist needs it)"
    fi
fi
echo "setup: system packages present"
