#!/usr/bin/python3
"""Slow clients against a running pgtenant, on loopback, bounded in count and time (by hand).

Opens --connections TCP connections that never finish logging in: each sends a startup packet
one byte every --interval seconds (some send it whole and then say nothing). Meanwhile an
honest client logs in and runs SELECT 1 in a loop through the same pgtenant. Reports how the
honest client fared (queries, errors, worst latency) and how many slow connections pgtenant
closed (server.login_timeout_ms ends them). Exit status 1 if the honest client saw an error or
pgtenant stopped accepting connections.

  bench/slowloris.py --port 6432 --dsn "host=127.0.0.1 port=6432 user=alice password=secret \
      dbname=app" --connections 2000 --seconds 90
"""
import argparse
import selectors
import socket
import struct
import sys
import threading
import time


def startup_packet(user: str) -> bytes:
    body = struct.pack("!I", 196608) + b"user\0" + user.encode() + b"\0database\0app\0\0"
    return struct.pack("!I", len(body) + 4) + body


def honest_loop(dsn: str, stop: threading.Event, stats: dict) -> None:
    import psycopg  # Debian python3-psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
                while not stop.is_set():
                    t0 = time.monotonic()
                    conn.execute("SELECT 1").fetchone()
                    stats["queries"] += 1
                    stats["worst_ms"] = max(stats["worst_ms"], (time.monotonic() - t0) * 1000)
                    time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - every failure counts
            stats["errors"] += 1
            stats.setdefault("first_error", str(e).strip())
            time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq DSN of the honest client (via pgtenant)")
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between bytes")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("loopback only", file=sys.stderr)
        return 2

    stop = threading.Event()
    stats = {"queries": 0, "errors": 0, "worst_ms": 0.0}
    honest = threading.Thread(target=honest_loop, args=(args.dsn, stop, stats), daemon=True)
    honest.start()
    # Its connection first, while descriptors are low (libpq's select() takes none over 1023).
    for _ in range(100):
        if stats["queries"] or stats["errors"]:
            break
        time.sleep(0.1)

    sel = selectors.DefaultSelector()
    packet = startup_packet("slowloris")
    conns = []  # [socket, bytes sent]
    refused = 0
    for i in range(args.connections):
        try:
            s = socket.create_connection((args.host, args.port), timeout=5)
        except OSError:
            refused += 1
            continue
        s.setblocking(False)
        # One in ten sends its startup packet whole, then nothing (waits at authentication).
        sent = len(packet) if i % 10 == 0 else 0
        if sent:
            s.send(packet)
        conns.append([s, sent])
        sel.register(s, selectors.EVENT_READ, len(conns) - 1)

    closed = 0
    deadline = time.monotonic() + args.seconds
    next_byte = time.monotonic()
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # pgtenant ended it
                sel.unregister(s)
                s.close()
                conns[key.data][0] = None
                closed += 1
        if time.monotonic() >= next_byte:
            next_byte += args.interval
            for c in conns:
                s, sent = c
                if s is None or sent >= len(packet) - 1:
                    continue
                try:
                    s.send(packet[sent:sent + 1])
                    c[1] += 1
                except OSError:
                    pass

    stop.set()
    honest.join(timeout=15)
    still_open = sum(1 for s, _ in conns if s is not None)
    for s, _ in conns:
        if s is not None:
            s.close()
    try:
        socket.create_connection((args.host, args.port), timeout=5).close()
        accepting = True
    except OSError:
        accepting = False

    print(f"slow connections: {len(conns)} opened, {refused} refused, {closed} closed by pgtenant, "
          f"{still_open} still open after {args.seconds:.0f} s")
    print(f"honest client: {stats['queries']} queries, {stats['errors']} errors, "
          f"worst {stats['worst_ms']:.1f} ms" +
          (f", first error: {stats['first_error']}" if stats["errors"] else ""))
    print(f"pgtenant accepting connections afterwards: {accepting}")
    return 0 if stats["errors"] == 0 and accepting and stats["queries"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
