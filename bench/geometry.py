"""Bounded geometry: a dry run next to the worst footprint the limits accept, vs a square.

Usage: ``python bench/geometry.py [--rounds 15] [--vertices 1000] [--stored 5000]``

On a real SQLite line (service level, no HTTP) party ``jag`` holds a zig-zag "comb" footprint
of ``--vertices`` vertices (teeth 0.9° long: about the worst shape the default limits accept)
and party ``box`` a plain square of the same extent. Party ``probe`` then dry-runs
(`operations.check_operation`) a 5 km circle overlapping each, and a 40 km square covering
each, so the conflict region (where GEOS buffering used to take seconds) is worked out. The
reference is the same dry run against the square, in the same run. ``--stored`` adds a comb
of that many vertices written with raised limits (a footprint stored before the limits
existed): it must not stall a later dry run either. Prints medians and maxima (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from deconfliction.model.limits import Limits
from deconfliction.model.party import Role
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume
from deconfliction.service import operations as ops
from deconfliction.service import parties
from deconfliction.service.line import Line, LineSettings
from deconfliction.store.sqlite import SqliteStore

T0 = 1_800_000_000.0


def comb(n: int, lon0: float, lat0: float) -> PolygonFootprint:
    """``n`` vertices zig-zagging over 0.9° × 0.9°: teeth ~160 m apart at n = 1,000."""
    k = n - 2
    pts = [(lon0 + 0.9 * i / k, lat0 + (0.9 if i % 2 == 0 else 0.001)) for i in range(k)]
    pts += [(lon0 + 0.9, lat0 - 0.01), (lon0, lat0 - 0.01)]
    return PolygonFootprint((tuple(pts + [pts[0]]),))


def square(lon0: float, lat0: float, side_deg: float) -> PolygonFootprint:
    ring = ((lon0, lat0), (lon0 + side_deg, lat0), (lon0 + side_deg, lat0 + side_deg),
            (lon0, lat0 + side_deg), (lon0, lat0))
    return PolygonFootprint((ring,))


def volume(footprint: PolygonFootprint | CircleFootprint) -> Volume:
    return Volume(footprint, 0.0, 3000.0, T0 + 7200, T0 + 10800)


async def run(rounds: int, vertices: int, stored: int) -> list[tuple[str, list[float]]]:
    work = Path(tempfile.mkdtemp(prefix="bench-geometry-"))
    SqliteStore.open(work / "line.db")
    store = SqliteStore(work / "line.db")
    raised = LineSettings(limits=Limits(vertices_per_polygon=100_000,
                                        vertices_per_operation=100_000, area_km2=1e6))
    line = Line(store, settings=raised, clock=lambda: T0)
    made = {}
    for name in ("jag", "box", "old", "probe"):
        made[name], _ = await parties.add_party(line, name, Role.OPERATOR, T0)
    places = {"jag": (37.0, 36.0), "box": (40.0, 36.0), "old": (43.0, 36.0)}
    shapes = {"jag": comb(vertices, *places["jag"]), "box": square(*places["box"], 0.9)}
    if stored:
        shapes["old"] = comb(stored, *places["old"])
    for name, shape in shapes.items():
        await ops.declare_operation(line, made[name],
                                    ops.DeclareOperation(volumes=(volume(shape),), priority=9),
                                    T0)
    line = replace(line, settings=LineSettings())  # the default limits from here on
    rows = []
    for name in shapes:
        lon, lat = places[name]
        probes = {"5 km circle": CircleFootprint((lon + 0.45, lat + 0.45), 5000.0),
                  "40 km square over it": square(lon + 0.1, lat + 0.1, 0.36)}
        for label, probe in probes.items():
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                answer = await ops.check_operation(
                    line, made["probe"], ops.DeclareOperation(volumes=(volume(probe),)), T0)
                times.append(time.perf_counter() - t)
            assert not isinstance(answer, ops.Acceptable), "the probe must conflict"
            what = {"jag": f"comb of {vertices} vertices", "box": "square (reference)",
                    "old": f"stored comb of {stored} vertices"}[name]
            rows.append((f"{label} vs {what}", times))
    await store.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--vertices", type=int, default=Limits().vertices_per_polygon)
    parser.add_argument("--stored", type=int, default=5000)
    args = parser.parse_args()
    rows = asyncio.run(run(args.rounds, args.vertices, args.stored))
    load = os.getloadavg()[0]
    reference = {label.split(" vs ")[0]: statistics.median(t) for label, t in rows
                 if "reference" in label}
    print(f"dry run (POST /v1/operations/check's service call), {args.rounds} rounds; "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print(f"{'probe vs stored footprint':<58}{'median':>9}{'max':>9}{'× square':>10}")
    for label, times in rows:
        ref = reference[label.split(" vs ")[0]]
        median = statistics.median(times)
        print(f"{label:<58}{median * 1e3:>7.1f}ms{max(times) * 1e3:>7.1f}ms"
              f"{median / ref:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
