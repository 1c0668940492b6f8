#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (swiftc -sanitize=fuzzer,address; SwiftPM cannot link
# them) and runs each for SECONDS (default 20) from its seed corpus Fuzz/corpus/<target>.
# Fails when a target crashes; the crashing input is kept in .build-fuzz/crashes/<target>/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      targets: safetensors checkpoint idx cifar10 png gzip latents
# Environment: FUZZ_BUILD_ONLY=1 only builds; FUZZ_RSS_MB (default 2048) is each run's memory limit.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
all=(safetensors checkpoint idx cifar10 png gzip latents)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build=.build-fuzz
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
    extra=(); libs=(-L "$build" -lGlowCore)
    case "$t" in
        latents) extra=(Sources/GlowGPU/Latents.swift) ;;
        checkpoint) libs=(-L "$build" -lGlowCPU -lGlowCore -lopenblas) ;;
    esac
    if stale "$build/fuzz-$t" "Fuzz/$t.swift" Fuzz/FuzzSupport.swift "$build/libGlowCore.a" "${extra[@]}"; then
        echo "fuzz: building fuzz-$t"
        swiftc "${san[@]}" -module-name "fuzz_$t" "${inc[@]}" Fuzz/FuzzSupport.swift "Fuzz/$t.swift" "${extra[@]}" \
            "${libs[@]}" -lz -lpng16 -o "$build/fuzz-$t" 2>&1 | grep -v 'Cannot export local symbol' || true
        # (gold warns once per ASan helper symbol; the warnings are harmless and hidden.)
        [ -x "$build/fuzz-$t" ] || { echo "fuzz: building fuzz-$t failed" >&2; exit 2; }
    fi
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

failed=()
for t in "${targets[@]}"; do
    work="$build/corpus/$t"; crashes="$build/crashes/$t"
    mkdir -p "$work" "$crashes"
    echo "fuzz: running $t for ${seconds}s"
    # New inputs go to the work corpus (git-ignored); the committed seeds are read only.
    if ! ASAN_OPTIONS=detect_leaks=0 "$build/fuzz-$t" "$work" "Fuzz/corpus/$t" -max_total_time="$seconds" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -malloc_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=20 \
        -artifact_prefix="$crashes/" -print_final_stats=1 >"$build/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; input kept in $crashes/:" >&2
        ls "$crashes" >&2
        grep -m 20 -E 'ERROR|Fatal|SUMMARY|==[0-9]+==' "$build/$t.log" >&2 || true
        failed+=("$t")
    fi
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$build/$t.log" | tr '\n' ' '; echo
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]} (logs in $build/<target>.log)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash"
