#!/usr/bin/env bash
# Short libFuzzer run of every fuzz target under ASan+UBSan: ctest's fuzz_short (label fuzz).
#
#   tests/fuzz/run_short.sh [build-dir] [seconds-per-target]
#
# Configures its own clang build (default ./build-fuzz; ctest passes build/fuzz-libfuzzer), builds
# only the fuzz targets and the libraries they test (protocol, auth, config: no Asio), then runs
# each target for PGTENANT_FUZZ_SECONDS (default 20) seconds on its committed seeds and its
# dictionary (dict/<target>.dict), two at a time (PGTENANT_FUZZ_JOBS). Exits 77 (ctest:
# skipped) when clang or the libFuzzer runtime is missing.
# Anything a target finds is left in <build-dir>/fuzz-findings/<target>/ and fails the run.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build-fuzz}
SECONDS_EACH=${2:-${PGTENANT_FUZZ_SECONDS:-20}}
JOBS=${PGTENANT_FUZZ_JOBS:-2}

skip() {
  echo "fuzz_short: skipped: $*"
  exit 77
}
command -v clang++ >/dev/null || skip "clang++ not found (apt-get install clang)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  >"$probe/probe.cpp"
clang++ -fsanitize=fuzzer,address "$probe/probe.cpp" -o "$probe/probe" 2>/dev/null ||
  skip "no libFuzzer runtime (apt-get install libclang-rt-14-dev)"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
start=$(date +%s)
mkdir -p "$BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGTENANT_LIBFUZZER=ON -DPGTENANT_SANITIZE=ON \
  "${launcher[@]}" >"$BUILD/configure.log" 2>&1 || {
  cat "$BUILD/configure.log"
  exit 1
}
cmake --build "$BUILD" -j"$JOBS" --target fuzz_targets >"$BUILD/build.log" 2>&1 || {
  tail -50 "$BUILD/build.log"
  exit 1
}
echo "fuzz_short: built in $(($(date +%s) - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs one target; prints one line, keeps its log and findings.
run_one() {
  local t=$1 work="$BUILD/fuzz-work/$1" findings="$BUILD/fuzz-findings/$1"
  mkdir -p "$work" "$findings"
  local log="$findings/log" dict=()
  [ -f "$SRC/tests/fuzz/dict/$t.dict" ] && dict=(-dict="$SRC/tests/fuzz/dict/$t.dict")
  if "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" "$work" \
    "$SRC/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    local execs cov
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    echo "fuzz_short: $t ok: ${execs:-?} runs, coverage ${cov:-?} in ${SECONDS_EACH} s"
  else
    echo "fuzz_short: $t FAILED, log and input in $findings:"
    grep -E 'ERROR|SUMMARY|fuzz check failed|Test unit written' "$log" | head -20
    return 1
  fi
}

targets=()
for dir in "$SRC"/tests/fuzz/corpus/*/; do
  targets+=("$(basename "$dir")")
done
failed=0
pids=()
for t in "${targets[@]}"; do
  if [ ! -x "$BUILD/tests/fuzz/$t" ]; then
    echo "fuzz_short: $t not built here (see tests/fuzz/CMakeLists.txt)"
    continue
  fi
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= JOBS)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
echo "fuzz_short: ${#targets[@]} targets, $(($(date +%s) - start)) s in all"
exit $failed
