"""Large bodies and jagged pairs over HTTP: what they cost the event loop (issue 13 items 2-3).

Usage: ``python bench/bodies.py [--seconds 8] [--code /other/checkout/src]``

A fresh ``deconfliction serve`` (SQLite, loopback) is probed with ``GET /v1/health`` every
20 ms — a request that waits for nothing but the event loop — while one client posts, back to
back, for ``--seconds`` each:

* nothing (the reference);
* valid track batches of 2,000 reports (the ``reports_per_batch`` limit; indented JSON, ~1 MB);
* valid dry runs of 100 volumes of 49-vertex polygons (``volumes_per_operation``; ~0.9 MB);
* refused bodies: 3,000 volumes (over the schema's 1,000), and 5,000 new aircraft (over
  ``new_aircraft_per_batch``), ~0.8 MB each;
* the worst jagged pair ``footprint_complexity`` admits: a 999-vertex comb stored, a second
  interleaved with it (teeth between teeth, complexity ~2,000) dry-run and declared.

Prints per phase the health probe's p50/p99/max and the posts' median, with the load average.
``--code`` runs the server from another checkout's ``src`` (the same bench, before and after).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _line import Databases, Server, machine_state, percentile  # noqa: E402

Poster = Callable[[int], tuple[str, str, bytes]]  # round -> (party, path, body)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def track_batch(aircraft: int = 500, reports: int = 2000, prefix: str = "b",
                indent: int | None = 2) -> bytes:
    now = datetime.now(UTC) - timedelta(seconds=1)
    return json.dumps({"reports": [
        {"aircraft_id": f"{prefix}-{i % aircraft}", "time": iso(now - timedelta(milliseconds=i)),
         "lat": 10.0 + (i % aircraft) * 0.01, "lon": 10.0 + (i // aircraft) * 0.001,
         "altitude_m": 1000.0 + i, "ground_speed_mps": 50.0, "track_deg": 90.0,
         "vertical_rate_mps": 0.0} for i in range(reports)]}, indent=indent).encode()


def polygon_volume(ring: list[list[float]], start: datetime, hours: float) -> dict[str, Any]:
    return {"footprint": {"type": "Polygon", "coordinates": [ring]},
            "altitude_lower_m": 0, "altitude_upper_m": 3000,
            "time_start": iso(start), "time_end": iso(start + timedelta(hours=hours))}


def operation(k: int, volumes: int = 100, vertices: int = 49) -> bytes:
    start = datetime.now(UTC) + timedelta(days=1)
    out = []
    for v in range(volumes):
        lon, lat = -60.0 + (k % 50) * 0.01, -40.0 + v * 0.01
        ring = [[round(lon + 0.003 * math.cos(2 * math.pi * i / vertices), 7),
                 round(lat + 0.003 * math.sin(2 * math.pi * i / vertices), 7)]
                for i in range(vertices)]
        out.append(polygon_volume([*ring, ring[0]], start, 1))
    return json.dumps({"volumes": out}, indent=2).encode()


def squares(count: int) -> bytes:
    start = datetime.now(UTC) + timedelta(days=2)
    out = []
    for i in range(count):
        x, y = 40.0 + (i % 60) * 0.02, 30.0 + (i // 60) * 0.02
        out.append(polygon_volume([[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01],
                                   [x, y]], start, 1))
    return json.dumps({"volumes": out}).encode()


def comb(lon: float, lat: float, height: float, up: bool, shift: float = 0.0) -> list[list[float]]:
    """bench/geometry.py's interleaved comb: 999 vertices, 249 teeth over 0.2°."""
    teeth, dx = 249, 0.2 / 249
    x0 = (lon if up else lon + dx / 2) + shift
    base, tip = (lat, lat + height) if up else (lat + height * 1.05, lat + height * 0.05)
    pts: list[list[float]] = []
    for i in range(teeth):
        x = x0 + i * dx
        pts += [[x, base], [x + dx / 4, tip], [x + dx / 2, tip], [x + 3 * dx / 4, base]]
    edge = -0.001 if up else 0.001
    pts += [[x0 + 0.2, base + edge], [x0, base + edge]]
    if not up:
        pts.reverse()
    ring = [[round(x, 7), round(y, 7)] for x, y in pts]
    return [*ring, ring[0]]


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-bodies-"))
    dbs = Databases(work, {"blue": "operator", "red": "operator", "spy": "observer"}, None,
                    args.code)
    server = Server(dbs.fresh(), work, dbs.env).start()
    client = httpx.Client(base_url=server.base_url, timeout=60)

    def post(party: str, path: str, body: bytes) -> httpx.Response:
        return client.post(path, content=body, headers={
            "Authorization": f"Bearer {dbs.tokens[party]}", "Content-Type": "application/json"})

    def phase(label: str, poster: Poster | None) -> None:
        stop, health, posts, status = threading.Event(), [], [], set()

        def probe() -> None:
            with httpx.Client(base_url=server.base_url, timeout=30) as c:
                while not stop.is_set():
                    t = time.perf_counter()
                    c.get("/v1/health")
                    health.append(time.perf_counter() - t)
                    time.sleep(0.02)

        thread = threading.Thread(target=probe)
        thread.start()
        end, k, size = time.monotonic() + args.seconds, 0, 0
        while time.monotonic() < end:
            if poster is None:
                time.sleep(0.1)
                continue
            party, path, body = poster(k)
            size, k = len(body), k + 1
            t = time.perf_counter()
            status.add(post(party, path, body).status_code)
            posts.append(time.perf_counter() - t)
        stop.set()
        thread.join()
        line = (f"{label:<40}{percentile(health, 0.5) * 1e3:>7.1f}"
                f"{percentile(health, 0.99) * 1e3:>8.1f}{max(health) * 1e3:>8.1f}")
        if posts:
            line += (f"{size / 1e6:>8.2f} MB x{len(posts):<4}{statistics.median(posts) * 1e3:>7.0f}"
                     f"  {sorted(status)}")
        print(f"{line:<100} load {os.getloadavg()[0]:.1f}", flush=True)

    try:
        print(f"bench/bodies.py, {args.seconds:g} s a phase, code "
              f"{args.code or 'this checkout'}; {machine_state()}")
        print(f"{'posted back to back':<40}{'health ms: p50':>14}{'p99':>7}{'max':>8}"
              f"{'body':>11}{'  posts median ms':>18}")
        batch = track_batch()
        # the pair: blue's comb stored (high priority), red's interleaved one over it
        start = datetime.now(UTC) + timedelta(days=1)
        stored = comb(25.0, 36.0, 0.02, True)
        answer = post("blue", "/v1/operations", json.dumps(
            {"volumes": [polygon_volume(stored, start, 4)], "priority": 9}).encode())
        assert answer.status_code == 201, answer.text[:500]

        def pair(path: str) -> Poster:
            def poster(k: int) -> tuple[str, str, bytes]:
                over = comb(25.0, 36.0, 0.02, False, shift=k * 1e-6)  # nothing remembered
                return "red", path, json.dumps(
                    {"volumes": [polygon_volume(over, start, 2)]}).encode()
            return poster

        phases: list[tuple[str, Poster | None]] = [
            ("nothing (reference)", None),
            ("valid track batches", lambda k: ("blue", "/v1/tracks", batch)),
            ("valid 100-volume dry runs", lambda k: ("blue", "/v1/operations/check",
                                                     operation(k))),
            ("refused: 3,000 volumes", lambda k: ("red", "/v1/operations", squares(3000))),
            ("refused: 5,000 new aircraft", lambda k: ("red", "/v1/tracks",
                                                       track_batch(5000, 5000, f"n{k}", None))),
            ("comb pair: dry runs", pair("/v1/operations/check")),
            ("comb pair: declarations (409)", pair("/v1/operations")),
        ]
        for label, poster in phases:
            phase(label, poster)
    finally:
        client.close()
        server.stop()
        dbs.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--code", default=None, help="another checkout's src for the server")
    run(parser.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
