#!/usr/bin/env bash
# Before/after for `rdbkit keys`, interleaved: each round runs `baseline` once, then for
# each format the OLD and the NEW build back to back (output on the local disk, deleted
# after each run). Lines sorted by command, then time.
#
#   SNAPSHOT=/tmp/bench-10m.rdb benches/keys_ab.sh OLD/rdbkit NEW/rdbkit 3
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
snapshot=${SNAPSHOT:-/tmp/bench-10m.rdb}
out=${TMPDIR:-/tmp}/keys-ab
t() { /usr/bin/time -f "$1 %e s user %U sys %S" "${@:2}"; }
for _ in $(seq "$rounds"); do
    t baseline "$new" baseline -q "$snapshot" >/dev/null
    for f in csv parquet jsonl; do
        t "$f-old" "$old" keys -q "$snapshot" --format "$f" -o "$out.$f"
        rm -f "$out.$f"
        t "$f-new" "$new" keys -q "$snapshot" --format "$f" -o "$out.$f"
        rm -f "$out.$f"
    done
done 2>&1 | sort -k1,1 -k2,2n
