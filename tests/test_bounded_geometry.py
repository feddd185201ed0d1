"""Geometry with a bounded cost (issue 13 item 2): the complexity measure, the grid-drawn
conflict region of a jagged footprint (a superset of the exact one, within the proposed
footprint, coarser by at most a cell), and proximities that cut a huge footprint to its part
near the other without changing any distance under the minimum; distances between large
footprints through a search tree (against GEOS's every-pair answer), and shared (cached)
planar footprints never prepared by request threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import shape

from deconfliction.engine.footprint import bounding_caps, planarize
from deconfliction.engine.geodesy import LocalPlane, geodesic_distance
from deconfliction.engine.strategic import (
    REGION_EXACT_COMPLEXITY,
    REGION_GRID,
    complexity,
    conflict_region,
    nearest_line,
    proximities,
)
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume

H, V = 9260.0, 304.8


def comb(n: int, lon0: float = 37.0, lat0: float = 36.0, size: float = 0.3) -> PolygonFootprint:
    k = n - 2
    pts = [(lon0 + size * i / k, lat0 + (size if i % 2 == 0 else 0.001)) for i in range(k)]
    pts += [(lon0 + size, lat0 - 0.01), (lon0, lat0 - 0.01)]
    return PolygonFootprint((tuple([*pts, pts[0]]),))


def test_complexity_counts_concavity_not_size() -> None:
    assert complexity(shapely.Point(0, 0).buffer(1000, quad_segs=256)) == 0  # convex, 1,024
    assert complexity(shapely.box(0, 0, 1, 1)) == 0
    notch = shapely.Polygon([(0, 0), (2, 0), (1, 1), (2, 2), (0, 2)])
    assert complexity(notch) == 5 * 1
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    assert complexity(two) == 8 * 1  # a second part overlaps its buffer as a concavity does
    plane = LocalPlane(37.15, 36.15)
    assert complexity(planarize(comb(300), plane).core) > REGION_EXACT_COMPLEXITY


def test_region_of_a_jagged_footprint_is_a_bounded_superset() -> None:
    jagged = Volume(comb(300), 0, 1000, 0, 3600)
    probe = Volume(CircleFootprint((37.15, 36.15), 3000.0), 0, 1000, 0, 3600)
    region = conflict_region(probe, jagged, horizontal_m=H, vertical_m=V)
    drawn = shape(region.footprint)
    plane = LocalPlane(37.15, 36.15)
    mine = planarize(probe.footprint, plane).shape()
    exact = shapely.intersection(
        mine, shapely.buffer(planarize(jagged.footprint, plane).core, H, quad_segs=16))

    def to_plane(g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda c: shapely.get_coordinates(shapely.points(
            *plane.forward(c[:, 0], c[:, 1]))))

    got = to_plane(drawn)
    assert got.buffer(1.0).contains(exact.buffer(-1.0)), "the drawn region lost some of it"
    assert mine.buffer(1.0).contains(got), "the region leaks outside the proposed footprint"
    x0, y0, x1, y1 = mine.bounds
    cell = max(x1 - x0, y1 - y0) / REGION_GRID
    assert exact.buffer(cell * 1.5).contains(got), "coarser than a cell's diagonal"


def test_proximities_cut_huge_footprints_without_changing_distances() -> None:
    big = comb(1000, size=0.9)
    near = Volume(CircleFootprint((37.45, 36.95), 2000.0), 0, 1000, 0, 3600)
    far = Volume(CircleFootprint((37.45, 37.2), 2000.0), 0, 1000, 0, 3600)
    found = proximities([near, far], [Volume(big, 0, 1000, 0, 3600)], horizontal_m=H)
    assert [p.proposed for p in found] == [0]
    plane = LocalPlane(37.45, 36.95)
    whole = planarize(big, plane)
    exact = float(shapely.distance(whole.core, shapely.Point(0.0, 0.0))) - 2000.0
    assert abs(found[0].distance_m - max(0.0, exact)) < 1.0


def test_region_between_two_jagged_footprints_is_a_bounded_superset() -> None:
    """Both jagged (the comb pair of bench/hostile.py): the region is drawn on the grid, holds
    all of the exact region and reaches at most a cell's diagonal beyond the proposed one."""
    stored = Volume(comb(300), 0, 1000, 0, 3600)
    proposed = Volume(comb(300, 37.001, 36.01), 0, 1000, 0, 3600)
    assert proximities([proposed], [stored], horizontal_m=H)
    region = conflict_region(proposed, stored, horizontal_m=H, vertical_m=V)
    lon, lat = 37.001 + 0.15, 36.01 + 0.15
    plane = LocalPlane(lon, lat)
    mine = planarize(proposed.footprint, plane).shape()
    assert complexity(mine) > REGION_EXACT_COMPLEXITY
    exact = shapely.intersection(
        mine, shapely.buffer(planarize(stored.footprint, plane).core, H, quad_segs=16))
    got = shapely.transform(shape(region.footprint), lambda c: shapely.get_coordinates(
        shapely.points(*plane.forward(c[:, 0], c[:, 1]))))
    assert got.buffer(1.0).contains(exact.buffer(-1.0)), "the drawn region lost some of it"
    x0, y0, x1, y1 = mine.bounds
    cell = max(x1 - x0, y1 - y0) / REGION_GRID
    assert mine.buffer(cell * 1.5).contains(got), "the region strays more than a cell"
    assert got.area < mine.buffer(cell * 1.5).area


# -- distances between large footprints through a search tree (no n × m pairs) ---------------

SETTINGS = settings(derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def star(n: int, x0: float, y0: float, seed: int, spikes: float) -> shapely.Polygon:
    """A star-shaped polygon of ``n`` vertices: radii between 1 − spikes and 1 (km) at random."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = 1000.0 * (1.0 - spikes * rng.uniform(0, 1, n))
    return shapely.Polygon(np.column_stack([x0 + radii * np.cos(angles),
                                            y0 + radii * np.sin(angles)]))


@given(seed=st.integers(0, 2**32 - 1), gap=st.floats(-1500.0, 3000.0),
       spikes=st.floats(0.0, 0.9), n=st.sampled_from([40, 600, 900]))
@settings(SETTINGS, max_examples=40)
def test_nearest_line_is_shapelys_shortest_line(seed: int, gap: float, spikes: float,
                                               n: int) -> None:
    """Above `_BRUTE_PAIRS` the tree finds the same shortest distance GEOS finds by trying
    every pair of edges (ties may pick another, equally short, line)."""
    a, b = star(n, 0.0, 0.0, seed, spikes), star(n, 2000.0 + gap, 300.0, seed + 1, spikes)
    assume(not shapely.intersects(a, b))
    line = nearest_line(a, b)
    assert abs(line.length - shapely.distance(a, b)) < 1e-6
    (x0, y0), (x1, y1) = shapely.get_coordinates(line)
    assert shapely.distance(a, shapely.Point(x0, y0)) < 1e-6  # from a ...
    assert shapely.distance(b, shapely.Point(x1, y1)) < 1e-6  # ... to b


def lonlat_star(n: int, lon: float, lat: float, seed: int, spikes: float,
                size_deg: float = 0.05) -> PolygonFootprint:
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = size_deg * (1.0 - spikes * rng.uniform(0, 1, n))
    ring = [(round(lon + r * np.cos(t), 7), round(lat + r * np.sin(t), 7))
            for r, t in zip(radii, angles, strict=True)]
    return PolygonFootprint((tuple([*ring, ring[0]]),))


@given(seed=st.integers(0, 2**32 - 1), east=st.floats(0.05, 0.25), north=st.floats(-0.1, 0.1),
       spikes=st.floats(0.3, 0.95))
@settings(SETTINGS, max_examples=15)
def test_jagged_proximities_miss_nothing(seed: int, east: float, north: float,
                                         spikes: float) -> None:
    """Two 700-vertex spiky footprints (the tree's path): a pair is found exactly when the
    brute-force reference — GEOS's shortest line between the whole planar footprints, measured
    on the ellipsoid — is under the minimum, at the same distance."""
    mine = lonlat_star(700, 37.0, 36.0, seed, spikes)
    theirs = lonlat_star(700, 37.0 + east, 36.0 + north, seed + 1, spikes)
    plane = LocalPlane(*[float(c[0]) for c in bounding_caps([mine])[:2]])
    a, b = planarize(mine, plane).core, planarize(theirs, plane).core
    if shapely.intersects(a, b):
        reference = 0.0
    else:
        (x0, y0), (x1, y1) = shapely.get_coordinates(shapely.shortest_line(a, b))
        lon, lat = plane.inverse([x0, x1], [y0, y1])
        reference = geodesic_distance(lon[0], lat[0], lon[1], lat[1])
    for h in (2000.0, 5000.0, H):
        assume(abs(reference - h) > 1.0)
        found = proximities([Volume(mine, 0, 1000, 0, 60)], [Volume(theirs, 0, 1000, 0, 60)],
                            horizontal_m=h)
        assert bool(found) == (reference < h), (reference, h)
        if found:
            assert abs(found[0].distance_m - reference) < 0.01


def test_interleaved_combs_are_measured_exactly() -> None:
    """Two 1,000-vertex combs whose teeth interleave without touching (GEOS tried all 30
    million pairs of their edges): found, at the distance GEOS finds."""
    up = [(37.0 + 0.0008 * i + dx, 36.0 + (0.05 if dx in (0.0002, 0.0004) else 0.0))
          for i in range(249) for dx in (0.0, 0.0002, 0.0004, 0.0006)]
    down = [(x + 0.0004, 36.051 - y + 36.0 + 0.0005) for x, y in up][::-1]
    mine = PolygonFootprint((tuple([*up, (37.2, 35.999), (37.0, 35.999), up[0]]),))
    theirs = PolygonFootprint((tuple([*down, (37.0004, 36.1), (37.2004, 36.1), down[0]]),))
    plane = LocalPlane(*[float(c[0]) for c in bounding_caps([theirs])[:2]])
    a, b = planarize(theirs, plane).core, planarize(mine, plane).core
    assert shapely.is_valid(a) and shapely.is_valid(b) and not shapely.intersects(a, b)
    found = proximities([Volume(theirs, 0, 1000, 0, 60)], [Volume(mine, 0, 1000, 0, 60)],
                        horizontal_m=H)
    assert len(found) == 1
    assert abs(found[0].distance_m - shapely.distance(a, b)) < 0.5


def test_shared_planar_footprints_are_never_prepared_across_threads() -> None:
    """Planar footprints are shared through a cache by every request thread, and GEOS builds
    a prepared geometry's indexes lazily: the engine prepares private copies only. Eight
    threads working on the same jagged pairs at once get what one thread gets, and the shared
    geometries come out unprepared."""
    stored = Volume(comb(300), 0, 1000, 0, 3600)
    plans = [Volume(comb(300, 37.001 + k * 0.002, 36.01), 0, 1000, 0, 3600) for k in range(4)]
    plans += [Volume(CircleFootprint((37.15, 36.15 + k * 0.01), 3000.0), 0, 1000, 0, 3600)
              for k in range(4)]

    def work(plan: Volume) -> tuple[list[float], str]:
        close = proximities([plan], [stored], horizontal_m=H)
        region = conflict_region(plan, stored, horizontal_m=H, vertical_m=V)
        return [round(p.distance_m, 6) for p in close], shape(region.footprint).wkt

    alone = [work(plan) for plan in plans]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(work, plans * 12))
    assert together == alone * 12
    for plan in plans:
        lon, lat, _ = (float(a[0]) for a in bounding_caps([plan.footprint]))
        for volume in (plan, stored):
            shared = planarize(volume.footprint, LocalPlane(lon, lat))
            assert not shapely.is_prepared(shared.core)
