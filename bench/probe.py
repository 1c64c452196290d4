#!/usr/bin/env python3
"""Probes for bench/run.sh (loopback only, every step bounded in time).

  probe.py start --port P --count N --log FILE [--settle S] -- COMMAND [ARGS...]
      Starts COMMAND, polls GET /ready on 127.0.0.1:P every millisecond (a new connection per
      attempt) until it answers 200, waits S seconds (1) and reads the process's resident
      memory, opens N idle keep-alive connections (bench/limits.py's loader), reads it again,
      then stops the process. Prints JSON: ready_ms, rss_idle_kib, rss_conns_kib, held,
      conn_bytes.

  probe.py ttfb --port P --path PATH [--cookie C]
      GET PATH with `Connection: close`; prints "first_chunk_ms total_ms": when the first body
      chunk (the text `chunk`, as examples/bench_app.rs /slow sends it) arrived and when the
      response ended, both counted from the request being sent.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import limits  # noqa: E402  (bench/limits.py, same directory)


def ready_once(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.settimeout(0.5)
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start(args):
    with open(args.log, "w") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(args.command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = t0 + 30
        ready_ms = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"probe.py: {args.command[0]} exited with {proc.returncode} before /ready")
            if ready_once(args.port):
                ready_ms = (time.monotonic() - t0) * 1000
                break
            time.sleep(0.001)
        if ready_ms is None:
            sys.exit("probe.py: /ready did not answer 200 within 30 s")
        time.sleep(args.settle)
        idle = limits.rss_kib(proc.pid)

        async def hold():
            statuses, conns, _ = await limits.open_connections(args.port, args.count)
            await asyncio.sleep(2)
            held = sum(1 for r, _ in conns if not r.at_eof())
            rss = limits.rss_kib(proc.pid)
            for _, w in conns:
                w.close()
            ok = sum(1 for s in statuses if s == 200)
            errors = [repr(s) for s in statuses if s != 200][:3]
            return ok, held, rss, errors

        ok, held, rss, errors = asyncio.run(hold())
        if ok < args.count:
            sys.exit(f"probe.py: only {ok} of {args.count} connections answered 200: {errors}")
        print(json.dumps({
            "ready_ms": round(ready_ms, 2),
            "rss_idle_kib": idle,
            "rss_conns_kib": rss,
            "held": held,
            "conn_bytes": round((rss - idle) * 1024 / max(held, 1)),
        }))
    finally:
        stop(proc)


def ttfb(args):
    req = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
           + (f"Cookie: {args.cookie}\r\n" if args.cookie else "") + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", args.port), timeout=10) as s:
        s.settimeout(30)
        t0 = time.monotonic()
        s.sendall(req)
        buf, first = b"", None
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
            head_end = buf.find(b"\r\n\r\n")
            if first is None and head_end >= 0:
                if not buf.startswith(b"HTTP/1.1 200"):
                    status = buf.split(b"\r\n")[0]
                    sys.exit(f"probe.py: {args.path} answered {status!r}")
                if b"chunk" in buf[head_end:]:
                    first = time.monotonic() - t0
        total = time.monotonic() - t0
    if first is None:
        sys.exit(f"probe.py: {args.path} sent no chunk")
    print(f"{first * 1000:.2f} {total * 1000:.2f}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--settle", type=float, default=1.0)
    s.add_argument("command", nargs=argparse.REMAINDER)
    t = sub.add_parser("ttfb")
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--path", required=True)
    t.add_argument("--cookie", default="")
    args = p.parse_args()
    if args.cmd == "start":
        if args.command[:1] == ["--"]:
            args.command = args.command[1:]
        if not args.command:
            p.error("start needs a command after --")
        start(args)
    else:
        ttfb(args)


if __name__ == "__main__":
    main()
