#!/usr/bin/env bash
# The one script to run on a GPU machine, from the unpacked bundle (dist/glow-gpu.tar.xz):
# no Swift, no network. Writes one file per stage into OUTDIR (NAME.out, NAME.err) and the
# figures into OUTDIR/summary.txt, within GLOW_CHECK_SECONDS (default 470; --quick: 170).
#
#   tar xJf glow-gpu.tar.xz && glow-gpu/scripts/gpu-check.sh /tmp/gpu-check
#   glow-gpu/scripts/gpu-check.sh --quick /tmp/gpu-check     # the CUDA stages alone, < 3 minutes
#   glow-gpu/scripts/gpu-check.sh --plan                     # the stages and their limits, nothing run
#
# Stages in the order a short lease needs them (docs/benchmarks.md, "gpu-check"): machine
# facts; CUDA: devices, selftest, bench FP32 and TF32 (paper and mnist at batch 64, paper at
# 256), torch.matmul ceilings (FP32 and TF32) at Glow's GEMM shapes, selftest --precision
# tf32, 200 mnist training steps in FP32 and in TF32 (bpd side by side); then OpenCL:
# selftest, bench --kernels, bench paper at 64. Each stage runs under `timeout` with its own
# limit, and never past the budget; the limits of the full plan add up to the budget less a
# minute. A stage that fails or times out is recorded and the next one runs; CUDA stages are
# skipped, with the reason `devices` gives, when there is no usable CUDA device.
#
# Overrides (CI runs the whole script on the CUDA emulator and PoCL with tiny settings):
#   GLOW_GPU                   the glow-gpu to run (default: the bundle's launcher)
#   GLOW_CHECK_SECONDS         the budget
#   GLOW_CHECK_SCALE           multiplies every stage limit and the budget (a slow CI machine)
#   GLOW_CHECK_DEVICE          the OpenCL stages' --device (default gpu; `opencl` rehearses on PoCL)
#   GLOW_CHECK_CUDA_BENCHES    config:batch list (default "paper:64 mnist:64 paper:256")
#   GLOW_CHECK_OPENCL_BENCHES  config:batch list (default "paper:64")
#   GLOW_CHECK_BENCH_STEPS     timed steps per bench (default 3)
#   GLOW_CHECK_KERNEL_BATCH    images in bench --kernels' shapes (default 64)
#   GLOW_CHECK_TRAIN_ARGS      the training stages' options (default "--config mnist --steps 200")
set -u
usage() { echo "usage: $0 [--quick] OUTDIR | $0 [--quick] --plan" >&2; exit 2; }
quick=0 plan_only=0 out=""
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        --plan) plan_only=1 ;;
        -*) usage ;;
        *) [ -n "$out" ] && usage; out=$a ;;
    esac
done
[ $plan_only = 0 ] && [ -z "$out" ] && usage

here=$(cd "$(dirname "$0")/.." && pwd)
glow=${GLOW_GPU:-$here/glow-gpu}
scale=${GLOW_CHECK_SCALE:-1}
case "$scale" in ''|*[!0-9]*|0) echo "GLOW_CHECK_SCALE=$scale: expected a whole number ≥ 1" >&2; exit 2 ;; esac
if [ $quick = 1 ]; then budget=${GLOW_CHECK_SECONDS:-170}; else budget=${GLOW_CHECK_SECONDS:-470}; fi
case "$budget" in ''|*[!0-9]*) echo "GLOW_CHECK_SECONDS=$budget: expected a number of seconds" >&2; exit 2 ;; esac
budget=$((budget * scale))
dev=${GLOW_CHECK_DEVICE:-gpu}
# --quick leaves out paper at 256, the largest bench.
if [ $quick = 1 ]; then cuda_benches=${GLOW_CHECK_CUDA_BENCHES:-paper:64 mnist:64}
else cuda_benches=${GLOW_CHECK_CUDA_BENCHES:-paper:64 mnist:64 paper:256}; fi
opencl_benches=${GLOW_CHECK_OPENCL_BENCHES:-paper:64}
bench_steps=${GLOW_CHECK_BENCH_STEPS:-3}
kernel_batch=${GLOW_CHECK_KERNEL_BATCH:-64}
train_args=${GLOW_CHECK_TRAIN_ARGS:---config mnist --steps 200}

# --- The plan: "name limit" per stage, in order ------------------------------------------
# A bench's limit: process start, model set-up, a warm-up step and the timed steps, with
# CUDA start-up and cuBLAS's first calls; batch 256 of paper holds ~11 GB of activations.
bench_limit() {   # config batch precision
    local l=15
    case "$1" in paper) l=20; [ "$2" -ge 256 ] && l=25 ;; esac
    [ "$3" = tf32 ] && [ "$1" = paper ] && l=$((l - 5))   # the module is cached by then
    echo $l
}
plan=()
add() { plan+=("$1 $(($2 * scale))"); }
add machine 15                       # facts only: nvidia-smi, driver libraries, CPU, memory
add devices 10                       # CUDA's libraries and devices, or why there are none
add selftest-cuda 45                 # NVRTC compiles kernels.cl (cached for the stages after)
for spec in $cuda_benches; do
    for p in fp32 tf32; do add "bench-cuda-$p-${spec/:/-}" "$(bench_limit "${spec%%:*}" "${spec##*:}" $p)"; done
done
add torch-matmul 30                  # import torch, then FP32 and TF32 at the same GEMM shapes
add selftest-cuda-tf32 15
add train-fp32 40                    # 200 mnist steps, test bpd on the 10000 test images
add train-tf32 40
if [ $quick = 0 ]; then
    add selftest-opencl 40           # includes building kernels.cl for the device
    add bench-kernels-opencl 20
    for spec in $opencl_benches; do add "bench-opencl-${spec/:/-}" 25; done
fi
total=0
for s in "${plan[@]}"; do total=$((total + ${s##* })); done
if [ $plan_only = 1 ]; then
    for s in "${plan[@]}"; do printf '%-28s %4d s\n' "${s% *}" "${s##* }"; done
    printf '%-28s %4d s of a %d s budget\n' "total" "$total" "$budget"
    [ "$total" -gt "$budget" ] && echo "(more than the budget: the stages run in order until it is spent; later ones are skipped)"
    exit 0
fi

mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
start=$SECONDS
summary=$out/summary.txt
: > "$summary"
log() { echo "$*" | tee -a "$summary"; }

# stage NAME LIMIT COMMAND...: runs COMMAND under timeout, at most LIMIT seconds and never
# past the budget; stdout to NAME.out, stderr to NAME.err; one summary line.
stage() {
    local name=$1 limit=$2; shift 2
    local left=$((budget - (SECONDS - start) - 3))
    if [ "$left" -lt 5 ]; then
        log "$(printf '%-26s skipped: the %d s budget is spent' "$name" "$budget")"
        : > "$out/$name.out"; echo "skipped: the $budget s budget is spent" > "$out/$name.err"
        return 125
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    local t0=$SECONDS
    timeout -k 5 "$limit" "$@" > "$out/$name.out" 2> "$out/$name.err"
    local rc=$?
    local what="ok"
    [ $rc -ne 0 ] && what="rc $rc"
    { [ $rc -eq 124 ] || [ $rc -eq 137 ]; } && what="TIMED OUT after $limit s"
    log "$(printf '%-26s %-24s %3d s' "$name" "$what" $((SECONDS - t0)))"
    return $rc
}
skip() {   # NAME WHY: a stage not run, with its (empty) files
    log "$(printf '%-26s skipped: %s' "$1" "$2")"
    : > "$out/$1.out"; echo "skipped: $2" > "$out/$1.err"
}
limit_of() { local s; for s in "${plan[@]}"; do [ "${s% *}" = "$1" ] && { echo "${s##* }"; return; }; done; echo 30; }
json_field() {   # FILE FIELD: a number from a bench --json line
    sed -n "s/.*\"$2\": *\([-0-9.e+]*\).*/\1/p" "$1" 2>/dev/null | head -n 1
}

log "glow-gpu gpu-check $(cat "$here/VERSION" 2>/dev/null || echo '(no VERSION)') on $(hostname 2>/dev/null), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
log "output in $out; $([ $quick = 1 ] && echo 'quick: CUDA stages only; ')budget $budget s, stage limits $total s"

# --- Machine facts (no GPU work) --------------------------------------------------------
machine_facts() {
    echo "## uname"; uname -a
    echo "## cpu"; grep -m1 'model name' /proc/cpuinfo; nproc
    echo "## memory"; grep -E 'MemTotal|MemAvailable' /proc/meminfo
    echo "## nvidia-smi"
    if command -v nvidia-smi >/dev/null; then
        timeout 5 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,power.limit --format=csv
        timeout 5 nvidia-smi
    else
        echo "nvidia-smi: not found"
    fi
    echo "## CUDA libraries the dynamic loader knows (ldconfig -p)"
    { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -E 'libcuda\.so|libnvrtc|libcublas|libnvidia-opencl' || echo "(none)"
    echo "## folders"
    ls -d /usr/local/cuda* /usr/local/nvidia/lib64 2>/dev/null || echo "(no /usr/local/cuda*, no /usr/local/nvidia)"
    echo "## OpenCL vendors (/etc/OpenCL/vendors)"
    for f in /etc/OpenCL/vendors/*.icd; do [ -e "$f" ] && echo "$f: $(cat "$f")"; done
    echo "## python3"
    command -v python3 && timeout 4 python3 -c 'import importlib.util as u; print("torch", "installed" if u.find_spec("torch") else "not installed")'
    echo "## environment"
    env | grep -E '^(CUDA_VISIBLE_DEVICES|LD_LIBRARY_PATH|GLOW_CUDA_PATH|VIRTUAL_ENV|CONDA_PREFIX|PATH)=' | sort
}
stage machine "$(limit_of machine)" bash -c "$(declare -f machine_facts); machine_facts"
gpu=$(grep -A1 -m1 '^name, driver_version' "$out/machine.out" 2>/dev/null | tail -n 1 | cut -c1-110)
log "  GPU: ${gpu:-none listed (nvidia-smi missing or failed; machine.out)}"

# --- CUDA ----------------------------------------------------------------------------------
stage devices "$(limit_of devices)" "$glow" devices
cuda_line=$(grep -m1 '^cuda' "$out/devices.out" 2>/dev/null)
has_cuda=0
case "$cuda_line" in
    cuda:*) has_cuda=1; log "  $(echo "$cuda_line" | tr -s ' ')" ;;
    "cuda       unavailable: "*)
        reason=${cuda_line#cuda       unavailable: }
        # Which of CUDA's parts is missing, by the words the reason starts with (CUDAError.Unavailability).
        kind="CUDA unusable"
        case "$reason" in
            "no NVIDIA driver"*) kind="no NVIDIA driver" ;;
            "no CUDA device"*) kind="no CUDA device" ;;
            "NVRTC not found"*) kind="NVRTC not found" ;;
            "cuBLAS not found"*) kind="cuBLAS not found" ;;
            *"newer than the driver"*) kind="library newer than the driver" ;;
            *unusable*) kind="CUDA library unusable" ;;
            "the NVIDIA driver failed"*) kind="the NVIDIA driver failed" ;;
        esac
        log "  CUDA unavailable ($kind): $(echo "$reason" | cut -c1-300)"
        grep '^  *loader ' "$out/devices.out" | sed 's/^ */    /' | tee -a "$summary" ;;
    *) log "  devices printed no cuda line: $(head -c 300 "$out/devices.err" 2>/dev/null)" ;;
esac
no_cuda_why="no usable CUDA device (see devices.out)"

if [ $has_cuda = 1 ]; then
    stage selftest-cuda "$(limit_of selftest-cuda)" "$glow" selftest --device cuda
    log "  $(tail -n 1 "$out/selftest-cuda.out" 2>/dev/null)"
else
    skip selftest-cuda "$no_cuda_why"
fi

figures=$out/cuda-figures.txt
printf '%-8s %5s  %12s %12s  %12s %12s\n' config batch "fp32 img/s" "tf32 img/s" "fp32 GFLOP/s" "tf32 GFLOP/s" > "$figures"
for spec in $cuda_benches; do
    cfg=${spec%%:*} batch=${spec##*:}
    for p in fp32 tf32; do
        name="bench-cuda-$p-$cfg-$batch"
        if [ $has_cuda = 1 ]; then
            stage "$name" "$(limit_of "$name")" "$glow" bench --config "$cfg" --batch "$batch" --device cuda --precision $p \
                --steps "$bench_steps" --json
        else
            skip "$name" "$no_cuda_why"
        fi
    done
    f32=$out/bench-cuda-fp32-$cfg-$batch.out t32=$out/bench-cuda-tf32-$cfg-$batch.out
    printf '%-8s %5s  %12s %12s  %12s %12s\n' "$cfg" "$batch" \
        "$(json_field "$f32" images_per_second)" "$(json_field "$t32" images_per_second)" \
        "$(json_field "$f32" gflops)" "$(json_field "$t32" gflops)" >> "$figures"
done
log "CUDA training throughput (bench --json; $(( SECONDS - start )) s into the check):"
sed 's/^/  /' "$figures" | tee -a "$summary"

if [ $has_cuda = 1 ]; then
    # The same GEMM shapes as the benches: M, K ∈ {256, 512}, N = batch·H·W of their levels.
    if command -v python3 > /dev/null; then
        stage torch-matmul "$(limit_of torch-matmul)" python3 "$here/scripts/torch_matmul.py" --precisions fp32,tf32 \
            --glow-shapes "$cuda_benches"
        grep '^torch.matmul' "$out/torch-matmul.out" 2>/dev/null | sed 's/^/  /' | tee -a "$summary"
    else
        skip torch-matmul "no python3 on PATH"
    fi
    stage selftest-cuda-tf32 "$(limit_of selftest-cuda-tf32)" "$glow" selftest --device cuda --precision tf32
    log "  $(tail -n 1 "$out/selftest-cuda-tf32.out" 2>/dev/null)"
    for p in fp32 tf32; do
        rm -rf "$out/train-$p-run"
        # shellcheck disable=SC2086  # the options are words
        stage "train-$p" "$(limit_of "train-$p")" "$glow" train $train_args --device cuda --precision $p \
            --eval-every 0 --sample-every 0 --save-every 100000 --out "$out/train-$p-run"
    done
    last_train() { tail -n 1 "$out/train-$1-run/metrics.jsonl" 2>/dev/null | sed -n 's/.*"train_bpd": *\([-0-9.e+]*\).*/\1/p'; }
    test_bpd() { sed -n 's/^test bpd \([-0-9.e+]*\).*/\1/p' "$out/train-$1.out" 2>/dev/null | tail -n 1; }
    steps_of() { tail -n 1 "$out/train-$1-run/metrics.jsonl" 2>/dev/null | sed -n 's/.*"step": *\([0-9]*\).*/\1/p'; }
    log "training ($train_args), bpd after step $(steps_of fp32) / $(steps_of tf32):"
    na() { echo "${1:-n/a}"; }
    log "$(printf '  %-6s %10s %10s\n  %-6s %10s %10s\n  %-6s %10s %10s' "" fp32 tf32 \
        train "$(na "$(last_train fp32)")" "$(na "$(last_train tf32)")" test "$(na "$(test_bpd fp32)")" "$(na "$(test_bpd tf32)")")"
else
    for name in torch-matmul selftest-cuda-tf32 train-fp32 train-tf32; do skip "$name" "$no_cuda_why"; done
fi

# --- OpenCL ----------------------------------------------------------------------------------
if [ $quick = 0 ]; then
    # ocl-icd reads the .icd files of /etc/OpenCL/vendors, or of the folder OCL_ICD_VENDORS
    # names. Containers often mount NVIDIA's driver without registering it: then register it
    # in a temporary folder (with the system's other .icd files, so they stay visible).
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
    stage selftest-opencl "$(limit_of selftest-opencl)" "$glow" selftest --device "$dev"
    if grep -qE -- "--device $dev: no OpenCL" "$out/selftest-opencl.err" 2>/dev/null; then
        log "  no OpenCL device for --device $dev: $(head -n 1 "$out/selftest-opencl.err" | cut -c1-200)"
        skip bench-kernels-opencl "no OpenCL device"
        for spec in $opencl_benches; do skip "bench-opencl-${spec/:/-}" "no OpenCL device"; done
    else
        log "  $(tail -n 1 "$out/selftest-opencl.out" 2>/dev/null)"
        stage bench-kernels-opencl "$(limit_of bench-kernels-opencl)" "$glow" bench --kernels --device "$dev" \
            --kernel-batch "$kernel_batch"
        grep GFLOP "$out/bench-kernels-opencl.out" 2>/dev/null | sed 's/^/  /' | tee -a "$summary"
        for spec in $opencl_benches; do
            name="bench-opencl-${spec/:/-}"
            stage "$name" "$(limit_of "$name")" "$glow" bench --config "${spec%%:*}" --batch "${spec##*:}" --device "$dev" \
                --steps "$bench_steps" --json && \
                log "  images/s $(json_field "$out/$name.out" images_per_second), GFLOP/s $(json_field "$out/$name.out" gflops)"
        done
    fi
fi

log "done in $((SECONDS - start)) s"
