#!/usr/bin/env bash
# Builds a portable glow-gpu for a Linux machine without Swift (glibc 2.35+):
#   dist/glow-gpu/glow-gpu      launcher (sets LD_LIBRARY_PATH to lib/, execs bin/glow-gpu)
#   dist/glow-gpu/bin/glow-gpu  release binary, Swift runtime and Foundation linked statically
#   dist/glow-gpu/lib/          every shared library `ldd` lists beyond glibc, libstdc++, libgcc_s
#   dist/glow-gpu/data/mnist/   the MNIST files (the binary finds data/mnist above its own folder)
#   dist/glow-gpu/scripts/      gpu-check.sh and its helpers
# and dist/glow-gpu.tar.xz of that folder (not with --no-tar: xz takes minutes on 2 cores).
# GPU drivers (OpenCL ICDs, CUDA) are loaded at
# run time from the machine, not bundled.
set -euo pipefail
tarball=1
[ "${1:-}" = "--no-tar" ] && tarball=0
cd "$(dirname "$0")/.."
root=$(pwd)
out=dist/glow-gpu
start=$SECONDS

# A scratch folder of its own, so the static build does not evict the normal release build.
swift build -c release --static-swift-stdlib --product glow-gpu --scratch-path .build-bundle
bin=$(swift build -c release --static-swift-stdlib --product glow-gpu --scratch-path .build-bundle --show-bin-path)/glow-gpu
echo "bundle: built in $((SECONDS - start)) s"

rm -rf "$out" dist/glow-gpu.tar.xz
mkdir -p "$out/bin" "$out/lib" "$out/data" "$out/scripts"
cp "$bin" "$out/bin/glow-gpu"
command -v strip >/dev/null && strip "$out/bin/glow-gpu"

# Libraries: what the dynamic linker resolves for the binary, less the C runtime every
# Linux has. cp -L copies the file behind Debian's alternatives symlinks under the soname.
skip='^(linux-vdso|ld-linux|libc|libm|libmvec|libdl|libpthread|librt|libutil|libresolv|libanl|libstdc\+\+|libgcc_s)\.so'
missing=$(ldd "$out/bin/glow-gpu" | awk '/=> not found/ {print $1}')
if [ -n "$missing" ]; then echo "bundle: ldd cannot resolve: $missing" >&2; exit 1; fi
ldd "$out/bin/glow-gpu" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    if [[ "$name" =~ $skip ]]; then continue; fi
    cp -L "$path" "$out/lib/$name"
done
# Nothing from the Swift toolchain may be left: the point is a machine without it.
if ldd "$out/bin/glow-gpu" | grep -q '/swift'; then echo "bundle: the binary still links the Swift toolchain's libraries" >&2; exit 1; fi

cat > "$out/glow-gpu" <<'LAUNCHER'
#!/bin/sh
# Runs the bundled glow-gpu with the bundled shared libraries (works under `env -i`).
case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
here=$(cd -P "$here" && pwd -P)
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$here/bin/glow-gpu" "$@"
LAUNCHER
chmod +x "$out/glow-gpu"

cp -r data/mnist "$out/data/mnist"
cp scripts/gpu-check.sh scripts/torch_matmul.py "$out/scripts/"
git -C "$root" rev-parse --short HEAD > "$out/VERSION" 2>/dev/null || echo unknown > "$out/VERSION"

echo "bundle: $(du -sh "$out" | cut -f1) in $out (lib: $(ls "$out/lib" | tr '\n' ' '))"
if [ $tarball = 1 ]; then
    command -v xz >/dev/null || { echo "bundle: xz not found (Debian: apt-get install xz-utils)" >&2; exit 1; }
    tar -C dist -cf - glow-gpu | xz -T0 -6 > dist/glow-gpu.tar.xz
    echo "bundle: $(du -h dist/glow-gpu.tar.xz | cut -f1) dist/glow-gpu.tar.xz"
fi
echo "bundle: $((SECONDS - start)) s in all"
