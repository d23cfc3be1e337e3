#!/usr/bin/env python3
"""Builds a mixed snapshot with a real redis-server, deterministically.

Usage: benches/gen_snapshot.py OUT.rdb [--keys N] [--server /usr/bin/redis-server]

Strings come from DEBUG POPULATE (60%); the rest are small hashes, sets (intset and
listpack), zsets, lists, and a few large collections, written through `redis-cli --pipe`.
Some keys get TTLs. The server runs on a random loopback port in a temporary
directory and is stopped by PID.
"""
import argparse, os, random, shutil, signal, socket, subprocess, sys, tempfile, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--keys", type=int, default=2_500_000)
    ap.add_argument("--server", default="/usr/bin/redis-server")
    ap.add_argument("--cli", default="/usr/bin/redis-cli")
    a = ap.parse_args()
    rnd = random.Random("rdbkit-bench-v1")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="rdbkit-gen-")
    srv = subprocess.Popen([a.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
                            "--save", "", "--appendonly", "no", "--enable-debug-command", "yes"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli = [a.cli, "-h", "127.0.0.1", "-p", str(port)]
        for _ in range(100):
            if subprocess.run(cli + ["PING"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.05)
        n_str = a.keys * 6 // 10
        subprocess.run(cli + ["DEBUG", "POPULATE", str(n_str), "str", "32"], check=True, capture_output=True)
        rest = a.keys - n_str
        p = subprocess.Popen(cli + ["--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        buf = []
        for i in range(rest):
            kind = i % 5
            if kind == 0:
                fields = []
                for f in range(rnd.randint(2, 12)):
                    fields += [f"field:{f}", rnd.randbytes(rnd.randint(4, 40)).hex()]
                buf.append(resp("HSET", f"hash:{i}", *fields))
            elif kind == 1:
                if i % 2:
                    buf.append(resp("SADD", f"set:{i}", *[rnd.randint(0, 1 << 40) for _ in range(rnd.randint(2, 20))]))
                else:
                    buf.append(resp("SADD", f"set:{i}", *[f"m{rnd.randint(0, 10**6)}" for _ in range(rnd.randint(2, 20))]))
            elif kind == 2:
                args = []
                for m in range(rnd.randint(2, 16)):
                    args += [rnd.random() * 1000, f"member:{m}"]
                buf.append(resp("ZADD", f"zset:{i}", *args))
            elif kind == 3:
                buf.append(resp("RPUSH", f"list:{i}", *[f"item-{rnd.randint(0, 10**9)}" for _ in range(rnd.randint(2, 20))]))
            else:
                buf.append(resp("SET", f"ttl:{i}", rnd.randbytes(rnd.randint(8, 200)).hex()))
                buf.append(resp("PEXPIREAT", f"ttl:{i}", 4102444800000 + i))
            if i % 1000 == 0 and i:
                # A few big collections (hashtable/skiplist/quicklist encodings).
                if i % 50000 == 0:
                    buf.append(resp("HSET", f"bighash:{i}", *sum(([f"f{j}", "v" * 50] for j in range(2000)), [])))
                    buf.append(resp("RPUSH", f"biglist:{i}", *[f"x{j}" * 5 for j in range(5000)]))
                    buf.append(resp("ZADD", f"bigzset:{i}", *sum(([j * 1.5, f"m{j}"] for j in range(1000)), [])))
                p.stdin.write(b"".join(buf))
                buf = []
        p.stdin.write(b"".join(buf))
        p.stdin.close()
        p.wait()
        subprocess.run(cli + ["SAVE"], check=True, capture_output=True)
        shutil.copy(os.path.join(tmp, "dump.rdb"), a.out)
        info = subprocess.run(cli + ["INFO", "keyspace"], capture_output=True, text=True).stdout
        print(info.strip().splitlines()[-1], file=sys.stderr)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
