"""Geometry with a bounded cost (issue 13 item 2): the complexity measure, the grid-drawn
conflict region of a jagged footprint (a superset of the exact one, within the proposed
footprint, coarser by at most a cell), and proximities that cut a huge footprint to its part
near the other without changing any distance under the minimum."""

from __future__ import annotations

import shapely
from shapely.geometry import shape

from deconfliction.engine.footprint import planarize
from deconfliction.engine.geodesy import LocalPlane
from deconfliction.engine.strategic import (
    REGION_EXACT_COMPLEXITY,
    REGION_GRID,
    complexity,
    conflict_region,
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
