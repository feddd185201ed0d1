"""Strategic benchmark: 4D query and conflict-checked create with 10k, 100k and 1M stored
operations, through the service layer on the embedded SQLite store, beside a brute-force scan
measured in the same run.

    python bench/strategic.py                 # 10k, 100k, 1M (about 10 minutes)
    python bench/strategic.py --sizes 10000   # one size

Each size runs in its own process (so its peak memory is its own). Operations are spread over
2000 km × 2000 km around northern Syria and one week; each has one volume (circle or box, 2–10 km,
a band of 1,000–10,000 ft between FL50 and FL400, 30 min–4 h). They are bulk-loaded with the
store's own schema and cell keys; the timed creates and queries go through ``service``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _sizes import measure_sizes  # bench/ is on sys.path when a script runs

from deconfliction.engine.cells import cover
from deconfliction.engine.footprint import geographic_bounds
from deconfliction.engine.strategic import footprints_intersecting
from deconfliction.model.limits import Limits
from deconfliction.model.party import Party, Role
from deconfliction.model.units import ft
from deconfliction.model.volume import (
    CircleFootprint,
    PolygonFootprint,
    Volume,
    footprint_to_geojson,
)
from deconfliction.service import operations as ops
from deconfliction.service.errors import Refusal
from deconfliction.service.line import Line, LineSettings
from deconfliction.store.sqlite import SqliteStore

CENTRE = (38.0, 36.0)  # lon, lat
HALF_SPAN_M = 1_000_000.0
WEEK = 7 * 86400.0
PARTIES = [f"aoc-{k}" for k in range(10)]
SAMPLES = 1000


def random_volume(rng: random.Random, now: float) -> Volume:
    lat = CENTRE[1] + rng.uniform(-1, 1) * HALF_SPAN_M / 111_000
    lon = CENTRE[0] + rng.uniform(-1, 1) * HALF_SPAN_M / (111_000 * math.cos(math.radians(lat)))
    size = rng.uniform(2_000, 10_000)
    if rng.random() < 0.5:
        footprint = CircleFootprint((lon, lat), size / 2)
    else:
        dlat = size / 111_000 / 2
        dlon = dlat / math.cos(math.radians(lat))
        footprint = PolygonFootprint(((
            (lon - dlon, lat - dlat), (lon + dlon, lat - dlat), (lon + dlon, lat + dlat),
            (lon - dlon, lat + dlat), (lon - dlon, lat - dlat)),))
    lower = ft(rng.uniform(5_000, 30_000))
    start = now + 7200 + rng.uniform(0, WEEK)
    return Volume(footprint, lower, lower + ft(rng.uniform(1_000, 10_000)),
                  start, start + rng.uniform(1800, 4 * 3600))


def bulk_load(path: Path, n: int, now: float, seed: int) -> None:
    """N operations written straight into the store's tables (schema and cells as the store)."""
    SqliteStore.open(path)  # schema via migrations
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany("INSERT INTO party VALUES (?, 'operator', ?, ?, NULL)",
                   [(p, uuid.uuid4().hex, now) for p in PARTIES])
    batch = 50_000
    for first in range(0, n, batch):
        op_rows, volume_rows, cell_rows = [], [], []
        for k in range(first, min(n, first + batch)):
            v = random_volume(rng, now)
            op_id = str(uuid.UUID(int=rng.getrandbits(128)))
            op_rows.append((op_id, PARTIES[k % len(PARTIES)], rng.randint(0, 9), "accepted",
                            uuid.uuid4().hex[:22], 1, False, "[]", "", now, now))
            volume_id = k + 1
            volume_rows.append((volume_id, "operation", op_id, 0,
                                json.dumps(footprint_to_geojson(v.footprint)),
                                v.altitude_lower_m, v.altitude_upper_m, v.time_start, v.time_end))
            cell_rows += [(int(c), volume_id) for c in
                          cover(geographic_bounds(v.footprint), 0.0, v.time_start, v.time_end)]
        db.executemany("INSERT INTO operation VALUES (?,?,?,?,?,?,?,?,?,?,?)", op_rows)
        db.executemany("INSERT INTO volume VALUES (?,?,?,?,?,?,?,?,?)", volume_rows)
        db.executemany("INSERT INTO volume_cell VALUES (?,?)", cell_rows)
        db.commit()
        print(f"  loaded {min(n, first + batch):>9,} / {n:,}", file=sys.stderr, flush=True)
    db.close()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def measure(path: Path, n: int, now: float, seed: int) -> dict[str, float]:
    # SAMPLES declarations by one party at one instant: above declarations_per_minute
    line = Line(SqliteStore(path), LineSettings(limits=Limits(declarations_per_minute=10**9)),
                clock=lambda: now)
    rng = random.Random(seed + 1)
    party = Party(PARTIES[0], Role.OPERATOR, now)
    query_s, create_s, refused = [], [], 0
    for _ in range(SAMPLES):
        v = random_volume(rng, now)
        area = ops.Area(CircleFootprint(
            (v.footprint.center if isinstance(v.footprint, CircleFootprint)
             else v.footprint.exterior[0]), 20_000.0),
            v.altitude_lower_m, v.altitude_upper_m, v.time_start, v.time_end)
        t = time.perf_counter()
        await ops.query_operations(line, party, area, now)
        query_s.append(time.perf_counter() - t)
    for _ in range(SAMPLES):
        command = ops.DeclareOperation(volumes=(random_volume(rng, now),),
                                       priority=rng.randint(0, 9))
        t = time.perf_counter()
        try:
            await ops.declare_operation(line, party, command, now)
        except Refusal:
            refused += 1
        create_s.append(time.perf_counter() - t)

    service_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # brute force: read every stored volume and test each (what the index saves us from)
    brute_s = []
    for _ in range(3 if n <= 100_000 else 1):
        v = random_volume(rng, now)
        t = time.perf_counter()
        volumes = await line.store.interact(lambda repo: repo.all_indexed_volumes())
        overlapping = [iv for iv in volumes
                       if iv.volume.time_start < v.time_end and v.time_start < iv.volume.time_end
                       and iv.volume.altitude_lower_m < v.altitude_upper_m
                       and v.altitude_lower_m < iv.volume.altitude_upper_m]
        hits = footprints_intersecting(v.footprint, [iv.volume.footprint for iv in overlapping])
        brute_s.append(time.perf_counter() - t)
        del volumes, overlapping, hits
    await line.store.close()
    return {
        "n": n,
        "query_p50_ms": pct(query_s, 0.5), "query_p99_ms": pct(query_s, 0.99),
        "create_p50_ms": pct(create_s, 0.5), "create_p99_ms": pct(create_s, 0.99),
        "refused": refused, "samples": SAMPLES,
        "brute_ms": statistics.median(brute_s) * 1000,
        "peak_rss_mb": service_rss_mb,  # before the brute-force scan, which holds every volume
    }


def one_size(n: int, seed: int) -> dict[str, float]:
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-strategic-") as tmp:
        path = Path(tmp) / "line.db"
        t = time.perf_counter()
        bulk_load(path, n, now, seed)
        load_s = time.perf_counter() - t
        result = asyncio.run(measure(path, n, now, seed))
        result["load_s"] = load_s
        result["db_mb"] = path.stat().st_size / 1e6
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.seed)))
        return 0
    rows = measure_sizes(__file__, args.sizes, args.seed)
    print(f"\n{'stored ops':>10} | {'query p50':>9} {'p99':>7} | {'create p50':>10} {'p99':>7} "
          f"{'refused':>7} | {'brute scan':>10} {'ratio':>7} | {'peak RSS':>8} {'db':>7}")
    print("-" * 104)
    for r in rows:
        print(f"{r['n']:>10,} | {r['query_p50_ms']:>7.2f}ms {r['query_p99_ms']:>5.2f}ms | "
              f"{r['create_p50_ms']:>8.2f}ms {r['create_p99_ms']:>5.2f}ms "
              f"{r['refused']:>3}/{r['samples']:<3} | {r['brute_ms']:>8.0f}ms "
              f"{r['brute_ms'] / r['query_p50_ms']:>6.0f}x | {r['peak_rss_mb']:>6.0f}MB "
              f"{r['db_mb']:>5.0f}MB")
    print("\nratio = brute-force scan / indexed query p50; targets at 100k: create p99 ≤ 20 ms, "
          "query p99 ≤ 10 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
