#!/usr/bin/env python3
"""`rdbkit sync` figures on loopback: lag p99 under a steady write rate, and the
sustained copy rate (keys/s) into one target.

Starts a source (Debian's /usr/bin/redis-server, notify-keyspace-events KEA) and a
target on free ports, fills the source with --keys keys (strings and small hashes),
starts `rdbkit sync --format jsonl`, measures the bulk copy (applied keys per second
while the state is `bulk`), then writes --rate writes/s of mixed types for --seconds
and reports the per-interval `lag_ms_p99` seen meanwhile; then (with --burst N) writes N
new keys with server-side loops (as fast as the source takes them), so that the backlog
outruns the catch-up, and reports the catch-up rate (applied keys per second while the
backlog drains); finally waits for `converged`.

    V=${RDBKIT_VENV:-$HOME/.cache/rdbkit/venv}    # the venv scripts/test.sh makes
    "$V/bin/python" -m pip install -q redis          # the `redis` client package, once
    "$V/bin/python" benches/sync_lag.py --rdbkit target/release/rdbkit --keys 200000 \
        --rate 2000 --seconds 20 --burst 300000
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(d, extra):
    port = free_port()
    log = os.path.join(d, f"{port}.log")
    p = subprocess.Popen(
        ["/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", d, "--logfile", log] + extra,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if redis.Redis(port=port).ping():
                return p, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def catch_up(w, lines, n):
    """Writes n new keys (strings and small hashes) and reports how fast sync applies
    them: over the whole drain, and from the first status after the writes ended (the
    scripts block the source while they run, so sync cannot read it meanwhile) to the
    first with an empty backlog: the catch-up rate of a copier with work queued."""
    before = lines[-1]
    t0 = time.time()
    # Server-side loops: as fast as the source can write (each write still sends its
    # keyspace events); chunks of 20,000 keep the subscriber's output buffer far below
    # the pub/sub limit.
    burst = w.register_script(
        "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
        "if i % 2 == 1 then redis.call('SET', 'cb:' .. i, string.rep('x', 40)) "
        "else redis.call('HSET', 'cbh:' .. i, 'a', i, 'b', string.rep('y', 20)) end end")
    for lo in range(0, n, 20_000):
        burst(args=[lo, min(lo + 20_000, n) - 1])
    write_s = time.time() - t0
    written = len(lines)
    deadline = time.time() + 300

    def drained(l):
        return l["backlog"] == 0 and l["applied"] - before["applied"] >= n

    while time.time() < deadline and not any(drained(l) for l in lines[written:]):
        time.sleep(0.2)
    end = next((l for l in lines[written:] if drained(l)), None)
    if end is None:
        print(f"catch-up: backlog not drained within 300 s: {lines[-1]}")
        return
    drain = [l for l in lines if l["elapsed_s"] > before["elapsed_s"]]
    peak = max(l["backlog"] for l in drain)
    print(f"burst: {n} new keys written in {write_s:.1f} s ({n / write_s:.0f}/s); peak backlog {peak}")
    dt = end["elapsed_s"] - before["elapsed_s"]
    applied = end["applied"] - before["applied"]
    print(f"catch-up, whole drain: {applied} keys in {dt:.1f} s = {applied / dt:.0f} keys/s "
          f"(last status before the burst to the first with backlog 0)")
    first = lines[written]
    if first is not end and end["elapsed_s"] > first["elapsed_s"]:
        applied = end["applied"] - first["applied"]
        dt = end["elapsed_s"] - first["elapsed_s"]
        print(f"catch-up after the writes: {applied} keys in {dt:.1f} s = {applied / dt:.0f} keys/s "
              f"(backlog {first['backlog']} -> 0)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rdbkit", default="target/release/rdbkit")
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--burst", type=int, default=0,
                    help="new keys written at once after the steady load (catch-up rate)")
    ap.add_argument("--log", help="write sync's status lines (JSON Lines) to this file")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="rdbkit-sync-bench-")
    src, sport = start_server(d, ["--notify-keyspace-events", "KEA"])
    tgt, tport = start_server(d, [])
    try:
        s = redis.Redis(port=sport)
        p = s.pipeline(transaction=False)
        for i in range(a.keys):
            if i % 2:
                p.set(f"s:{i}", "x" * 40)
            else:
                p.hset(f"h:{i}", mapping={"a": i, "b": "y" * 20})
            if i % 5000 == 4999:
                p.execute()
        p.execute()
        # A write every 0.5 s until the steady load starts: a bulk copy longer than
        # --quiet-for must not let sync see a quiet source and converge before the load.
        quiet = threading.Event()

        def heartbeat():
            hb = redis.Redis(port=sport)
            while not quiet.wait(0.5):
                hb.set("sync-bench:heartbeat", time.time())

        threading.Thread(target=heartbeat, daemon=True).start()
        sync = subprocess.Popen(
            [a.rdbkit, "sync", "--source", f"redis://127.0.0.1:{sport}",
             "--target", f"redis://127.0.0.1:{tport}", "--journal", os.path.join(d, "journal"),
             "--format", "jsonl", "--interval", "1", "--quiet-for", "5"],
            stdout=subprocess.PIPE, text=True)
        lines = []

        def read():
            for line in iter(sync.stdout.readline, ""):
                lines.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        t0 = time.time()
        while not any(l["state"] in ("catching-up", "ready", "converged") for l in lines):
            if sync.poll() is not None:
                raise SystemExit(f"sync ended early: {lines[-1:]}")
            time.sleep(0.05)
        bulk_s = time.time() - t0
        bulk = [l for l in lines if l["state"] == "bulk"]
        applied = lines[-1]["applied"]
        print(f"bulk: {applied} keys in {bulk_s:.1f} s (incl. setup) = {applied / bulk_s:.0f} keys/s")
        if len(bulk) >= 2:
            dt = bulk[-1]["elapsed_s"] - bulk[0]["elapsed_s"]
            if dt > 0:
                print(f"bulk steady rate: {(bulk[-1]['applied'] - bulk[0]['applied']) / dt:.0f} keys/s")
        # The steady load.
        quiet.set()
        start_idx = len(lines)
        r = random.Random(1)
        t1 = time.time()
        n = 0
        w = redis.Redis(port=sport)
        # Writes due so far are sent every 10 ms as one pipeline: one client doing a round
        # trip per write cannot keep 2,000/s on a loaded machine.
        while time.time() - t1 < a.seconds:
            due = int((time.time() - t1) * a.rate) - n
            p = w.pipeline(transaction=False)
            for _ in range(due):
                k = r.randrange(10_000)
                op = r.randrange(6)
                if op == 0:
                    p.set(f"ls:{k}", r.random())
                elif op == 1:
                    p.hset(f"lh:{k}", f"f{r.randrange(10)}", r.random())
                elif op == 2:
                    p.rpush(f"ll:{k % 500}", r.random())
                elif op == 3:
                    p.zadd(f"lz:{k % 500}", {str(r.randrange(100)): r.random()})
                elif op == 4:
                    p.set(f"le:{k}", 1, px=500 + r.randrange(2000))
                else:
                    p.delete(f"ls:{k}")
            if due > 0:
                p.execute()
                n += due
            time.sleep(0.01)
        achieved = n / (time.time() - t1)
        time.sleep(1.5)  # the last interval's line
        under = [l for l in lines[start_idx:] if l.get("lag_ms_p99") is not None]
        p99s = sorted(l["lag_ms_p99"] for l in under)
        p50s = sorted(l["lag_ms_p50"] for l in under)
        backlog = max((l["backlog"] for l in lines[start_idx:]), default=0)
        print(f"load: {n} writes at {achieved:.0f}/s for {a.seconds} s")
        if p99s:
            print(f"lag_ms_p99 per interval: median {p99s[len(p99s) // 2]}, max {p99s[-1]}; "
                  f"lag_ms_p50 median {p50s[len(p50s) // 2]}; max backlog {backlog}")
        if a.burst:
            catch_up(w, lines, a.burst)
        sync.wait(timeout=300)
        reader.join(timeout=5)
        print(f"final: {lines[-1].get('verdict')} (exit {sync.returncode})")
        if a.log:
            with open(a.log, "w") as f:
                f.writelines(json.dumps(l) + "\n" for l in lines)
    finally:
        for p in (src, tgt):
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
