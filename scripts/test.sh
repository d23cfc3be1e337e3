#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (idempotent), then runs them.
# Usage: scripts/test.sh            (everything: fmt, clippy, tests)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
[ -x /usr/bin/redis-cli ] || need_apt+=(redis-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} (Debian packages)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

fixtures="${RDBKIT_FIXTURES:-$(pwd)/../shared/fixtures}"
if [ ! -d "$fixtures/versions" ]; then
    echo "conformance corpus not found at $fixtures (set RDBKIT_FIXTURES)" >&2
    exit 2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace
