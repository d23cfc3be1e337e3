#!/usr/bin/env bash
# Side-by-side comparison in one run (issue 8): builds a mixed snapshot with a real
# redis-server, then times rdbkit against redis-check-rdb, redis-cli --pipe and the
# server's own load, reporting the median of RUNS runs (wall seconds and peak RSS in MB from
# /usr/bin/time; RSS includes the pages of memory-mapped files).
#
#   benches/compare.sh [KEYS] [RUNS]        # defaults: 2500000 keys, 3 runs
#   LINK_DELAY_MS=10 benches/compare.sh 500000 5
#   SNAPSHOT=/tmp/bench-2.5m.rdb benches/compare.sh 2500000 3   # an existing gen_snapshot.py file
#
# With LINK_DELAY_MS, restore, the pipe and verify reach their server through
# benches/delay_proxy.py, which adds that one-way delay (a cross-cloud link).
#
# Servers are Debian's /usr/bin/redis-server on random loopback ports, stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${1:-2500000}
RUNS=${2:-3}
SERVER=/usr/bin/redis-server
CLI=/usr/bin/redis-cli
WORK=$(mktemp -d /tmp/rdbkit-compare.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -q -p rdbkit
RDBKIT=$(pwd)/target/release/rdbkit
SNAP=${SNAPSHOT:-$WORK/snapshot.rdb}
[ -n "${SNAPSHOT:-}" ] || python3 benches/gen_snapshot.py "$SNAP" --keys "$KEYS" >&2
SIZE=$(stat -c %s "$SNAP")

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

DELAY=${LINK_DELAY_MS:-}
PROXY_PID=

# link: sets TPORT, the port clients use: the server's, or a delay proxy's in front of it.
link() {
    TPORT=$PORT
    [ -z "$DELAY" ] && return 0
    TPORT=$(free_port)
    python3 benches/delay_proxy.py "$TPORT" "$PORT" "$DELAY" 2>/dev/null &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    for _ in $(seq 1 100); do
        "$CLI" -p "$TPORT" PING 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "delay proxy on $TPORT did not start" >&2
    return 1
}

unlink_proxy() {
    [ -z "$PROXY_PID" ] && return 0
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    unset 'PIDS[-1]'
    PROXY_PID=
}

# start_server DIR [extra args...]: sets PORT, records the PID, waits until loaded.
start_server() {
    local dir=$1; shift
    PORT=$(free_port)
    "$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
        --logfile "$dir/server.log" "$@" &
    PIDS+=($!)
    for _ in $(seq 1 1200); do
        if "$CLI" -p "$PORT" PING 2>/dev/null | grep -q PONG \
            && "$CLI" -p "$PORT" INFO persistence | grep -q '^loading:0'; then
            return 0
        fi
        sleep 0.05
    done
    echo "server on $PORT did not start" >&2
    return 1
}

stop_server() {
    local pid=${PIDS[-1]}
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'PIDS[-1]'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# timed CMD...: "wall rss_mb" of one run.
timed() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || {
        cat "$WORK/stderr" >&2
        return 1
    }
    awk '{ printf "%s %.0f\n", $1, $2 / 1024 }' "$WORK/time"
}

declare -A WALL RSS
# record NAME FILE: medians of the "wall rss" lines in FILE.
record() {
    WALL[$1]=$(awk '{ print $1 }' "$2" | median)
    RSS[$1]=$(awk '{ print $2 }' "$2" | median)
}

for cmd in check baseline; do
    : >"$WORK/rows"
    for _ in $(seq "$RUNS"); do timed "$RDBKIT" "$cmd" -q "$SNAP" >>"$WORK/rows"; done
    record "rdbkit $cmd" "$WORK/rows"
done
: >"$WORK/rows"
for _ in $(seq "$RUNS"); do timed redis-check-rdb "$SNAP" >>"$WORK/rows"; done
record "redis-check-rdb" "$WORK/rows"

# Issue 15: converting the snapshot to RDB 9 (Azure Cache for Redis 6.0), to compare with
# the server's load of it.
: >"$WORK/rows"
for _ in $(seq "$RUNS"); do
    timed "$RDBKIT" convert -q "$SNAP" -o "$WORK/converted.rdb" --target-rdb-version 9 >>"$WORK/rows"
    rm -f "$WORK/converted.rdb"
done
record "rdbkit convert (RDB 9)" "$WORK/rows"

# The server's own load time, from its log line "DB loaded from disk: N seconds".
: >"$WORK/rows"
for _ in $(seq "$RUNS"); do
    d=$(mktemp -d "$WORK/load.XXXX"); cp "$SNAP" "$d/dump.rdb"
    start_server "$d" --dbfilename dump.rdb
    grep -o 'DB loaded from disk: [0-9.]*' "$d/server.log" | awk '{ print $5, 0 }' >>"$WORK/rows"
    stop_server; rm -rf "$d"
done
record "server load" "$WORK/rows"

# server_cpu: CPU seconds (user + system) the last started server has used so far.
server_cpu() {
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/${PIDS[-1]}/stat"
}

# restore_run / pipe_run: one timed run into a fresh server; appends "wall rss" to ROWS_NAME
# and the server's CPU seconds to ROWS_NAME.cpu.
restore_run() {
    local d; d=$(mktemp -d "$WORK/restore.XXXX"); start_server "$d"
    local before; before=$(server_cpu)
    link
    timed "$RDBKIT" restore -q "$SNAP" --target "redis://127.0.0.1:$TPORT" >>"$WORK/rows.restore"
    unlink_proxy
    echo "$(server_cpu) $before" | awk '{ print $1 - $2 }' >>"$WORK/rows.restore.cpu"
    stop_server; rm -rf "$d"
}
pipe_run() {
    local d; d=$(mktemp -d "$WORK/pipe.XXXX"); start_server "$d"
    local before; before=$(server_cpu)
    link
    timed sh -c "'$RDBKIT' export --format resp '$SNAP' | '$CLI' -p $TPORT --pipe" >>"$WORK/rows.pipe"
    unlink_proxy
    echo "$(server_cpu) $before" | awk '{ print $1 - $2 }' >>"$WORK/rows.pipe.cpu"
    stop_server; rm -rf "$d"
}

# Restore and pipe runs are interleaved, alternating which goes first, so that drift in a
# shared machine's load falls on both alike; each pair also gives one ratio.
: >"$WORK/rows.restore"; : >"$WORK/rows.pipe"; : >"$WORK/rows.restore.cpu"; : >"$WORK/rows.pipe.cpu"
for i in $(seq "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then restore_run; pipe_run; else pipe_run; restore_run; fi
done
record "rdbkit restore" "$WORK/rows.restore"
record "export resp | redis-cli --pipe" "$WORK/rows.pipe"
RATIOS=$(paste -d' ' "$WORK/rows.restore" "$WORK/rows.pipe" | awk '{ printf "%.2f\n", $1 / $3 }')
SRV_RESTORE=$(median <"$WORK/rows.restore.cpu")
SRV_PIPE=$(median <"$WORK/rows.pipe.cpu")

d=$(mktemp -d "$WORK/verify.XXXX"); start_server "$d"
"$RDBKIT" restore -q "$SNAP" --target "redis://127.0.0.1:$PORT" >/dev/null
link
: >"$WORK/rows"
for _ in $(seq "$RUNS"); do
    timed "$RDBKIT" verify -q "$SNAP" --target "redis://127.0.0.1:$TPORT" >>"$WORK/rows"
done
record "rdbkit verify" "$WORK/rows"
unlink_proxy
stop_server

echo "Snapshot: $KEYS keys, $SIZE bytes; median of $RUNS runs; $(date -u +%Y-%m-%d)${DELAY:+; restore, pipe and verify through a ${DELAY} ms one-way delay}"
echo
echo "| command | wall (s) | peak RSS (MB) |"
echo "|---|---:|---:|"
for k in "redis-check-rdb" "rdbkit check" "rdbkit baseline" "rdbkit convert (RDB 9)" "server load" "rdbkit restore" \
    "export resp | redis-cli --pipe" "rdbkit verify"; do
    rss=${RSS[$k]}; [ "$k" = "server load" ] && rss="–"
    echo "| ${k//|/\\|} | ${WALL[$k]} | $rss |"
done
echo
awk -v c="${WALL[redis-check-rdb]}" -v k="${WALL[rdbkit check]}" -v b="${WALL[rdbkit baseline]}" \
    -v l="${WALL[server load]}" -v r="${WALL[rdbkit restore]}" -v p="${WALL[export resp | redis-cli --pipe]}" \
    -v v="${WALL[rdbkit verify]}" 'BEGIN {
    printf "- check: %.1fx faster than redis-check-rdb (target >= 3x)\n", c / k
    printf "- baseline: %.1fx faster than redis-check-rdb (target >= 10x)\n", c / b
    printf "- restore: %.2fx the pipe time (target <= 1), %.2fx the server load (target <= 2.5)\n", r / p, r / l
    printf "- verify rate: %.2fx the restore rate (target >= 0.5)\n", r / v
}'
awk -v c="${WALL[rdbkit convert (RDB 9)]}" -v l="${WALL[server load]}" \
    'BEGIN { printf "- convert to RDB 9: %.2fx the server load (target <= 1)\n", c / l }'
echo "- restore/pipe per interleaved pair: $(echo $RATIOS | tr ' ' ',') (median $(echo "$RATIOS" | median))"
echo "- server CPU seconds, median: $SRV_RESTORE under rdbkit restore, $SRV_PIPE under the pipe"
