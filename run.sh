#!/usr/bin/env bash
# pgtenant developer entry point. See README.md.
#   ./run.sh demo    install what is missing, build, start the embedded demo
#   ./run.sh test    install what is missing, build, run every test (ctest)
#   ./run.sh deps    only install missing Debian packages
#   ./run.sh build   only build (into ./build)
#   ./run.sh bench   run the benchmark suite (see bench/README.md)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD=${PGTENANT_BUILD_DIR:-$ROOT/build}

PACKAGES=(
  build-essential cmake pkg-config
  libboost1.81-dev libssl-dev libpq-dev postgresql-client postgresql-15 postgresql-contrib postgresql-server-dev-15
  libspdlog-dev libfmt-dev libtomlplusplus-dev libpg-query-dev libgtest-dev libgmock-dev liburing-dev
  pgbouncer python3-psycopg python3-matplotlib openssl
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

build() {
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} ${PGTENANT_CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
}

cmd=${1:-}
shift || true
case "$cmd" in
  deps) deps ;;
  build) deps; build ;;
  test)
    deps; build
    cd "$BUILD"
    ctest --output-on-failure -j"$(nproc)" "$@"
    ;;
  demo) deps; build; exec "$ROOT/config/demo.sh" "$BUILD/proxy/pgtenant" "$@" ;;
  bench) deps; build; exec "$ROOT/bench/run.sh" "$BUILD" "$@" ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
