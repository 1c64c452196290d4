#!/usr/bin/env python3
"""Load for bench/limits.sh (loopback only, every phase bounded in time).

  limits.py hold --port P --pid PID --count N [--metrics M] [--hold S]
      Opens N keep-alive connections, sends one GET /ping on each and reads the answer, keeps
      them all open for S seconds and prints the proxy's resident memory (VmRSS) at that point
      as JSON.

  limits.py slowloris --port P --cookie COOKIE [--count N] [--duration S] [--metrics M]
      Measures a signed-in user's requests (a new connection for each, GET /) for S seconds,
      then again while N connections trickle an endless request head (one header line every
      5 s), and prints the latencies before and during the attack as JSON.
"""

import argparse
import asyncio
import json
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def read_response(reader, timeout):
    """Reads one response with a Content-Length body; returns the status code."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await asyncio.wait_for(reader.readexactly(length), timeout)
    return status


async def metric(port, name):
    if not port:
        return None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    body = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def open_connections(port, count):
    """Opens COUNT keep-alive connections, one GET /ping answered on each; returns the
    statuses (or exceptions), the open (reader, writer) pairs and the seconds it took.
    Also used by bench/probe.py."""
    conns = []
    gate = asyncio.Semaphore(256)  # connects in flight: stay within the listen queue

    async def one(i):
        async with gate:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 30
            )
            writer.write(f"GET /ping?c={i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status = await read_response(reader, 30)
            conns.append((reader, writer))
            return status

    started = time.monotonic()
    statuses = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    return statuses, conns, time.monotonic() - started


async def hold(args):
    before = rss_kib(args.pid)
    statuses, conns, opened = await open_connections(args.port, args.count)
    ok = sum(1 for s in statuses if s == 200)
    errors = [repr(s) for s in statuses if s != 200][:5]
    await asyncio.sleep(args.hold)
    held = sum(1 for r, _ in conns if not r.at_eof())
    during = rss_kib(args.pid)
    open_metric = await metric(args.metrics, "authproxy_connections_open")
    for _, w in conns:
        w.close()
    print(json.dumps({
        "connections": args.count,
        "answered_200": ok,
        "still_open_after_hold": held,
        "authproxy_connections_open": open_metric,
        "seconds_to_open": round(opened, 2),
        "rss_idle_kib": before,
        "rss_with_connections_kib": during,
        "rss_per_connection_bytes": round((during - before) * 1024 / max(ok, 1)),
        "errors": errors,
    }))


async def user_requests(port, cookie, seconds):
    """A signed-in user's requests, each on a new connection, one after another."""
    latencies, failures = [], 0
    end = time.monotonic() + seconds
    req = f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 10
            )
            writer.write(req.encode())
            status = await read_response(reader, 10)
            writer.close()
            if status != 200:
                failures += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            failures += 1
        latencies.append((time.monotonic() - t0) * 1000)
        await asyncio.sleep(0.01)
    return latencies, failures


def summary(latencies, failures):
    s = sorted(latencies)
    pick = lambda q: round(s[min(len(s) - 1, int(len(s) * q))], 2) if s else None
    return {"requests": len(s), "failures": failures, "p50_ms": pick(0.50),
            "p99_ms": pick(0.99), "max_ms": round(s[-1], 2) if s else None}


async def slowloris(args):
    before = await user_requests(args.port, args.cookie, args.duration)
    stop = asyncio.Event()
    opened = []
    closed_by_proxy = 0
    gate = asyncio.Semaphore(256)  # connects in flight: stay within the listen queue

    async def attacker(i):
        nonlocal closed_by_proxy
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", args.port), 30
                )
            except (OSError, asyncio.TimeoutError):
                return
            writer.write(f"GET /?s={i} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        opened.append(i)
        n = 0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 5)
            except asyncio.TimeoutError:
                pass
            if reader.at_eof():
                closed_by_proxy += 1
                return
            n += 1
            try:
                writer.write(f"X-Trickle-{n}: a\r\n".encode())
                await writer.drain()
            except OSError:
                closed_by_proxy += 1
                return
        writer.close()

    attackers = [asyncio.create_task(attacker(i)) for i in range(args.count)]
    deadline = time.monotonic() + 30
    while len(opened) < args.count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    open_metric = await metric(args.metrics, "authproxy_connections_open")
    during = await user_requests(args.port, args.cookie, args.duration)
    stop.set()
    await asyncio.gather(*attackers, return_exceptions=True)
    print(json.dumps({
        "slowloris_connections": len(opened),
        "authproxy_connections_open_during_attack": open_metric,
        "slowloris_closed_by_proxy_during_attack": closed_by_proxy,
        "before": summary(*before),
        "during": summary(*during),
    }))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--pid", type=int, required=True)
    h.add_argument("--count", type=int, default=10000)
    h.add_argument("--hold", type=float, default=5)
    h.add_argument("--metrics", type=int, default=0)
    s = sub.add_parser("slowloris")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--cookie", required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--duration", type=float, default=15)
    s.add_argument("--metrics", type=int, default=0)
    args = p.parse_args()
    asyncio.run(hold(args) if args.cmd == "hold" else slowloris(args))


if __name__ == "__main__":
    main()
