"""Benchmark of the hotline's live delivery: POST /v1/messages → SSE, against a real server.

Usage: ``python bench/events.py [--rate 1000] [--seconds 10] [--parties 20]
[--idle-readers N] [--database-url postgresql://…]`` (default: a fresh SQLite file)

``--idle-readers N`` adds one more party holding N SSE streams that never read a byte (its
stream cap raised to let it): what they cost the other parties' latency is the difference with
a run without them. ``--legacy-config`` writes no ``[limits]`` table (to bench code older than
it, with ``PYTHONPATH`` pointing at that code's ``src``).

Starts ``deconfliction serve`` on a loopback port with ``--parties`` operators, each holding an
SSE stream (``GET /v1/events``, ``Accept: text/event-stream``). Messages are offered at
``--rate`` per second for ``--seconds`` (party i → party i+1, on ``--connections`` keep-alive
connections); latency is from just before the POST is written to the SSE delivery of its
``message.received``. The reference, measured in the same run, is a bare ``GET /v1/health``
round trip; latencies are also shown as a ratio of it.

The load generator speaks HTTP/1.1 over asyncio streams itself: on a two-core machine a
general-purpose client library would spend more CPU than the server it measures. It only
handles what this server sends (Content-Length bodies; the SSE stream as a chunked body).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its Content-Length response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, token: str | None = None,
                      body: bytes = b"") -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        if body:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _reader(host: str, port: int, token: str, sent: dict[str, float],
                  latencies: list[float], ready: asyncio.Event) -> None:
    """Follow one party's SSE stream; record the latency of each message it receives."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"GET /v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode())
    while (line := await reader.readline()) not in (b"\r\n", b""):
        pass  # response headers
    ready.set()
    buffer = b""
    while True:
        size_line = await reader.readline()  # chunked transfer encoding
        if not size_line:
            return
        size = int(size_line.strip() or b"0", 16)
        chunk = await reader.readexactly(size + 2)
        buffer += chunk[:-2]
        *frames, buffer = buffer.split(b"\n\n")
        now = time.perf_counter()
        for frame in frames:
            for line in frame.split(b"\n"):
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event["kind"] == "message.received":
                        t0 = sent.get(event["data"]["subject"])
                        if t0 is not None:
                            latencies.append(now - t0)


async def _idle_readers(host: str, port: int, token: str, count: int
                        ) -> list[asyncio.StreamWriter]:
    """``count`` SSE streams that never read: each sends its request and nothing more."""
    held = []
    for _ in range(count):
        _reader, writer = await asyncio.open_connection(host, port)
        writer.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write((f"GET /v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Authorization: Bearer {token}\r\n"
                      "Accept: text/event-stream\r\n\r\n").encode())
        held.append(writer)
    return held


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


async def _run(host: str, port: int, parties: dict[str, str], rate: float, seconds: float,
               connections: int, server_pid: int, idle: tuple[str, int] | None = None
               ) -> dict[str, float]:
    names, tokens = list(parties), list(parties.values())
    rss_before = _rss_mb(server_pid)
    idle_writers = [] if idle is None else await _idle_readers(host, port, idle[0], idle[1])
    await asyncio.sleep(1.0 if idle_writers else 0.0)  # let the server take them all
    probe = await Connection.open(host, port)
    for _ in range(50):
        await probe.request("GET", "/v1/health")
    health = []
    for _ in range(300):
        t0 = time.perf_counter()
        await probe.request("GET", "/v1/health")
        health.append(time.perf_counter() - t0)
    probe.close()

    sent: dict[str, float] = {}
    latencies: list[float] = []
    readies = [asyncio.Event() for _ in tokens]
    readers = [asyncio.create_task(_reader(host, port, t, sent, latencies, r))
               for t, r in zip(tokens, readies, strict=True)]
    for r in readies:
        await r.wait()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(host, port))
    accepted = 0
    failures: dict[int, int] = {}

    async def post(i: int) -> None:
        nonlocal accepted
        sender = i % len(tokens)
        subject = f"m{i}"
        body = json.dumps({"to": names[(sender + 1) % len(tokens)], "urgency": "routine",
                           "subject": subject}).encode()
        connection = await pool.get()
        try:
            sent[subject] = time.perf_counter()
            status, _ = await connection.request("POST", "/v1/messages", tokens[sender], body)
        finally:
            pool.put_nowait(connection)
        if status == 201:
            accepted += 1
        else:
            failures[status] = failures.get(status, 0) + 1

    cpu0, client0 = _cpu_s(server_pid), time.process_time()
    start = time.perf_counter()
    posts = []
    i = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate)
        while i < due:
            posts.append(asyncio.create_task(post(i)))
            i += 1
        await asyncio.sleep(0.001)
    await asyncio.gather(*posts)
    posted = time.perf_counter() - start
    deadline = time.perf_counter() + 30
    while len(latencies) < accepted and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    server_cpu, client_cpu = _cpu_s(server_pid) - cpu0, time.process_time() - client0
    rss_loaded = _rss_mb(server_pid)
    for task in readers:
        task.cancel()
    while not pool.empty():
        pool.get_nowait().close()
    for writer in idle_writers:
        writer.close()
    return {"rss_before_mb": rss_before, "rss_loaded_mb": rss_loaded,
            "offered": i, "accepted": accepted, "delivered": len(latencies),
            "failed": sum(failures.values()), "post_s": posted,
            "health_p50": _percentile(health, 0.5),
            "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
            "max": max(latencies) if latencies else float("nan"),
            "server_cpu_ms": server_cpu / max(1, accepted) * 1000,
            "client_cpu_ms": client_cpu / max(1, i) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--parties", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64,
                        help="keep-alive connections the messages are posted on")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--idle-readers", type=int, default=0,
                        help="SSE streams of one more party that never read")
    parser.add_argument("--legacy-config", action="store_true",
                        help="write no [limits] table (code older than it)")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    db = (["--database-url", args.database_url] if args.database_url
          else ["--db", str(work / "line.db")])
    py = [sys.executable, "-m", "deconfliction"]
    print(f"adding {args.parties} parties …", file=sys.stderr)
    run = work.name.rsplit("-", 1)[-1].lower()  # a database given by URL may hold earlier runs
    parties = {name: subprocess.run([*py, "party", "add", name, "--role", "operator", *db],
                                    capture_output=True, text=True, check=True).stdout.strip()
               for name in (f"p{i:02d}-{run}" for i in range(args.parties))}
    idle_token = None
    if args.idle_readers:
        idle_token = subprocess.run([*py, "party", "add", f"idle-{run}", "--role", "operator",
                                     *db], capture_output=True, text=True,
                                    check=True).stdout.strip()
    config = work / "line.toml"
    # each party offers rate/parties messages/s, unanswered: above the default
    # messages_per_minute and unanswered_per_recipient
    config.write_text("detection_interval_s = 0\n" if args.legacy_config else
                      "detection_interval_s = 0\n[limits]\nmessages_per_minute = 1000000\n"
                      "unanswered_per_recipient = 1000000\n"
                      f"streams_per_party = {max(8, args.idle_readers)}\n")
    port = _free_port()
    server = subprocess.Popen([*py, "serve", *db, "--port", str(port), "--config", str(config)],
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        backend = httpx.get(f"{base}/v1/health").json()["backend"]
        print(f"offering {args.rate:.0f} messages/s for {args.seconds:.0f} s …", file=sys.stderr)
        idle = (idle_token, args.idle_readers) if idle_token else None
        r = asyncio.run(_run("127.0.0.1", port, parties, args.rate, args.seconds,
                             args.connections, server.pid, idle))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    ms = 1000.0
    ref = r["health_p50"]
    print(f"backend {backend}; {args.parties} SSE clients; offered {args.rate:.0f}/s "
          f"for {args.seconds:.0f} s ({r['offered']} messages, {args.connections} connections)"
          f"; {args.idle_readers} idle readers")
    print(f"{'measure':<36}{'value':>12}{'× health':>10}")
    print(f"{'GET /v1/health round trip p50':<36}{ref * ms:>10.2f}ms{1.0:>10.1f}")
    for key, label in (("p50", "POST → SSE latency p50"), ("p99", "POST → SSE latency p99"),
                       ("max", "POST → SSE latency max")):
        print(f"{label:<36}{r[key] * ms:>10.2f}ms{r[key] / ref:>10.1f}")
    failed = f"  ({r['failed']} failed)" if r["failed"] else ""
    print(f"{'accepted (201) / offered':<36}{r['accepted']:>6}/{r['offered']:<6}{failed}")
    print(f"{'delivered over SSE':<36}{r['delivered']:>12}")
    print(f"{'throughput (accepted / post time)':<36}{r['accepted'] / r['post_s']:>10.0f}/s")
    print(f"{'server CPU per message':<36}{r['server_cpu_ms']:>10.2f}ms")
    print(f"{'load generator CPU per message':<36}{r['client_cpu_ms']:>10.2f}ms")
    print(f"{'server RSS before / loaded':<36}{r['rss_before_mb']:>8.0f} / "
          f"{r['rss_loaded_mb']:.0f} MB")
    print(f"target p99 ≤ 100 ms: {'met' if r['p99'] <= 0.1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
