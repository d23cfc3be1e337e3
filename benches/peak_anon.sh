#!/usr/bin/env bash
# Peak anonymous memory of one command: samples `RssAnon` in /proc/PID/status every 5 ms
# and prints "wall_s peak_rss_anon_kb". Unlike `/usr/bin/time`'s %M, this leaves out the
# resident pages of memory-mapped files (file-backed, reclaimable), which is what
# "memory beyond the mapped file" means.
#
#   benches/peak_anon.sh target/release/rdbkit baseline -q /tmp/bench-2.5m.rdb
set -euo pipefail
start=$(date +%s.%N)
"$@" >/dev/null &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
    kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "${kb:-}" ] && [ "$kb" -gt "$peak" ]; then peak=$kb; fi
    sleep 0.005
done
wait "$pid"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v p="$peak" 'BEGIN { printf "%.2f %d\n", e - s, p }'
