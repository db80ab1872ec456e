#!/usr/bin/env bash
# pgtenant developer entry point. See README.md.
#   ./run.sh demo    install what is missing, build, start the embedded demo
#   ./run.sh test    install what is missing, build, run every test (ctest), then the
#                    relay/pool/session suites again under ASan+UBSan (./run.sh sanitized)
#   ./run.sh sanitized  only the relay/pool/session suites under ASan+UBSan (./build-asan)
#   ./run.sh deps    only install missing Debian packages
#   ./run.sh build   only build (into ./build)
#   ./run.sh bench   run the benchmark suite (see bench/README.md)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD=${PGTENANT_BUILD_DIR:-$ROOT/build}

PACKAGES=(
  build-essential cmake pkg-config ccache
  libboost1.81-dev libssl-dev libpq-dev postgresql-client postgresql-15 postgresql-contrib postgresql-server-dev-15
  libspdlog-dev libfmt-dev libtomlplusplus-dev libpg-query-dev libgtest-dev libgmock-dev liburing-dev
  pgbouncer python3-psycopg python3-psycopg2 python3-asyncpg python3-matplotlib openssl
  libpostgresql-jdbc-java
  clang libclang-rt-14-dev
)

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Java source launch (JDBC driver test) needs a JDK; npm for the node drivers. Only
  # installed from Debian when absent: a NodeSource nodejs already bundles npm and conflicts
  # with Debian's npm package.
  command -v javac >/dev/null || missing+=(default-jdk-headless)
  command -v npm >/dev/null || missing+=(nodejs npm)
  if ((${#missing[@]})); then
    echo "pgtenant: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # Debian's postgresql packages start a cluster on install; we never use it.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  # node-postgres and postgres.js for drivers_test, pinned by the committed lockfile.
  if [ ! -d "$ROOT/tests/drivers/node/node_modules" ]; then
    echo "pgtenant: installing node driver packages (npm ci)"
    npm ci --prefix "$ROOT/tests/drivers/node" --no-audit --no-fund --loglevel=error
  fi
}

# ccache, when present, makes rebuilds cheap. (No CCACHE_BASEDIR: tests locate files by the
# absolute source paths compiled in.)
launcher() {
  command -v ccache >/dev/null || return 0
  echo "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache"
}

build() {
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} $(launcher) ${PGTENANT_CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
}

# The suites that drive the relay, the pool, lost connections and shutdown hardest, again with
# AddressSanitizer and UndefinedBehaviorSanitizer, on both I/O builds (tests/integration/
# CMakeLists.txt gives each an *_io_uring twin in this build), plus the proxy's unit tests.
SANITIZED_SUITES=(failures_test transactions_test concurrency_test malformed_test session_state_test sql_prepared_test
  console_test metrics_audit_test limits_test directory_query_test handover_test practice_switch_test)
sanitized() {
  local dir=${PGTENANT_ASAN_BUILD_DIR:-$ROOT/build-asan}
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGTENANT_SANITIZE=ON $(launcher) >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target pgtenant pgtenant-epoll pgtenant_verifier proxy_tests session_fuzz "${SANITIZED_SUITES[@]}"
  local names
  names=$(IFS='|'; echo "${SANITIZED_SUITES[*]}")
  echo "pgtenant: the relay, pool and shutdown suites under ASan+UBSan"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$dir/tests/proxy_tests" --gtest_brief=1
  echo "pgtenant: the session logic with a scripted server under ASan+UBSan (tests/fuzz/session_fuzz.cpp)"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$dir/tests/fuzz/session_fuzz" -n 1000 "$ROOT/tests/fuzz/corpus/session_fuzz"
  (cd "$dir" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    ctest --output-on-failure -j"$(nproc)" -R "^($names)(_io_uring)?\$")
}

cmd=${1:-}
shift || true
case "$cmd" in
  deps) deps ;;
  build) deps; build ;;
  test)
    deps; build
    (cd "$BUILD" && ctest --output-on-failure -j"$(nproc)" "$@")
    sanitized
    ;;
  sanitized) deps; sanitized ;;
  demo) deps; build; exec "$ROOT/config/demo.sh" "$BUILD/proxy/pgtenant" "$@" ;;
  bench) deps; build; exec "$ROOT/bench/run.sh" "$BUILD" "$@" ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
