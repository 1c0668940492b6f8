#!/usr/bin/env bash
# The one script to run on a GPU machine, from the unpacked bundle (dist/glow-gpu.tar.xz):
# no Swift, no network. Writes everything into OUTDIR (one file per stage, plus
# summary.txt) and finishes within eight minutes (GLOW_CHECK_SECONDS, default 470).
#
#   tar xJf glow-gpu.tar.xz && glow-gpu/scripts/gpu-check.sh /tmp/gpu-check
#
# Stages, each under `timeout`: the machine (nvidia-smi, driver libraries), NVIDIA's
# OpenCL driver registered through OCL_ICD_VENDORS when the system has not registered it,
# `devices --check`, `selftest --device gpu`, `bench --kernels --device gpu`, torch.matmul
# FP32 at the same GEMM shapes (when python3 has torch), `bench --config mnist|paper` at
# batch 16 and 64 with --json, and the CUDA stages when `devices` lists a CUDA device.
# A stage that fails or times out is recorded and the next one runs. GLOW_CHECK_DEVICE
# replaces `gpu` in the OpenCL stages (`opencl` rehearses the whole script on PoCL).
set -u
if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
out=$1
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
glow=${GLOW_GPU:-$here/glow-gpu}          # the bundle's launcher; GLOW_GPU overrides (e.g. a build in a checkout)
budget=${GLOW_CHECK_SECONDS:-470}
dev=${GLOW_CHECK_DEVICE:-gpu}             # the OpenCL stages' --device; e.g. `opencl` to rehearse on PoCL
start=$SECONDS
summary=$out/summary.txt
: > "$summary"

log() { echo "$*" | tee -a "$summary"; }

# stage NAME LIMIT COMMAND...: runs COMMAND under timeout, at most LIMIT seconds and never
# past the overall budget; stdout to NAME.out, stderr to NAME.err; one summary line.
stage() {
    local name=$1 limit=$2; shift 2
    local left=$((budget - (SECONDS - start) - 3))
    if [ "$left" -lt 5 ]; then log "$(printf '%-22s skipped: the %d s budget is spent' "$name" "$budget")"; return 1; fi
    [ "$limit" -gt "$left" ] && limit=$left
    local t0=$SECONDS
    timeout -k 5 "$limit" "$@" > "$out/$name.out" 2> "$out/$name.err"
    local rc=$?
    local what="ok"
    [ $rc -ne 0 ] && what="rc $rc"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="TIMED OUT after $limit s"
    log "$(printf '%-22s %-24s %3d s' "$name" "$what" $((SECONDS - t0)))"
    return $rc
}

log "glow-gpu gpu-check $(cat "$here/VERSION" 2>/dev/null || echo '(no VERSION)') on $(hostname 2>/dev/null), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
log "output in $out; budget $budget s"

# --- The machine ----------------------------------------------------------------------
{
    echo "## uname"; uname -a
    echo "## cpu"; grep -m1 'model name' /proc/cpuinfo; nproc
    echo "## memory"; grep -E 'MemTotal|MemAvailable' /proc/meminfo
    echo "## nvidia-smi"
    if command -v nvidia-smi >/dev/null; then timeout 20 nvidia-smi; else echo "nvidia-smi: not found"; fi
    echo "## driver libraries in /usr/local/nvidia/lib64"
    ls /usr/local/nvidia/lib64 2>/dev/null | grep -iE 'opencl|nvvm|ptxjit|cuda' || echo "(none or no such folder)"
    echo "## OpenCL vendors (/etc/OpenCL/vendors)"
    for f in /etc/OpenCL/vendors/*.icd; do [ -e "$f" ] && echo "$f: $(cat "$f")"; done
    echo "## libnvrtc / libcublas / libnvidia-opencl (find, 25 s at most)"
    timeout 25 find / -xdev \( -path /proc -o -path /sys \) -prune -o \
        \( -name 'libnvrtc*' -o -name 'libcublas*' -o -name 'libnvidia-opencl*' -o -name 'libcuda.so*' \) -print 2>/dev/null
    echo "## python3 / torch"
    torch_ok=0
    if command -v python3 && timeout 40 python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available()); sys.exit(0 if torch.cuda.is_available() else 1)'; then
        torch_ok=1
    fi
} > "$out/machine.txt" 2>&1
log "machine.txt: $(grep -m1 -E 'NVIDIA|not found' "$out/machine.txt" | tr -s ' ' | cut -c1-100)"

# --- NVIDIA's OpenCL driver ------------------------------------------------------------
# ocl-icd reads the .icd files of /etc/OpenCL/vendors, or of the folder OCL_ICD_VENDORS names.
# Containers often mount the driver without registering it: then register it in a temporary
# folder (with the system's other .icd files, so they stay visible).
if [ -z "${OCL_ICD_VENDORS:-}" ] && ! grep -qsi nvidia /etc/OpenCL/vendors/*.icd; then
    lib=""
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib \
             /usr/lib/x86_64-linux-gnu/nvidia/current /usr/local/cuda/lib64 /run/nvidia/driver/usr/lib/x86_64-linux-gnu; do
        for f in "$d"/libnvidia-opencl.so.1 "$d"/libnvidia-opencl.so.*; do
            if [ -e "$f" ]; then lib=$f; break 2; fi
        done
    done
    if [ -n "$lib" ]; then
        icd=$(mktemp -d /tmp/glow-icd.XXXXXX)
        cp /etc/OpenCL/vendors/*.icd "$icd/" 2>/dev/null
        echo "$lib" > "$icd/nvidia.icd"
        export OCL_ICD_VENDORS=$icd
        # The driver's own dependencies (libcuda, libnvidia-*) sit beside it.
        export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$(dirname "$lib")"
        log "OpenCL: registered $lib through OCL_ICD_VENDORS=$icd"
    else
        log "OpenCL: no registered NVIDIA driver and no libnvidia-opencl.so found"
    fi
else
    log "OpenCL: NVIDIA driver already registered (or OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-} given)"
fi

# --- glow-gpu ----------------------------------------------------------------------------
stage devices 60 "$glow" devices --check
# Whether a GPU is there is decided by trying it: `--device gpu` (or cuda) fails at once,
# naming the device option, when there is none, whatever `devices` prints.
absent() { grep -qE -- "--device (gpu|cuda|$dev)|Unexpected argument|unknown" "$out/$1.err" 2>/dev/null; }
has_gpu=1
stage selftest-gpu 120 "$glow" selftest --device "$dev"
if absent selftest-gpu; then
    has_gpu=0
    log "  no OpenCL GPU: $(head -n 1 "$out/selftest-gpu.err" | cut -c1-160)"
else
    log "  $(tail -n 1 "$out/selftest-gpu.out" 2>/dev/null)"
    stage bench-kernels-gpu 60 "$glow" bench --kernels --device "$dev"
    sed 's/^/  /' "$out/bench-kernels-gpu.out" 2>/dev/null | grep GFLOP | tee -a "$summary"
fi

if [ "$torch_ok" = 1 ]; then
    stage torch-matmul 60 python3 "$here/scripts/torch_matmul.py"
    log "  $(tail -n 1 "$out/torch-matmul.out" 2>/dev/null)"
else
    log "torch with CUDA not importable: torch.matmul skipped"
fi

figures() {   # the headline numbers of a bench --json line
    tr -d '{}"' < "$1" 2>/dev/null | tr ',' '\n' | grep -E 'images_per_second|gflops|launches|syncs' | tr -d ' ' | tr '\n' ' '
}
if [ $has_gpu = 1 ]; then
    for cfg in paper mnist; do
        for batch in 64 16; do
            stage "bench-$cfg-$batch-gpu" 75 "$glow" bench --config "$cfg" --batch "$batch" --device "$dev" --json && \
                log "  $(figures "$out/bench-$cfg-$batch-gpu.out")"
        done
    done
fi

stage selftest-cuda 120 "$glow" selftest --device cuda
if absent selftest-cuda; then
    log "  no CUDA device (or no CUDA backend in this build): $(head -n 1 "$out/selftest-cuda.err" | cut -c1-160)"
else
    log "  $(tail -n 1 "$out/selftest-cuda.out" 2>/dev/null)"
    stage bench-kernels-cuda 60 "$glow" bench --kernels --device cuda
    sed 's/^/  /' "$out/bench-kernels-cuda.out" 2>/dev/null | grep GFLOP | tee -a "$summary"
    for batch in 64 16; do
        stage "bench-paper-$batch-cuda" 75 "$glow" bench --config paper --batch "$batch" --device cuda --json && \
            log "  $(figures "$out/bench-paper-$batch-cuda.out")"
    done
fi

log "done in $((SECONDS - start)) s"
