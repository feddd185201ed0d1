"""Benchmark of the hotline's live delivery: POST /v1/messages → SSE, against a real server.

Usage: ``python bench/events.py [--rate 1000] [--seconds 10] [--parties 20]
[--database-url postgresql://…]`` (default: a fresh SQLite file)

Starts ``deconfliction serve`` on a loopback port with ``--parties`` operators, each holding an
SSE stream (``GET /v1/events``, ``Accept: text/event-stream``). Messages are offered at
``--rate`` per second for ``--seconds`` (party i → party i+1, at most ``--in-flight`` POSTs
outstanding); latency is from just before the POST to the SSE delivery of its
``message.received``. The reference, measured in the same run, is a bare ``GET /v1/health``
round trip; latencies are also shown as a ratio of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
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
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _reader(base: str, token: str, sent: dict[str, float], latencies: list[float],
                  ready: asyncio.Event, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(base_url=base, timeout=None) as client:
        async with client.stream("GET", "/v1/events", headers=headers) as response:
            ready.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event["kind"] == "message.received":
                        t0 = sent.get(event["data"]["subject"])
                        if t0 is not None:
                            latencies.append(time.perf_counter() - t0)
                if stop.is_set():
                    return


async def _run(base: str, tokens: list[str], rate: float, seconds: float,
               in_flight: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base) as probe:
        for _ in range(50):
            await probe.get("/v1/health")
        health = []
        for _ in range(300):
            t0 = time.perf_counter()
            await probe.get("/v1/health")
            health.append(time.perf_counter() - t0)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in tokens]
    readers = [asyncio.create_task(_reader(base, t, sent, latencies, r, stop))
               for t, r in zip(tokens, readies, strict=True)]
    for r in readies:
        await r.wait()
    clients = [httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {t}"},
                                 limits=httpx.Limits(max_connections=in_flight))
               for t in tokens]
    names = [f"p{i:02d}" for i in range(len(tokens))]
    gate = asyncio.Semaphore(in_flight)
    accepted = 0

    async def post(i: int) -> None:
        nonlocal accepted
        async with gate:
            sender = i % len(tokens)
            subject = f"m{i}"
            sent[subject] = time.perf_counter()
            r = await clients[sender].post("/v1/messages", json={
                "to": names[(sender + 1) % len(tokens)], "urgency": "routine",
                "subject": subject})
            if r.status_code == 201:
                accepted += 1

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
    total = time.perf_counter() - start
    stop.set()
    for task in readers:
        task.cancel()
    for c in clients:
        await c.aclose()
    ref = statistics.median(health)
    return {"offered": i, "accepted": accepted, "delivered": len(latencies),
            "post_s": posted, "total_s": total, "health_p50": ref,
            "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
            "max": max(latencies) if latencies else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--parties", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    db = (["--database-url", args.database_url] if args.database_url
          else ["--db", str(work / "line.db")])
    py = [sys.executable, "-m", "deconfliction"]
    tokens = [subprocess.run([*py, "party", "add", f"p{i:02d}", "--role", "operator", *db],
                             capture_output=True, text=True, check=True).stdout.strip()
              for i in range(args.parties)]
    config = work / "line.toml"
    config.write_text("detection_interval_s = 0\n")
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
        r = asyncio.run(_run(base, tokens, args.rate, args.seconds, args.in_flight))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    ms = 1000.0
    ref = r["health_p50"]
    print(f"backend {backend}; {args.parties} SSE clients; offered {args.rate:.0f}/s "
          f"for {args.seconds:.0f} s ({r['offered']} messages, ≤{args.in_flight} in flight)")
    print(f"{'measure':<34}{'value':>12}{'× health':>10}")
    print(f"{'GET /v1/health round trip p50':<34}{r['health_p50'] * ms:>10.2f}ms{1.0:>10.1f}")
    for key, label in (("p50", "POST → SSE latency p50"), ("p99", "POST → SSE latency p99"),
                       ("max", "POST → SSE latency max")):
        print(f"{label:<34}{r[key] * ms:>10.2f}ms{r[key] / ref:>10.1f}")
    print(f"{'accepted (201) / offered':<34}{r['accepted']:>6}/{r['offered']:<6}")
    print(f"{'delivered over SSE':<34}{r['delivered']:>12}")
    print(f"{'throughput (accepted / post time)':<34}{r['accepted'] / r['post_s']:>10.0f}/s")
    print(f"target p99 ≤ 100 ms: {'met' if r['p99'] <= 0.1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
