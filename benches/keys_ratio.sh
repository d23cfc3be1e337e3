#!/usr/bin/env bash
# `rdbkit keys` against `rdbkit baseline` on the same machine state: each `keys` run
# directly follows a `baseline` run; prints both wall times and their ratio. With
# FLOOR set to the `key_rows` example (rows computed, none formatted or written),
# it is timed the same way, as the line "floor".
#
#   cargo build --release -p rdbkit
#   cargo build --release -p rdb-parser --features inventory --example key_rows
#   SNAPSHOT=/tmp/bench-10m.rdb FLOOR=target/release/examples/key_rows \
#       benches/keys_ratio.sh target/release/rdbkit 4
set -euo pipefail
bin=$1 rounds=${2:-3}
snapshot=${SNAPSHOT:-/tmp/bench-10m.rdb}
out=${TMPDIR:-/tmp}/keys-ratio
wall() { /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -1; }
ratio() { echo "$1 baseline $2 keys $3 ratio $(awk -v k="$3" -v b="$2" 'BEGIN { printf "%.2f", k / b }')"; }
for _ in $(seq "$rounds"); do
    if [ -n "${FLOOR:-}" ]; then
        b=$(wall "$bin" baseline -q "$snapshot")
        ratio floor "$b" "$(wall "$FLOOR" "$snapshot")"
    fi
    for f in csv parquet jsonl; do
        b=$(wall "$bin" baseline -q "$snapshot")
        k=$(wall "$bin" keys -q "$snapshot" --format "$f" -o "$out.$f")
        rm -f "$out.$f"
        ratio "$f" "$b" "$k"
    done
done | sort -k1,1 -k7,7n
