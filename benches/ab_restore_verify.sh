#!/usr/bin/env bash
# Restore and verify speed of two rdbkit binaries, interleaved (A, B, B, A, ...) so that
# machine noise hits both alike: the restore and verify rows of benches/compare.sh for a
# before/after comparison. Each restore goes into a fresh server; each verify reads the
# server the last restore filled. Prints per-run wall seconds and the medians.
#
#   benches/ab_restore_verify.sh OLD_BIN NEW_BIN [KEYS] [RUNS]   # defaults: 500000 keys, 5 runs
#   SNAPSHOT=/tmp/bench-2.5m.rdb benches/ab_restore_verify.sh OLD_BIN NEW_BIN 2500000 3
#
# SNAPSHOT names an existing gen_snapshot.py file of KEYS keys instead of generating one.
#
# Servers are Debian's /usr/bin/redis-server on random loopback ports, stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
KEYS=${3:-500000}
RUNS=${4:-5}
SERVER=/usr/bin/redis-server
CLI=/usr/bin/redis-cli
WORK=$(mktemp -d /tmp/rdbkit-ab.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

SNAP=${SNAPSHOT:-$WORK/snapshot.rdb}
[ -n "${SNAPSHOT:-}" ] || python3 benches/gen_snapshot.py "$SNAP" --keys "$KEYS" >&2

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start_server DIR: sets PORT and SPID.
start_server() {
    PORT=$(free_port)
    "$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$1" --save "" --appendonly no \
        --logfile "$1/server.log" &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 1 200); do
        "$CLI" -p "$PORT" PING 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "server on $PORT did not start" >&2
    return 1
}

stop_server() {
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    unset 'PIDS[-1]'
}

wall() { /usr/bin/time -f %e -o "$WORK/t" "$@" >/dev/null && cat "$WORK/t"; }

# one BIN LABEL: a restore into a fresh server, then a verify of it.
one() {
    local d; d=$(mktemp -d "$WORK/s.XXXX")
    start_server "$d"
    echo "$(wall "$1" restore -q "$SNAP" --target "redis://127.0.0.1:$PORT")" >>"$WORK/$2.restore"
    echo "$(wall "$1" verify -q "$SNAP" --target "redis://127.0.0.1:$PORT")" >>"$WORK/$2.verify"
    stop_server
    rm -rf "$d"
}

for i in $(seq "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then one "$A" a; one "$B" b; else one "$B" b; one "$A" a; fi
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "Snapshot: $KEYS keys, $(stat -c %s "$SNAP") bytes; $RUNS runs each, interleaved; $(date -u +%Y-%m-%d)"
for op in restore verify; do
    echo "$op A (s): $(paste -sd' ' "$WORK/a.$op")  median $(median <"$WORK/a.$op")"
    echo "$op B (s): $(paste -sd' ' "$WORK/b.$op")  median $(median <"$WORK/b.$op")"
done
