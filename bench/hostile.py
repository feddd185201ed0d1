"""The hostile bench: honest parties' latency while a hostile party attacks the line (issue 13).

Usage: ``python bench/hostile.py [--quiet-s 10] [--attack-s 12] [--only NAME,…]
[--database-url postgresql://…] [--code /other/checkout/src] [--kill-gib 2] [--nice 19]``

Loopback only. For each attack a fresh ``deconfliction serve`` starts on a fresh database (a
clone of a template holding the parties; a temp SQLite file unless ``--database-url``), so what
one attack leaves stored cannot spoil the next. On it, honest parties run a steady mixed load —
declarations and dry runs near one area, track batches at 1 Hz for 300 aircraft, hotline
messages each answered with a reply, SSE event streams timing POST → stream, a health probe —
first quietly for ``--quiet-s`` (the reference, measured in the same run on the same server),
then for ``--attack-s`` while a hostile party, in its own process, runs the attack. The table
gives each honest operation's p99 quiet and under attack, the worst ratio of an attack p99 to
the quiet p99 of all the run's quiet windows pooled (one 10 s window holds five declarations),
the server's peak RSS (``VmHWM`` of /proc/<pid>/status), the 5xx count, honest requests refused
429 (there should be none), and what the attack got back.

The hostile process runs at ``nice 19`` by default: on one loopback machine the attacker's own
client (httpx, JSON encoding of megabyte bodies) would otherwise take the very cores the server
needs, which an attacker on its own machine does not; what is measured is the server's
defence. ``--nice 0`` runs it as before (its CPU then competes with the server's).

Guards: every request of either side has a client timeout; the hostile process is capped at
2 GiB of address space and killed if it overruns; the server is ``kill -9``-ed when its RSS
passes ``--kill-gib`` (reported as "server killed") — the original code could pass 8 GB.

Acceptance (issue 13): under every attack the honest p99 within 2× of quiet and under 250 ms,
server RSS under 1 GiB, no 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _line import (  # noqa: E402  (bench/ is not a package)
    GIB,
    Databases,
    Server,
    code_env,
    follow_stream,
    machine_state,
    percentile,
    utc_now_text,
)

HONEST = ("blue", "red", "green")
PARTIES = {"blue": "operator", "red": "operator", "green": "operator", "watch": "observer",
           "rogue": "operator", "rogue2": "operator", "rogue3": "operator",
           "rogue-auth": "authority", "spy": "observer"}
CENTRE = (37.0, 36.2)  # lon, lat of the honest parties' declarations (northern Syria)
AIRCRAFT_PER_PARTY = 100
REQUEST_TIMEOUT_S = 20.0
OPS = ("health", "declare", "check", "tracks", "message", "reply", "stream")
#: Acceptance, issue 13.
P99_LIMIT_S = 0.250
P99_RATIO = 2.0
RSS_LIMIT_KIB = 1024 * 1024
#: The webhook receivers of two attacks run on loopback: the line must be told to allow it.
WEBHOOK_ALLOW_CONFIGS = ('webhook_allow = ["127.0.0.1/32"]\n',)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def circle_volume(lon: float, lat: float, radius_m: float, lower: float, upper: float,
                  start: datetime, hours: float) -> dict[str, Any]:
    return {"footprint": {"type": "Circle", "center": [lon, lat], "radius_m": radius_m},
            "altitude_lower_m": lower, "altitude_upper_m": upper,
            "time_start": iso(start), "time_end": iso(start + timedelta(hours=hours))}


# ---------------------------------------------------------------------------------------------
# Honest parties
# ---------------------------------------------------------------------------------------------


@dataclass
class Window:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    statuses: dict[str, Counter[str]] = field(
        default_factory=lambda: {op: Counter() for op in OPS})

    def server_errors(self) -> int:
        return sum(n for c in self.statuses.values() for s, n in c.items()
                   if s.isdigit() and int(s) >= 500)


class Honest:
    """The honest parties' steady mixed load, open-loop (a stall shows as latency)."""

    def __init__(self, server: Server, tokens: dict[str, str]) -> None:
        self.server, self.tokens = server, tokens
        self.windows: dict[str, Window] = {"warm": Window(), "quiet": Window(),
                                           "attack": Window(), "after": Window()}
        self.window = "warm"
        self.stopping = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.inflight: Counter[str] = Counter()
        self.sent: dict[str, tuple[float, str]] = {}
        self.rng = random.Random(7)
        self.count = 0
        start = datetime.now(UTC)
        self.aircraft = {p: [(f"{p}-{i:03d}", CENTRE[1] - 1 + self.rng.random() * 2,
                              CENTRE[0] - 1 + self.rng.random() * 2,
                              1000 + 300 * self.rng.randrange(40), self.rng.random() * 360)
                             for i in range(AIRCRAFT_PER_PARTY)] for p in HONEST}
        self.t0 = start

    def record(self, window: str, op: str, latency: float, status: str) -> None:
        w = self.windows[window]
        w.latencies[op].append(latency)
        w.statuses[op][status] += 1

    async def call(self, client: httpx.AsyncClient, op: str, method: str, path: str,
                   party: str, body: Any = None) -> httpx.Response | None:
        window = self.window
        self.inflight[op] += 1
        t0 = time.perf_counter()
        response = None
        try:
            response = await client.request(
                method, path, json=body, timeout=REQUEST_TIMEOUT_S,
                headers={"Authorization": f"Bearer {self.tokens[party]}"} if party else {})
            status = str(response.status_code)
        except httpx.TimeoutException:
            status = "timeout"
        except httpx.HTTPError:
            status = "error"
        finally:
            self.inflight[op] -= 1
        self.record(window, op, time.perf_counter() - t0, status)
        return response

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def ticker(self, op: str, rate: float, make: Callable[[], Awaitable[Any]]) -> None:
        period, due = 1.0 / rate, time.perf_counter() + random.random() / rate
        while not self.stopping:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += period
            if self.inflight[op] < 64:
                self.spawn(make())
            else:  # 64 of them waiting: the line is stalled; count it, send no more
                self.record(self.window, op, REQUEST_TIMEOUT_S, "backlog")

    def declaration(self) -> dict[str, Any]:
        r = self.rng
        start = (self.t0 + timedelta(days=2 + r.random() * 25)).replace(microsecond=0)
        lower = 300.0 * r.randrange(60)
        return {"volumes": [circle_volume(CENTRE[0] + (r.random() - 0.5) * 0.6,
                                          CENTRE[1] + (r.random() - 0.5) * 0.6, 2000.0,
                                          lower, lower + 250, start, 1)]}

    async def declare(self, client: httpx.AsyncClient) -> None:
        await self.call(client, "declare", "POST", "/v1/operations",
                        HONEST[self.rng.randrange(3)], self.declaration())

    async def check(self, client: httpx.AsyncClient) -> None:
        await self.call(client, "check", "POST", "/v1/operations/check",
                        HONEST[self.rng.randrange(3)], self.declaration())

    async def tracks(self, client: httpx.AsyncClient, party: str) -> None:
        now = utc_now_text()
        elapsed = (datetime.now(UTC) - self.t0).total_seconds()
        reports = []
        for ident, lat, lon, alt, heading in self.aircraft[party]:
            d = 200.0 * elapsed / 111_000  # 200 m/s on a straight line, in degrees
            reports.append({
                "aircraft_id": ident, "time": now, "altitude_m": alt,
                "lat": lat + d * math.cos(math.radians(heading)),
                "lon": lon + d * math.sin(math.radians(heading)) / math.cos(math.radians(lat)),
                "ground_speed_mps": 200.0, "track_deg": heading, "vertical_rate_mps": 0.0})
        await self.call(client, "tracks", "POST", "/v1/tracks", party, {"reports": reports})

    async def message(self, client: httpx.AsyncClient) -> None:
        self.count += 1
        i = self.count
        sender, to = HONEST[i % 3], HONEST[(i + 1) % 3]
        subject = f"h{i}"
        self.sent[subject] = (time.perf_counter(), self.window)
        await self.call(client, "message", "POST", "/v1/messages", sender,
                        {"to": to, "urgency": "routine", "subject": subject, "body": "FL200"})

    async def health(self, client: httpx.AsyncClient) -> None:
        await self.call(client, "health", "GET", "/v1/health", "")

    async def stream(self, client: httpx.AsyncClient, party: str, ready: asyncio.Event) -> None:
        async def on_event(event: dict[str, Any], at: float) -> None:
            if event.get("kind") != "message.received":
                return
            data = event.get("data", {})
            sent = self.sent.pop(data.get("subject", ""), None)
            if sent is None:
                return
            self.record(sent[1], "stream", at - sent[0], "200")
            self.spawn(self.call(client, "reply", "POST",
                                 f"/v1/messages/{data['id']}/replies", party,
                                 {"reply": "acknowledged"}))

        while not self.stopping:  # a dropped stream resumes (as a client would)
            await follow_stream("127.0.0.1", self.server.port, self.tokens[party], on_event,
                                ready)
            await asyncio.sleep(0.5)

    async def run(self, until: asyncio.Event) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=self.server.base_url, limits=limits) as client:
            readies = [asyncio.Event() for _ in HONEST]
            streams = [asyncio.ensure_future(self.stream(client, p, r))
                       for p, r in zip(HONEST, readies, strict=True)]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
            tickers = [
                self.ticker("health", 4, lambda: self.health(client)),
                self.ticker("declare", 0.5, lambda: self.declare(client)),
                self.ticker("check", 0.5, lambda: self.check(client)),
                self.ticker("message", 2, lambda: self.message(client)),
                *(self.ticker("tracks", 1, lambda p=p: self.tracks(client, p))  # type: ignore[misc]
                  for p in HONEST)]
            running = [asyncio.ensure_future(t) for t in tickers]
            await until.wait()
            self.stopping = True
            for t in running:
                t.cancel()
            if self.tasks:  # in-flight requests end by their own timeout
                await asyncio.wait(list(self.tasks), timeout=REQUEST_TIMEOUT_S + 5)
            for t in streams:
                t.cancel()
            await asyncio.gather(*streams, *running, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# The hostile party (runs in its own process)
# ---------------------------------------------------------------------------------------------


class Hostile:
    """What the attack did and what it got back: ``"201"``, ``"400 body_too_large"``…"""

    def __init__(self, base: str, tokens: dict[str, str], seconds: float,
                 db_args: list[str], code: str | None) -> None:
        self.base, self.tokens, self.db_args, self.code = base, tokens, db_args, code
        self.port = int(base.rsplit(":", 1)[1])
        self.deadline = time.monotonic() + seconds
        self.got: Counter[str] = Counter()
        self.notes: list[str] = []
        self.client = httpx.AsyncClient(base_url=base, timeout=30.0,
                                        limits=httpx.Limits(max_connections=600))

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def h(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    async def send(self, method: str, path: str, party: str, body: bytes | Any = None,
                   headers: dict[str, str] | None = None, timeout: float = 30.0,
                   cap: int = 256 * 1024**2) -> tuple[str, int, float, Any]:
        """One request; reads at most ``cap`` bytes of the answer (counting, not keeping,
        past 1 MiB). Returns (``"status code"``, answer size, seconds, parsed answer)."""
        content = body if isinstance(body, bytes) else (
            None if body is None else json.dumps(body).encode())
        hdrs = {**self.h(party), **(headers or {})}
        if content is not None:
            hdrs.setdefault("Content-Type", "application/json")
        t0 = time.perf_counter()
        size, kept, parsed = 0, bytearray(), None
        try:
            async with asyncio.timeout(timeout):
                async with self.client.stream(method, path, content=content,
                                              headers=hdrs) as r:
                    async for chunk in r.aiter_raw():
                        size += len(chunk)
                        if len(kept) < 1024**2:
                            kept += chunk
                        if size >= cap:
                            break
                    status = r.status_code
        except TimeoutError:
            self.got["timeout"] += 1
            return "timeout", size, time.perf_counter() - t0, None
        except httpx.HTTPError as error:
            self.got[type(error).__name__] += 1
            return type(error).__name__, size, time.perf_counter() - t0, None
        with contextlib.suppress(ValueError):
            parsed = json.loads(bytes(kept)) if size == len(kept) else None
        code = parsed.get("code", "") if isinstance(parsed, dict) else ""
        label = f"{status} {code}".strip()
        self.got[label] += 1
        return label, size, time.perf_counter() - t0, parsed

    async def message_loop(self, sender: str, to: str, period: float, body: str = "") -> None:
        i = 0
        while self.left() > 0:
            i += 1
            with contextlib.suppress(Exception):
                await self.client.post("/v1/messages", headers=self.h(sender), json={
                    "to": to, "urgency": "routine", "subject": f"x{i}", "body": body})
            await asyncio.sleep(period)

    async def close(self) -> None:
        await self.client.aclose()


def zigzag(n: int, lon: float, lat: float, width: float = 0.2,
           height: float = 0.1) -> list[list[float]]:
    """A comb: a straight base and a top edge of ``n - 3`` teeth alternating deep and
    shallow — a simple polygon of ``n`` positions (closed) whose buffer is expensive."""
    teeth = n - 3
    top = [[lon + width * i / (teeth - 1), lat + (height if i % 2 else height * 0.02)]
           for i in range(teeth)]
    ring = [[lon, lat - 0.001], [lon + width, lat - 0.001], *top[::-1]]
    return [*ring, ring[0]]


def polygon_volume(ring: list[list[float]], start: datetime, hours: float,
                   lower: float = 0.0, upper: float = 18000.0) -> dict[str, Any]:
    return {"footprint": {"type": "Polygon", "coordinates": [ring]},
            "altitude_lower_m": lower, "altitude_upper_m": upper,
            "time_start": iso(start), "time_end": iso(start + timedelta(hours=hours))}


async def declare_over_others(a: Hostile, party: str, ring: list[list[float]],
                              start: datetime, what: str) -> None:
    """Declare ``ring`` for four weeks from ``start`` at a high priority over whatever the
    honest parties declared there, carrying the ovns the line names in its ``409
    missing_ovns`` (up to four tries), as a determined party would; notes each answer."""
    key: list[str] = []
    for _attempt in range(4):
        label, _, seconds, answer = await a.send("POST", "/v1/operations", party, {
            "volumes": [polygon_volume(ring, start, 28 * 24)], "priority": 100, "key": key},
            timeout=90)
        a.notes.append(f"{what}: {label} in {seconds:.1f} s")
        if not label.startswith("409 missing_ovns") or not isinstance(answer, dict):
            return
        key += [m["ovn"] for m in answer.get("missing_ovns") or []]


async def attack_polygon(a: Hostile, n: int) -> None:
    """Declare the comb over the honest parties' area at a high priority, carrying the ovns
    the line asks for (it names them), then dry-run near it as any party would."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    ring = zigzag(n, CENTRE[0] - 0.1, CENTRE[1] - 0.05)
    await declare_over_others(a, "rogue", ring, start, f"declare {n} vertices")
    worst = 0.0
    while a.left() > 0:  # dry runs near it, as any party's would be
        _, _, seconds, _ = await a.send("POST", "/v1/operations/check", "rogue2", {
            "volumes": [circle_volume(CENTRE[0], CENTRE[1], 3000, 1000, 2000,
                                      start + timedelta(days=3), 1)]}, timeout=60)
        worst = max(worst, seconds)
    a.notes.append(f"dry run near it: worst {worst:.2f} s")


async def attack_amplify(a: Hostile) -> None:
    body = b'{"reports":[' + b",".join([b"0"] * 500_000) + b"]}"
    while a.left() > 0:
        label, size, seconds, _ = await a.send("POST", "/v1/tracks", "spy", body,
                                               timeout=60)
        a.notes.append(f"{len(body) / 1e6:.1f} MB in → {size / 1e6:.1f} MB out "
                       f"in {seconds:.1f} s ({label})")


async def attack_volumes(a: Hostile) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    round_ = 0
    while a.left() > 0:
        round_ += 1
        volumes = []
        for i in range(3000):  # small squares on a grid far from the honest area
            x, y = 40.0 + (i % 60) * 0.02, 30.0 + (i // 60) * 0.02 + round_ * 2
            ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
            volumes.append(polygon_volume(ring, start, 1, 1000, 2000))
        label, _, seconds, _ = await a.send("POST", "/v1/operations", "rogue",
                                            {"volumes": volumes}, timeout=60)
        a.notes.append(f"3000 volumes: {label} in {seconds:.1f} s")


async def attack_aircraft(a: Hostile) -> None:
    batch = 0
    while a.left() > 0:
        batch += 1
        now = utc_now_text()
        reports = [{"aircraft_id": f"ghost-{batch}-{i}", "time": now, "lat": 30 + i * 1e-4,
                    "lon": 45.0, "altitude_m": 5000, "ground_speed_mps": 100,
                    "track_deg": 90} for i in range(5000)]
        label, _, seconds, _ = await a.send("POST", "/v1/tracks", "rogue",
                                            {"reports": reports}, timeout=60)
        a.notes.append(f"5000 new aircraft: {label} in {seconds:.1f} s")


async def open_stream(a: Hostile, party: str, read: bool,
                      rcvbuf: int | None = None) -> tuple[str, socket.socket | None]:
    """An SSE stream; reading it or not. Returns its status and (if not reading) the socket."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", a.port)), 10)
        await loop.sock_sendall(sock, (
            f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a.tokens[party]}"
            "\r\nAccept: text/event-stream\r\n\r\n").encode())
        head = await asyncio.wait_for(loop.sock_recv(sock, 4096), 15)
    except (OSError, TimeoutError) as error:
        sock.close()
        return type(error).__name__, None
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "?"
    if status != "200":
        sock.close()
        return status, None
    if read:
        async def drain() -> None:
            with contextlib.suppress(OSError):
                while await loop.sock_recv(sock, 65536):
                    pass
            sock.close()
        asyncio.ensure_future(drain())
        return status, None
    return status, sock


async def attack_streams(a: Hostile, count: int, read: bool, body_bytes: int,
                         period: float) -> None:
    results = await asyncio.gather(*(open_stream(a, "rogue", read, None if read else 4096)
                                     for _ in range(count)))
    a.got.update(f"stream {status}" for status, _ in results)
    socks = [s for _, s in results if s is not None]
    feed = asyncio.ensure_future(a.message_loop("rogue2", "rogue", period, "x" * body_bytes))
    await asyncio.sleep(max(0.0, a.left()))
    await feed
    closed = 0
    for s in socks:  # did the server drop the ones that never read?
        try:
            s.setblocking(False)
            while s.recv(1 << 20):
                pass
            closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    if socks:
        a.notes.append(f"{closed} of {len(socks)} non-reading streams dropped by the server")


async def endless_receiver(sent: list[int]) -> asyncio.Server:
    """A webhook receiver answering 200 with a chunked body that never ends."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"A" * 65536)
            while True:
                writer.write(chunk)
                await writer.drain()
                sent[0] += 65536
        writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def attack_webhook_endless(a: Hostile) -> None:
    sent = [0]
    receiver = await endless_receiver(sent)
    port = receiver.sockets[0].getsockname()[1]
    label, *_ = await a.send("PUT", "/v1/parties/me/webhook", "rogue", {
        "url": f"http://127.0.0.1:{port}/hook", "secret": "s" * 32})
    a.notes.append(f"webhook set: {label}")
    await a.message_loop("rogue2", "rogue", 0.5)
    _, _, _, status = await a.send("GET", "/v1/parties/me/webhook", "rogue")
    receiver.close()
    a.notes.append(f"receiver sent {sent[0] / 1e6:.0f} MB; webhook status: "
                   f"{json.dumps(status)[:300]}")


async def attack_slowloris(a: Hostile) -> None:
    loop = asyncio.get_running_loop()
    opened: list[tuple[socket.socket, float, str]] = []
    closed_after: list[float] = []

    async def one(kind: str) -> None:
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", a.port)), 10)
            if kind == "headers":
                await loop.sock_sendall(sock, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
            else:
                await loop.sock_sendall(sock, (
                    f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    f"{a.tokens['rogue']}\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100000\r\n\r\n{").encode())
        except (OSError, TimeoutError):
            a.got[f"{kind}: connect failed"] += 1
            sock.close()
            return
        t0 = time.monotonic()
        opened.append((sock, t0, kind))
        try:
            while a.left() > 0:
                await asyncio.sleep(2)
                await loop.sock_sendall(sock, b"X-a: b\r\n" if kind == "headers" else b" ")
        except OSError:
            closed_after.append(time.monotonic() - t0)
            a.got[f"{kind}: closed by server"] += 1
            return
        a.got[f"{kind}: still open at the end"] += 1
        sock.close()

    await asyncio.gather(*(one("headers" if i % 2 else "body") for i in range(400)))
    if closed_after:
        a.notes.append(f"server closed {len(closed_after)} after median "
                       f"{percentile(closed_after, 0.5):.1f} s")


async def attack_nesting(a: Hostile) -> None:
    msg = (await a.client.post("/v1/messages", headers=a.h("rogue2"), json={
        "to": "rogue", "urgency": "routine", "subject": "nest"})).json()
    deep = 100_000
    bodies = {
        "array": b"[" * deep + b"]" * deep,
        "object": b'{"a":' * deep + b"1" + b"}" * deep,
        "in-field": b'{"to": ' + b"[" * deep + b"]" * deep + b', "urgency": "routine"}',
    }
    targets = [("POST", "/v1/messages", "rogue"),
               ("POST", f"/v1/messages/{msg.get('id', 'x')}/replies", "rogue"),
               ("POST", "/v1/tracks", "rogue"), ("POST", "/v1/operations", "rogue"),
               ("POST", "/v1/operations/check", "rogue"),
               ("POST", "/v1/operations/query", "spy"),
               ("POST", "/v1/constraints", "rogue-auth"),
               ("PUT", "/v1/parties/me/webhook", "rogue"),
               ("PUT", "/v1/parties/me/escalation", "rogue"),
               ("PUT", "/v1/parties/me/status", "rogue"), ("POST", "/v1/aircraft", "rogue")]
    while a.left() > 0:
        for method, path, party in targets:
            for kind, body in bodies.items():
                label, *_ = await a.send(method, path, party, body, timeout=20)
                if not label.startswith("4"):
                    a.notes.append(f"{method} {path} ({kind}): {label}")


EXTREME_TIMES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                 "9999-12-31T23:59:60Z", "2026-12-31T23:59:60Z", "0000-01-01T00:00:00Z",
                 "10000-01-01T00:00:00Z", "2026-11-28T06:00:00-00:00",
                 "2026-11-28T06:00:00+24:00", "٢٠٢٦-١١-٢٨T06:00:00Z", "1e400",
                 "2026-11-28T06:00:00.9999999999999999999Z"]
EXTREME_NUMBERS: list[Any] = [1e308, -1e308, 2**63, -(2**63) - 1, 10**400, 5e-324]


async def attack_extremes(a: Hostile) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    def volume(**over: Any) -> dict[str, Any]:
        return {**circle_volume(44.0, 33.0, 1000, 100, 200, start, 1), **over}

    requests: list[tuple[str, str, str, Any]] = []
    for t in EXTREME_TIMES:
        report = {"aircraft_id": "x1", "time": t, "lat": 33, "lon": 44, "altitude_m": 1,
                  "ground_speed_mps": 1, "track_deg": 1}
        requests += [("POST", "/v1/tracks", "rogue", {"reports": [report]}),
                     ("POST", "/v1/operations", "rogue", {"volumes": [volume(time_start=t)]}),
                     ("POST", "/v1/operations/check", "rogue",
                      {"volumes": [volume(time_end=t)]}),
                     ("POST", "/v1/operations/query", "spy",
                      {"area": {"footprint": {"type": "Circle", "center": [44, 33],
                                              "radius_m": 10}, "time_start": t}}),
                     ("GET", f"/v1/alerts?since={t}", "spy", None)]
    for x in EXTREME_NUMBERS:
        raw = str(x).encode()
        requests += [
            ("POST", "/v1/tracks", "rogue", b'{"reports":[{"aircraft_id":"x","time":"'
             + utc_now_text().encode() + b'","lat":' + raw + b',"lon":1,"altitude_m":'
             + raw + b',"ground_speed_mps":1,"track_deg":' + raw + b"}]}"),
            ("POST", "/v1/operations", "rogue", b'{"priority":' + raw + b',"volumes":[{'
             b'"footprint":{"type":"Circle","center":[' + raw + b',1],"radius_m":' + raw
             + b'},"altitude_lower_m":' + raw + b',"altitude_upper_m":1,"time_start":"'
             + iso(start).encode() + b'","time_end":"' + iso(start + timedelta(hours=1))
             .encode() + b'"}]}'),
            ("GET", f"/v1/ledger/entries?start={x}&end={x}", "spy", None),
            ("GET", f"/v1/ledger/proofs/inclusion?index={x}&tree_size={x}", "spy", None),
            ("GET", f"/v1/ledger/receipts/{x}", "spy", None),
            ("GET", f"/v1/events?after={x}&limit={x}", "spy", None)]
    while a.left() > 0:
        for method, path, party, body in requests:
            label, *_ = await a.send(method, path, party, body, timeout=20)
            if not label.startswith(("2", "4")):
                a.notes.append(f"{method} {path} {str(body)[:120]}: {label}")


CURSORS = ["١٢٣", "٣", "²", "¹²", "-1", "+5", " 7", "1e3", "0x10", "99999999999999999999999",
           "9223372036854775808", "", "abc", "1.5", "Ⅻ", "𝟗"]


async def attack_cursors(a: Hostile) -> None:
    async def sse(headers: str, query: str = "") -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        writer.write((f"GET /v1/events{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{a.tokens['rogue']}\r\nAccept: text/event-stream\r\n"
                      f"{headers}\r\n").encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status = head.split(b" ", 2)[1].decode()
            if status == "200":  # the stream must then stay open, not abort
                try:
                    rest = await asyncio.wait_for(reader.read(65536), 1.5)
                    if not rest:
                        status = "200 then aborted"
                except TimeoutError:
                    pass
            return status
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as error:
            return type(error).__name__
        finally:
            writer.close()

    while a.left() > 0:
        for c in CURSORS:
            status = await sse(f"Last-Event-ID: {c}\r\n")
            a.got[f"SSE Last-Event-ID {status}"] += 1
            if not status.startswith(("2", "4")) or "abort" in status:
                a.notes.append(f"Last-Event-ID {c!r}: {status}")
            status = await sse("", f"?after={quote(c)}")
            a.got[f"SSE after {status}"] += 1
            if not status.startswith(("2", "4")) or "abort" in status:
                a.notes.append(f"SSE ?after={c!r}: {status}")
            label, *_ = await a.send("GET", f"/v1/events?after={quote(c)}&limit={quote(c)}",
                                     "rogue")
            if not label.startswith(("2", "4")):
                a.notes.append(f"JSON ?after={c!r}: {label}")


PROBE_URLS = ["http://127.0.0.1:{port}/v1/health", "http://localhost:22/",
              "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
              "http://192.168.0.1/", "http://[::1]:{port}/", "http://0.0.0.0:{port}/",
              "http://2130706433:{port}/", "http://0177.0.0.1:{port}/",
              "http://[::ffff:127.0.0.1]:{port}/", "http://127.1:{port}/",
              "http://metadata.google.internal/", "http://100.100.100.200/",
              "http://[fe80::1]/", "http://localhost.:{port}/"]


async def attack_webhook_probe(a: Hostile) -> None:
    feed = asyncio.ensure_future(a.message_loop("rogue2", "rogue", 0.3))
    for template in PROBE_URLS:
        url = template.format(port=a.port)
        label, _, _, answer = await a.send("PUT", "/v1/parties/me/webhook", "rogue",
                                           {"url": url, "secret": "s" * 32})
        if label.startswith("2"):
            await asyncio.sleep(1.0)
            _, _, _, status = await a.send("GET", "/v1/parties/me/webhook", "rogue")
            error = status.get("last_error") if isinstance(status, dict) else None
            a.notes.append(f"{url}: accepted; last_error {error!r}")
        else:
            a.notes.append(f"{url}: {label}")
    await a.send("DELETE", "/v1/parties/me/webhook", "rogue")
    feed.cancel()


async def attack_revocation(a: Hostile) -> None:
    got: list[float] = []
    closed: list[float] = []

    def on_event(event: dict[str, Any], at: float) -> None:
        if event.get("kind") == "message.received":
            got.append(at)

    async def follow() -> None:
        await follow_stream("127.0.0.1", a.port, a.tokens["rogue3"], on_event)
        closed.append(time.perf_counter())

    stream = asyncio.ensure_future(follow())
    feed = asyncio.ensure_future(a.message_loop("rogue2", "rogue3", 0.2))
    await asyncio.sleep(2)
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "deconfliction", "party", "revoke", "rogue3", *a.db_args],
        env=code_env(a.code), capture_output=True, text=True, timeout=60)
    revoked = time.perf_counter()
    a.notes.append(f"party revoke: exit {done.returncode}")
    watch_until = time.perf_counter() + max(a.left(), 30.0)
    while time.perf_counter() < watch_until and not stream.done():
        await asyncio.sleep(0.1)
    after = [t - revoked for t in got if t > revoked]
    if closed and closed[0] < revoked:
        a.notes.append(f"stream closed {revoked - closed[0]:.2f} s before `party revoke` had "
                       f"returned; {len(after)} events delivered after it")
    elif closed:
        a.notes.append(f"stream closed {closed[0] - revoked:.2f} s after the revocation; "
                       f"{len(after)} events delivered after it")
    else:
        a.notes.append(f"stream still open {time.perf_counter() - revoked:.1f} s after the "
                       f"revocation; {len(after)} events delivered after it")
    stream.cancel()
    feed.cancel()
    label, *_ = await a.send("GET", "/v1/events", "rogue3")
    a.notes.append(f"revoked token on GET /v1/events: {label}")


async def attack_comb_pair(a: Hostile) -> None:
    """The worst footprint the limits accept (a 999-position comb), stored; then another
    such comb over it, dry-run and declared by a second hostile party: both sides jagged."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    mine = zigzag(999, CENTRE[0] - 0.1, CENTRE[1] - 0.05)
    theirs = zigzag(999, CENTRE[0] - 0.099, CENTRE[1] - 0.04)
    await declare_over_others(a, "rogue", mine, start, "declare a 999-position comb")
    times: dict[str, list[float]] = {"check": [], "declare": []}
    while a.left() > 0:
        for kind, path in (("check", "/v1/operations/check"), ("declare", "/v1/operations")):
            _, _, seconds, _ = await a.send("POST", path, "rogue2", {
                "volumes": [polygon_volume(theirs, start + timedelta(days=3), 2)]}, timeout=60)
            times[kind].append(seconds)
    for kind, values in times.items():
        if values:
            a.notes.append(f"{kind} of a second comb over it: median "
                           f"{percentile(values, 0.5):.2f} s, worst {max(values):.2f} s")


async def attack_stacked(a: Hostile) -> None:
    """Two hostile parties report 500 aircraft each on one point at 1 Hz (within the
    limits): 250,000 cross-party pairs for the tactical cycle, each a conflict."""
    while a.left() > 0:
        t0 = time.monotonic()
        for party in ("rogue", "rogue2"):
            now = utc_now_text()
            reports = [{"aircraft_id": f"{party}-s{i}", "time": now, "lat": 34.0, "lon": 40.0,
                        "altitude_m": 5000, "ground_speed_mps": 100, "track_deg": 0}
                       for i in range(500)]
            await a.send("POST", "/v1/tracks", party, {"reports": reports}, timeout=30)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    _, size, seconds, answer = await a.send("GET", "/v1/alerts", "rogue", timeout=30)
    count = len(answer.get("alerts", [])) if isinstance(answer, dict) else "?"
    a.notes.append(f"GET /v1/alerts for rogue: {count} alerts, {size / 1e6:.1f} MB "
                   f"in {seconds:.1f} s")


ATTACKS: dict[str, tuple[str, Callable[[Hostile], Awaitable[None]], bool]] = {
    # name: (what, attack, needs a loopback webhook allowed)
    "polygon-2000": ("2,000-vertex zig-zag polygon, then dry runs near it",
                     lambda a: attack_polygon(a, 2000), False),
    "polygon-4000": ("4,000-vertex zig-zag polygon, then dry runs near it",
                     lambda a: attack_polygon(a, 4000), False),
    "polygon-10000": ("10,000-vertex zig-zag polygon, then dry runs near it",
                      lambda a: attack_polygon(a, 10000), False),
    "comb-pair": ("a 999-position comb stored, another dry-run and declared over it",
                  attack_comb_pair, False),
    "stacked": ("1,000 aircraft of two parties on one point at 1 Hz", attack_stacked, False),
    "amplify": ("1 MB {\"reports\":[0,0,…]} by an observer, repeated", attack_amplify, False),
    "volumes-3000": ("operations of 3,000 volumes, repeated", attack_volumes, False),
    "new-aircraft": ("track batches of 5,000 new aircraft, repeated", attack_aircraft, False),
    "streams-500": ("500 SSE streams of one token (reading), fed messages",
                    lambda a: attack_streams(a, 500, True, 0, 0.05), False),
    "idle-streams": ("100 SSE streams that never read, fed 8 KB messages",
                     lambda a: attack_streams(a, 100, False, 8000, 0.02), False),
    "webhook-endless": ("a webhook receiver answering an endless body",
                        attack_webhook_endless, True),
    "slowloris": ("400 connections trickling headers or bodies", attack_slowloris, False),
    "nesting": ("JSON nested 100,000 deep on every write path", attack_nesting, False),
    "extremes": ("times outside years 1-9999, leap seconds, numeric extremes",
                 attack_extremes, False),
    "cursors": ("malformed Last-Event-ID / after / limit", attack_cursors, False),
    "webhook-probe": ("webhook URLs at loopback, private, link-local, metadata",
                      attack_webhook_probe, False),
    "revocation": ("party revoked while its stream is open", attack_revocation, False),
}


def hostile_main(name: str, base: str, tokens: dict[str, str], seconds: float,
                 db_args: list[str], code: str | None, out: Any, niceness: int) -> None:
    """The hostile process: capped memory and descriptors, lowered CPU priority (``--nice``:
    its own client's CPU is on another machine in reality, not on the server's cores), one
    attack, a summary back."""
    os.nice(niceness)
    resource.setrlimit(resource.RLIMIT_AS, (2 * GIB, 2 * GIB))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))

    async def go() -> dict[str, Any]:
        a = Hostile(base, tokens, seconds, db_args, code)
        try:
            await ATTACKS[name][1](a)
        except Exception as error:  # the bench reports it, it does not stop
            a.notes.append(f"attack stopped: {type(error).__name__}: {str(error)[:200]}")
        finally:
            with contextlib.suppress(Exception):
                await a.close()
        return {"got": dict(a.got), "notes": a.notes}

    try:
        out.send(asyncio.run(go()))
    except MemoryError:
        out.send({"got": {}, "notes": ["hostile process hit its 2 GiB cap"]})


# ---------------------------------------------------------------------------------------------
# One phase: fresh server, quiet window, attack window
# ---------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    quiet: Window
    attack: Window
    peak_rss_kib: int
    killed: bool
    load: float
    got: dict[str, int]
    notes: list[str]


async def run_phase(name: str, dbs: Databases, work: Path, args: argparse.Namespace) -> Phase:
    needs_allow = ATTACKS[name][2]
    load_at_start = os.getloadavg()[0]
    server = None
    for config in (WEBHOOK_ALLOW_CONFIGS if needs_allow else ("",)) + ("",):
        server = Server(dbs.fresh(), work, dbs.env,
                        "detection_interval_s = 1\n" + config + args.line_config)
        try:
            server.start()
            break
        except RuntimeError:
            continue
    assert server is not None and server.alive()
    honest = Honest(server, dbs.tokens)
    stop = asyncio.Event()
    load = asyncio.ensure_future(honest.run(stop))
    watch = {"peak": 0, "killed": False}

    async def watchdog() -> None:
        """Peak RSS, and ``kill -9`` past ``--kill-gib`` (the bench must not eat the machine)."""
        while True:
            rss = server.rss_kib()
            watch["peak"] = max(watch["peak"], rss, server.hwm_kib())
            if rss > args.kill_gib * 1024 * 1024 and not watch["killed"]:
                await asyncio.to_thread(server.kill)
                watch["killed"] = True
            await asyncio.sleep(0.2)

    guard = asyncio.ensure_future(watchdog())
    result: dict[str, Any] = {"got": {}, "notes": []}
    try:
        await asyncio.sleep(args.warm_s)  # start-up, the detector's first compiled cycles
        honest.window = "quiet"
        await asyncio.sleep(args.quiet_s)
        honest.window = "attack"
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=hostile_main, args=(
            name, server.base_url, dbs.tokens, args.attack_s, server.db_args, args.code, send,
            args.nice))
        child.start()
        hard_end = time.monotonic() + args.attack_s + 60
        while time.monotonic() < hard_end and not receive.poll():
            if not child.is_alive():
                await asyncio.sleep(0.5)  # its last words may be on the way
                break
            await asyncio.sleep(0.2)
        honest.window = "after"  # the attack is over: what follows is not counted
        if receive.poll():
            result = receive.recv()
        else:
            result["notes"].append("hostile process overran: killed")
        if child.is_alive():
            child.kill()
        await asyncio.to_thread(child.join, 10)
        stop.set()
        await asyncio.wait_for(load, REQUEST_TIMEOUT_S + 30)
    finally:
        stop.set()
        guard.cancel()
        peak = max(watch["peak"], server.hwm_kib())
        if not server.alive() and not watch["killed"]:
            result["notes"].append("server died: " + server.log_tail(300).replace("\n", " | "))
        await asyncio.to_thread(server.stop)
    return Phase(name, honest.windows["quiet"], honest.windows["attack"], peak,
                 bool(watch["killed"]), load_at_start, result["got"], result["notes"])


def ms(x: float) -> str:
    return "   n/a" if math.isnan(x) else f"{x * 1000:6.0f}" if x >= 0.0995 else f"{x * 1000:6.1f}"


def report(phases: list[Phase], backend: str, args: argparse.Namespace, state: str) -> None:
    print(f"\nbackend {backend}; quiet {args.quiet_s:.0f} s then attack {args.attack_s:.0f} s "
          f"per attack, each on a fresh server; honest load: 300 aircraft at 1 Hz, a declaration "
          f"and a dry run every 2 s, 2 messages/s each replied, 3 SSE streams, 4 health/s")
    print(f"machine: {state}")
    if args.line_config:
        print("server configuration added: " + args.line_config.strip().replace("\n", "; "))
    print(f"the hostile process runs at nice {args.nice}: on this one machine its own client "
          "competes with the server for the same cores, which a remote attacker's does not; "
          "the server's defence is what is measured" if args.nice else
          "the hostile process runs at nice 0: its own client's CPU competes with the server's")
    print("honest p99 per operation, ms (quiet / under attack); worst = the largest attack p99 ÷ "
          "the quiet p99 of all attacks' quiet windows pooled (more samples than one window); "
          "load = the machine's 1-min load average as the attack's server started")
    pooled = {op: percentile([x for p in phases for x in p.quiet.latencies[op]], 0.99)
              for op in OPS}
    head = f"{'attack':<16}" + "".join(f"{op:>15}" for op in OPS) + \
        f"{'worst':>8}{'peak RSS':>10}{'5xx':>5}{'load':>6}  verdict"
    print(head)
    print("-" * len(head))
    print(f"{'quiet, pooled':<16}" + "".join(f"{ms(pooled[op])}         " for op in OPS))
    for p in phases:
        cells, worst_ratio, worst_p99 = [], 0.0, 0.0
        for op in OPS:
            q = percentile(p.quiet.latencies[op], 0.99)
            x = percentile(p.attack.latencies[op], 0.99)
            cells.append(f"{ms(q)}/{ms(x)}  ")
            if not math.isnan(x):
                worst_p99 = max(worst_p99, x)
                if not math.isnan(pooled[op]) and pooled[op] > 0:
                    worst_ratio = max(worst_ratio, x / pooled[op])
        errors = p.attack.server_errors() + p.quiet.server_errors() + sum(
            n for k, n in p.got.items() if k[:1] == "5")
        lost = sum(c[s] for c in p.attack.statuses.values()
                   for s in ("timeout", "error", "backlog"))
        refused = sum(c["429"] for w in (p.quiet, p.attack) for c in w.statuses.values())
        verdict = []
        if worst_p99 >= P99_LIMIT_S:
            verdict.append("p99≥250ms")
        if worst_ratio > P99_RATIO:
            verdict.append(">2×")
        if p.peak_rss_kib >= RSS_LIMIT_KIB:
            verdict.append("RSS≥1GiB")
        if errors:
            verdict.append("5xx")
        if p.killed:
            verdict.append("SERVER KILLED")
        if lost:
            verdict.append(f"{lost} honest requests failed/timed out")
        if refused:
            verdict.append(f"{refused} honest requests refused 429")
        print(f"{p.name:<16}" + "".join(f"{c:>15}" for c in cells)
              + f"{worst_ratio:>7.1f}×{p.peak_rss_kib / 1024:>8.0f}MB{errors:>5}{p.load:>6.1f}  "
              + (", ".join(verdict) or "ok"))
    print("\nwhat each attack got back")
    for p in phases:
        got = ", ".join(f"{k} ×{v}" for k, v in sorted(p.got.items(), key=lambda kv: -kv[1]))
        print(f"{p.name:<16}{ATTACKS[p.name][0]}")
        print(f"{'':<16}answers: {got or '-'}")
        for note in p.notes[:12]:
            print(f"{'':<16}{note}")
        if len(p.notes) > 12:
            print(f"{'':<16}… {len(p.notes) - 12} more")


async def amain(args: argparse.Namespace) -> int:
    names = args.only.split(",") if args.only else list(ATTACKS)
    unknown = set(names) - set(ATTACKS)
    if unknown:
        raise SystemExit(f"unknown attacks {sorted(unknown)}; known: {', '.join(ATTACKS)}")
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    state = machine_state()
    print(f"adding parties … (work dir {work})", file=sys.stderr)
    dbs = Databases(work, PARTIES, args.database_url, args.code)
    phases = []
    backend = "postgresql" if args.database_url else "sqlite"
    began = time.monotonic()
    try:
        for name in names:
            print(f"attack {name} …", file=sys.stderr)
            phases.append(await run_phase(name, dbs, work, args))
    finally:
        dbs.close()
    report(phases, backend, args, state)
    print(f"\n{len(phases)} attacks in {(time.monotonic() - began) / 60:.1f} min; machine at the "
          f"end: {machine_state()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet-s", type=float, default=10.0)
    parser.add_argument("--attack-s", type=float, default=12.0)
    parser.add_argument("--warm-s", type=float, default=6.0)
    parser.add_argument("--only", default="", help="comma-separated attack names: "
                        + ", ".join(ATTACKS))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--code", default=None,
                        help="run the server from this src directory (PYTHONPATH)")
    parser.add_argument("--kill-gib", type=float, default=2.0,
                        help="kill -9 the server when its RSS passes this")
    parser.add_argument("--line-config", default="",
                        help="TOML appended to the server's configuration, e.g. "
                             "'[limits]\\nserver_ms_burst = 500' (\\n for new lines)")
    parser.add_argument("--nice", type=int, default=19,
                        help="the hostile process's niceness (0: as the server and the honest "
                             "parties)")
    args = parser.parse_args()
    args.line_config = args.line_config.replace("\\n", "\n")
    if args.line_config and not args.line_config.endswith("\n"):
        args.line_config += "\n"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
