#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (swiftc -sanitize=fuzzer,address; SwiftPM cannot link
# them) and runs each for SECONDS (default 20) from its seed corpus Fuzz/corpus/<target>.
# Fails when a target crashes; the crashing input is kept in .build-fuzz/crashes/<target>/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      targets: safetensors checkpoint idx cifar10 png gzip latents serve
# Environment: FUZZ_BUILD_ONLY=1 only builds; FUZZ_RSS_MB (default 2048) is each run's memory limit;
# FUZZ_JOBS (default: the number of cores) runs that many targets at once; FUZZ_BUILD_DIR
# (default .build-fuzz, git-ignored) holds the instrumented builds, logs, work corpora and crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
all=(safetensors checkpoint idx cifar10 png gzip latents serve)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build="${FUZZ_BUILD_DIR:-.build-fuzz}"
mkdir -p "$build"
san=(-sanitize=fuzzer,address -parse-as-library -O -g)
inc=(-I Sources/CZlib -I Sources/CLibPNG -I Sources/COpenBLAS -I "$build")

# Rebuilds $1 when it is missing or older than any of the remaining files.
stale() {
    local out="$1"; shift
    [ -e "$out" ] || return 0
    [ -n "$(find "$@" -newer "$out" -print -quit)" ]
}

core_sources=$(find Sources/GlowCore -name '*.swift' | sort)
if stale "$build/libGlowCore.a" $core_sources; then
    echo "fuzz: building GlowCore (instrumented)"
    (cd "$build" && swiftc "${san[@]}" -enable-testing -module-name GlowCore -emit-module -emit-library -static \
        -I ../Sources/CZlib -I ../Sources/CLibPNG $(printf '../%s ' $core_sources) -o libGlowCore.a)
fi
if stale "$build/libGlowCPU.a" Sources/GlowCPU "$build/libGlowCore.a"; then
    echo "fuzz: building GlowCPU (instrumented)"
    (cd "$build" && swiftc "${san[@]}" -module-name GlowCPU -emit-module -emit-library -static \
        -I ../Sources/COpenBLAS -I ../Sources/CZlib -I ../Sources/CLibPNG -I . ../Sources/GlowCPU/*.swift -o libGlowCPU.a)
fi
for t in "${targets[@]}"; do
    [ -f "Fuzz/$t.swift" ] || { echo "fuzz: no target '$t' (have: ${all[*]})" >&2; exit 2; }
    extra=(); extra_deps=(); libs=(-L "$build" -lGlowCore)
    case "$t" in
        serve) extra=(Sources/GlowServe/ServeRequests.swift) ;;
        checkpoint) libs=(-L "$build" -lGlowCPU -lGlowCore -lopenblas); extra_deps=("$build/libGlowCPU.a") ;;
    esac
    if stale "$build/fuzz-$t" "Fuzz/$t.swift" Fuzz/FuzzSupport.swift "$build/libGlowCore.a" "${extra[@]}" "${extra_deps[@]}"; then
        echo "fuzz: building fuzz-$t"
        swiftc "${san[@]}" -module-name "fuzz_$t" "${inc[@]}" Fuzz/FuzzSupport.swift "Fuzz/$t.swift" "${extra[@]}" \
            "${libs[@]}" -ldl -lz -lpng16 -o "$build/fuzz-$t" 2>&1 | grep -v 'Cannot export local symbol' || true
        # (gold warns once per ASan helper symbol; the warnings are harmless and hidden.)
        [ -x "$build/fuzz-$t" ] || { echo "fuzz: building fuzz-$t failed" >&2; exit 2; }
    fi
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# One run: new inputs go to the work corpus (git-ignored); the committed seeds are read only.
run_one() {
    local t="$1" work="$build/corpus/$1" crashes="$build/crashes/$1"
    mkdir -p "$work" "$crashes"
    # Swift's own backtracer would read freed memory under ASan; libFuzzer reports the crash.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$build/fuzz-$t" "$work" "Fuzz/corpus/$t" -max_total_time="$seconds" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -malloc_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=20 \
        -artifact_prefix="$crashes/" -print_final_stats=1 >"$build/$t.log" 2>&1
}

# The targets run side by side, FUZZ_JOBS at a time (default: one per core).
jobs="${FUZZ_JOBS:-$(nproc)}"
echo "fuzz: running ${targets[*]} for ${seconds}s each, $jobs at a time"
declare -A pids=()
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$t" &
    pids[$t]=$!
done
failed=()
for t in "${targets[@]}"; do
    if wait "${pids[$t]}"; then status=ok; else status=CRASH; failed+=("$t"); fi
    printf 'fuzz: %-12s %-5s %s\n' "$t" "$status" \
        "$(grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$build/$t.log" | awk '{printf "%s %s  ", $1, $2}')"
    if [ "$status" = CRASH ]; then
        echo "fuzz: $t crashed; input kept in $build/crashes/$t/:" >&2
        ls "$build/crashes/$t" >&2
        grep -a -m 20 -E 'ERROR|Fatal|SUMMARY|Test unit written' "$build/$t.log" >&2 || true
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]} (logs in $build/<target>.log)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash"
