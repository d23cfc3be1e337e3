#!/usr/bin/env python3
"""A TCP proxy that delays every byte by a fixed one-way latency, in both directions,
without limiting throughput: a stand-in for a cross-cloud link when `tc netem` is not
available (benches/README.md, "Restore over a slow link").

    benches/delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS

Each chunk read is stamped with its arrival time and written once `DELAY_MS` have passed,
in order, so the round trip seen by the client grows by 2 x DELAY_MS while data keeps
streaming. At most WINDOW bytes (default 4 MiB, Linux's default `tcp_wmem` maximum) are in
flight per direction: beyond that the proxy stops reading, as a real TCP window would.
"""
import asyncio
import sys
import time


WINDOW = 4 << 20


async def pump(reader, writer, delay):
    queue = asyncio.Queue()
    in_flight = 0
    room = asyncio.Event()
    room.set()

    async def deliver():
        nonlocal in_flight
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
            in_flight -= len(data)
            if in_flight < WINDOW:
                room.set()
        try:
            writer.write_eof()
        except OSError:
            pass

    task = asyncio.create_task(deliver())
    try:
        while True:
            await room.wait()
            data = await reader.read(1 << 18)
            if not data:
                break
            in_flight += len(data)
            if in_flight >= WINDOW:
                room.clear()
            queue.put_nowait((time.monotonic() + delay, data))
    finally:
        queue.put_nowait((0, None))
        await task


async def main():
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = delay_ms / 1000.0

    async def handle(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(
            pump(client_r, server_w, delay),
            pump(server_r, client_w, delay),
            return_exceptions=True,
        )
        client_w.close()
        server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
