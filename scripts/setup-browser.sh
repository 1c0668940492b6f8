#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the browser test of `glow-gpu serve`
# (scripts/browser-test.sh), when missing. Tests only; idempotent. Exit status 1 when they
# cannot be installed (the caller decides whether that is a skip or a failure).
set -euo pipefail
missing=()
for p in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup-browser: installing ${missing[*]}"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "setup-browser: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version 2>/dev/null | head -1 | cut -d' ' -f1-2)"
