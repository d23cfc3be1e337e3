#!/usr/bin/env bash
# `rdbkit keys` against `rdbkit baseline` on the same machine state: each `keys` run
# directly follows a `baseline` run; prints both wall times and their ratio.
#
#   SNAPSHOT=/tmp/bench-10m.rdb benches/keys_ratio.sh target/release/rdbkit 4
set -euo pipefail
bin=$1 rounds=${2:-3}
snapshot=${SNAPSHOT:-/tmp/bench-10m.rdb}
out=${TMPDIR:-/tmp}/keys-ratio
wall() { /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -1; }
for _ in $(seq "$rounds"); do
    for f in csv parquet jsonl; do
        b=$(wall "$bin" baseline -q "$snapshot")
        k=$(wall "$bin" keys -q "$snapshot" --format "$f" -o "$out.$f")
        rm -f "$out.$f"
        echo "$f baseline $b keys $k ratio $(awk -v k="$k" -v b="$b" 'BEGIN { printf "%.2f", k / b }')"
    done
done | sort -k1,1 -k7,7n
