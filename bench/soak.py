"""The soak: a steady day's load for ``--seconds`` (default 600) while the server's memory is
sampled every 10 s; memory must stay flat (issue 13, item 8).

Usage: ``python bench/soak.py [--seconds 600] [--aircraft 1000] [--streams 50]
[--messages 5] [--database-url postgresql://…] [--code /other/checkout/src]``

Starts ``deconfliction serve`` (tactical cycle on, 1 s) on a fresh database (a temp SQLite file
unless ``--database-url``) with 10 operators and an observer. The load: ``--aircraft`` aircraft
reporting at 1 Hz (one batch per operator per second), ``--streams`` SSE streams spread over the
parties and read as a client would, ``--messages`` hotline messages per second each answered with
a reply by its recipient. Every 10 s it prints the server's RSS (``VmRSS`` of /proc/<pid>/status)
and the window's track-batch and message latencies (p50/p99) and POST → stream p99; at the end
the first, last and largest RSS and the slope of RSS over time (least squares, over the whole
run and over its second half, MB per minute).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _line import (  # noqa: E402
    Databases,
    Server,
    follow_stream,
    machine_state,
    percentile,
    utc_now_text,
)

OPERATORS = tuple(f"op{i}" for i in range(10))
PARTIES = {**dict.fromkeys(OPERATORS, "operator"), "watch": "observer"}
SAMPLE_S = 10.0


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) in MiB per minute."""
    if len(samples) < 2:
        return float("nan")
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(m for _, m in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return 60.0 * sum((t - mx) * (m - my) for t, m in samples) / var if var else float("nan")


class Soak:
    def __init__(self, server: Server, tokens: dict[str, str], args: argparse.Namespace) -> None:
        self.server, self.tokens, self.args = server, tokens, args
        self.stop = False
        self.lat: dict[str, list[float]] = {"tracks": [], "message": [], "reply": [], "stream": []}
        self.status: Counter[str] = Counter()
        self.sent: dict[str, float] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        rng = random.Random(3)
        per = args.aircraft // len(OPERATORS)
        self.fleet = {p: [(f"{p}-{k}", 30 + rng.random() * 6, 34 + rng.random() * 6,
                           1000 + 300 * rng.randrange(40), rng.random() * 360)
                          for k in range(per)] for p in OPERATORS}
        self.t0 = time.time()

    def h(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    async def timed(self, client: httpx.AsyncClient, op: str, path: str, party: str,
                    body: Any) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = await client.post(path, headers=self.h(party), json=body, timeout=30)
            self.status[f"{op} {r.status_code}"] += 1
        except httpx.HTTPError as error:
            self.status[f"{op} {type(error).__name__}"] += 1
            return None
        self.lat[op].append(time.perf_counter() - t0)
        return r

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def reporter(self, client: httpx.AsyncClient, party: str) -> None:
        due = time.perf_counter() + random.random()
        while not self.stop:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += 1.0
            now, dt = utc_now_text(), time.time() - self.t0
            reports = []
            for ident, lat, lon, alt, heading in self.fleet[party]:
                d = 150.0 * (dt % 600) / 111_000  # out and back every 20 minutes
                reports.append({
                    "aircraft_id": ident, "time": now, "altitude_m": alt,
                    "lat": lat + d * math.cos(math.radians(heading)),
                    "lon": lon + d * math.sin(math.radians(heading)),
                    "ground_speed_mps": 150.0, "track_deg": heading})
            self.spawn(self.timed(client, "tracks", "/v1/tracks", party, {"reports": reports}))

    async def talker(self, client: httpx.AsyncClient) -> None:
        i, due = 0, time.perf_counter()
        while not self.stop:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += 1.0 / self.args.messages
            i += 1
            sender, to = OPERATORS[i % 10], OPERATORS[(i * 3 + 1) % 10]
            if to == sender:
                to = OPERATORS[(i + 1) % 10]
            self.sent[f"s{i}"] = time.perf_counter()
            self.spawn(self.timed(client, "message", "/v1/messages", sender, {
                "to": to, "urgency": "routine", "subject": f"s{i}", "body": "x" * 200}))

    async def stream(self, client: httpx.AsyncClient, party: str, replies: bool) -> None:
        async def on_event(event: dict[str, Any], at: float) -> None:
            if event.get("kind") != "message.received":
                return
            data = event["data"]
            t0 = self.sent.pop(data["subject"], None) if replies else None
            if t0 is not None:
                self.lat["stream"].append(at - t0)
                self.spawn(self.timed(client, "reply", f"/v1/messages/{data['id']}/replies",
                                      party, {"reply": "acknowledged"}))

        while not self.stop:
            await follow_stream("127.0.0.1", self.server.port, self.tokens[party], on_event)
            self.status["stream reconnect"] += 1
            await asyncio.sleep(1)

    async def run(self) -> list[tuple[float, float]]:
        samples: list[tuple[float, float]] = []
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=60)
        parties = [*OPERATORS, "watch"]
        async with httpx.AsyncClient(base_url=self.server.base_url, limits=limits) as client:
            # the first stream of each operator replies; the rest read only
            workers = [asyncio.ensure_future(self.stream(client, parties[k % len(parties)],
                                                         k < len(OPERATORS)))
                       for k in range(self.args.streams)]
            workers += [asyncio.ensure_future(self.reporter(client, p)) for p in OPERATORS]
            workers.append(asyncio.ensure_future(self.talker(client)))
            start = time.monotonic()
            print(f"{'t (s)':>6} {'RSS MB':>8} {'tracks p50/p99 ms':>18} "
                  f"{'message p50/p99 ms':>19} {'stream p99 ms':>14}  errors", flush=True)
            while (elapsed := time.monotonic() - start) < self.args.seconds + 0.5:
                await asyncio.sleep(SAMPLE_S - (elapsed % SAMPLE_S))
                elapsed = time.monotonic() - start
                rss = self.server.rss_kib() / 1024
                samples.append((elapsed, rss))
                lat, self.lat = self.lat, {"tracks": [], "message": [], "reply": [], "stream": []}
                bad = sum(n for k, n in self.status.items()
                          if not k.endswith((" 200", " 201")))

                def pp(op: str, lat: dict[str, list[float]] = lat) -> str:
                    return (f"{percentile(lat[op], 0.5) * 1000:.0f}/"
                            f"{percentile(lat[op], 0.99) * 1000:.0f}")
                print(f"{elapsed:>6.0f} {rss:>8.0f} {pp('tracks'):>18} {pp('message'):>19} "
                      f"{percentile(lat['stream'], 0.99) * 1000:>14.0f}  {bad}", flush=True)
                if not self.server.alive():
                    print("server died", flush=True)
                    break
            self.stop = True
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if self.tasks:
                await asyncio.wait(list(self.tasks), timeout=35)
        return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--aircraft", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--messages", type=float, default=5.0, help="per second")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--code", default=None,
                        help="run the server from this src directory (PYTHONPATH)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    print(f"machine at start: {machine_state()}")
    dbs = Databases(work, PARTIES, args.database_url, args.code)
    server = Server(dbs.fresh(), work, dbs.env, "detection_interval_s = 1\n")
    try:
        server.start()
        print(f"backend {'postgresql' if args.database_url else 'sqlite'}; {args.seconds:.0f} s; "
              f"{args.aircraft} aircraft at 1 Hz, {args.streams} SSE streams, "
              f"{args.messages:g} messages/s each replied")
        soak = Soak(server, dbs.tokens, args)
        samples = asyncio.run(soak.run())
        hwm = server.hwm_kib() / 1024
    finally:
        server.stop()
        dbs.close()
    print(f"machine at end: {machine_state()}")
    if not samples:
        return 1
    rss = [m for _, m in samples]
    half = samples[len(samples) // 2:]
    print(f"RSS first {rss[0]:.0f} MB, last {rss[-1]:.0f} MB, max {max(rss):.0f} MB "
          f"(peak VmHWM {hwm:.0f} MB); slope {slope_mb_per_min(samples):+.2f} MB/min overall, "
          f"{slope_mb_per_min(half):+.2f} MB/min over the second half")
    print("answers: " + ", ".join(f"{k} ×{v}" for k, v in sorted(soak.status.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
