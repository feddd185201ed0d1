"""Bounded geometry: a dry run next to the worst footprint the limits accept, vs a square.

Usage: ``python bench/geometry.py [--rounds 15] [--vertices 1000] [--stored 5000]``

On a real SQLite line (service level, no HTTP) party ``jag`` holds a zig-zag "comb" footprint
of ``--vertices`` vertices (teeth 0.9° long: the worst the vertex limits accept; its
``footprint_complexity`` is ~90,000, so it is stored with that limit raised)
and party ``box`` a plain square of the same extent. Party ``probe`` then dry-runs
(`operations.check_operation`) a 5 km circle overlapping each, and a 40 km square covering
each, so the conflict region (where GEOS buffering used to take seconds) is worked out. The
reference is the same dry run against the square, in the same run. ``--stored`` adds a comb
of that many vertices written with raised limits (a footprint stored before the limits
existed): it must not stall a later dry run either. Prints medians and maxima (ms).

Then the pairs (``--pairs``, default on): a party stores a 999-vertex comb, another dry-runs
(check) and declares a second comb interleaved with it (teeth between teeth, not touching:
every edge near many of the other's), at a range of ``footprint_complexity`` (the comb's
teeth taller): each round's comb is moved by a micro-degree so nothing is remembered from the
round before. Rows over the default limit run with the limit raised: they show the trend the
limit cuts off. Next to each: vertices × reflex vertices, the measure it was not (it does not
follow the cost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import shapely

from deconfliction.engine.footprint import footprint_complexity
from deconfliction.engine.strategic import complexity
from deconfliction.model.limits import Limits
from deconfliction.model.party import Role
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume
from deconfliction.service import operations as ops
from deconfliction.service import parties
from deconfliction.service.errors import Refusal
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
                                        vertices_per_operation=100_000, area_km2=1e6,
                                        footprint_complexity=1_000_000))
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


def interleaved(lon: float, lat: float, height: float, up: bool) -> PolygonFootprint:
    """A 999-vertex comb 0.2° wide of 249 teeth ``height`` tall on a base strip, pointing up;
    or pointing down, moved half a tooth east and ``height`` / 20 north: the two interleave
    without touching."""
    teeth, dx = 249, 0.2 / 249
    x0 = lon if up else lon + dx / 2
    base, tip = (lat, lat + height) if up else (lat + height * 1.05, lat + height * 0.05)
    pts: list[tuple[float, float]] = []
    for i in range(teeth):
        x = x0 + i * dx
        pts += [(x, base), (x + dx / 4, tip), (x + dx / 2, tip), (x + 3 * dx / 4, base)]
    edge = -0.001 if up else 0.001
    pts += [(x0 + 0.2, base + edge), (x0, base + edge)]
    if not up:
        pts.reverse()
    ring = [(round(x, 7), round(y, 7)) for x, y in pts]
    return PolygonFootprint((tuple([*ring, ring[0]]),))


def moved(footprint: PolygonFootprint, dlon: float) -> PolygonFootprint:
    return PolygonFootprint(tuple(tuple((round(x + dlon, 8), y) for x, y in ring)
                                  for ring in footprint.rings))


PAIR_HEIGHTS = (0.002, 0.01, 0.02, 0.03, 0.04, 0.1)  # complexity ~1,000 … ~6,000


async def pairs(rounds: int) -> list[tuple[str, int, int, list[float], list[float]]]:
    """Per comb height: (label, complexity, vertices × reflex, check times, declare times)."""
    work = Path(tempfile.mkdtemp(prefix="bench-geometry-pairs-"))
    SqliteStore.open(work / "line.db")
    store = SqliteStore(work / "line.db")
    raised = LineSettings(limits=Limits(footprint_complexity=100_000))
    line = Line(store, settings=raised, clock=lambda: T0)
    probe, _ = await parties.add_party(line, "probe", Role.OPERATOR, T0)
    rows = []
    for k, height in enumerate(PAIR_HEIGHTS):
        owner, _ = await parties.add_party(line, f"comb{k}", Role.OPERATOR, T0)
        lon, lat = 20.0 + k, 36.0
        stored = interleaved(lon, lat, height, up=True)
        await ops.declare_operation(line, owner, ops.DeclareOperation(
            volumes=(volume(stored),), priority=9), T0)
        over = interleaved(lon, lat, height, up=False)
        cost = footprint_complexity(over)
        within = cost <= Limits().footprint_complexity
        here = replace(line, settings=LineSettings()) if within else line
        times: dict[str, list[float]] = {"check": [], "declare": []}
        for r in range(rounds):
            for kind in ("check", "declare"):
                shift = (2 * r + (kind == "declare")) * 1e-6  # nothing remembered
                command = ops.DeclareOperation(volumes=(volume(moved(over, shift)),))
                t = time.perf_counter()
                if kind == "check":
                    answer = await ops.check_operation(here, probe, command, T0)
                    assert not isinstance(answer, ops.Acceptable), "the pair must conflict"
                else:
                    with contextlib.suppress(Refusal):
                        await ops.declare_operation(here, probe, command, T0)
                        raise AssertionError("the pair must conflict")
                times[kind].append(time.perf_counter() - t)
        reflex = complexity(shapely.Polygon(over.exterior))
        label = f"interleaved comb pair, teeth {height:g}°" + ("" if within else " (raised)")
        rows.append((label, cost, reflex, times["check"], times["declare"]))
    await store.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--vertices", type=int, default=Limits().vertices_per_polygon)
    parser.add_argument("--stored", type=int, default=5000)
    parser.add_argument("--pairs", action=argparse.BooleanOptionalAction, default=True,
                        help="the comb-over-comb table at a range of footprint_complexity")
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
    if not args.pairs:
        return 0
    pair_rows = asyncio.run(pairs(args.rounds))
    print(f"\ncomb over comb, {args.rounds} rounds each (check: POST /v1/operations/check's "
          f"service call; declare: refused as a conflict); load average "
          f"{os.getloadavg()[0]:.1f}; footprint_complexity limit "
          f"{Limits().footprint_complexity}")
    print(f"{'pair':<46}{'complexity':>11}{'v × reflex':>12}{'check':>16}{'declare':>16}")
    print(f"{'':<46}{'':>11}{'':>12}{'median/max ms':>16}{'median/max ms':>16}")
    for label, cost, reflex, check, declare in pair_rows:
        print(f"{label:<46}{cost:>11,}{reflex:>12,}"
              f"{statistics.median(check) * 1e3:>9.0f}/{max(check) * 1e3:>5.0f}"
              f"{statistics.median(declare) * 1e3:>10.0f}/{max(declare) * 1e3:>5.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
