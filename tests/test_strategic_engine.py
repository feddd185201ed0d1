"""The strategic engine, checked against independent references.

Distances are compared with pyproj.Geod on WGS84 (for circles: centre-to-centre geodesic minus
the radii; for polygons: the minimum geodesic distance between densely sampled boundaries, whose
edges are straight in longitude/latitude as RFC 7946 says). Suggestions are checked with
``conflicting`` and the Blocker rules re-implemented here, and their minimality by brute force.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import shape

from deconfliction.engine.footprint import MAX_AREA_M2, MAX_VERTICES, footprint_errors
from deconfliction.engine.strategic import (
    TOLERANCE_M,
    Blocker,
    Proximity,
    conflict_region,
    conflicting,
    overlap_in_time,
    proximities,
    suggest_shifts,
    vertically_close,
)
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume

GEOD = Geod(ellps="WGS84")
FT = 0.3048
V_MIN = 1000 * FT  # 1000 ft
H_MIN = 5 * 1852.0  # 5 NM
ACCURACY_M = 1.0  # what the brief asks of the engine's distances
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]  # the slow references: report as found
SETTINGS = settings(
    derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------


def wrap(lon: np.ndarray | float) -> np.ndarray:
    return (np.asarray(lon, float) + 180.0) % 360.0 - 180.0


def ring_points(ring: Sequence[tuple[float, float]], per_edge: int) -> np.ndarray:
    """Points along a ring whose edges are straight in lon/lat (taken the short way round)."""
    pts = np.asarray(ring, float)
    lon = pts[:, 0].copy()
    for k in range(1, len(lon)):  # unwrap each step to within ±180°
        lon[k] = lon[k - 1] + ((lon[k] - lon[k - 1] + 180.0) % 360.0 - 180.0)
    t = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    out = []
    for k in range(len(pts) - 1):
        out.append(np.column_stack([
            lon[k] + t * (lon[k + 1] - lon[k]),
            pts[k, 1] + t * (pts[k + 1, 1] - pts[k, 1]),
        ]))
    return np.vstack(out)


def _edge_params(ring: Sequence[tuple[float, float]]) -> list[tuple[np.ndarray, np.ndarray]]:
    pts = np.asarray(ring, float)
    lon = pts[:, 0].copy()
    for k in range(1, len(lon)):
        lon[k] = lon[k - 1] + ((lon[k] - lon[k - 1] + 180.0) % 360.0 - 180.0)
    return [(np.array([lon[k], pts[k, 1]]), np.array([lon[k + 1], pts[k + 1, 1]]))
            for k in range(len(pts) - 1)]


def _sample(edges, s: np.ndarray) -> np.ndarray:
    """Points at ring parameters s (edge index + fraction)."""
    s = np.mod(s, len(edges))
    k = np.minimum(np.floor(s).astype(int), len(edges) - 1)
    f = s - k
    p0 = np.array([edges[i][0] for i in k])
    p1 = np.array([edges[i][1] for i in k])
    return p0 + (p1 - p0) * f[:, None]


def _min_pair(pa: np.ndarray, pb: np.ndarray) -> tuple[float, int, int]:
    ia, ib = np.meshgrid(np.arange(len(pa)), np.arange(len(pb)), indexing="ij")
    ia, ib = ia.ravel(), ib.ravel()
    d = GEOD.inv(wrap(pa[ia, 0]), pa[ia, 1], wrap(pb[ib, 0]), pb[ib, 1])[2]
    best = int(np.argmin(d))
    return float(d[best]), int(ia[best]), int(ib[best])


def polygon_distance(ring_a, ring_b, coarse: int = 60, fine: int = 200) -> float:
    """Minimum geodesic distance between two rings (dense sampling, then refinement)."""
    ea, eb = _edge_params(ring_a), _edge_params(ring_b)
    sa = np.arange(len(ea) * coarse) / coarse
    sb = np.arange(len(eb) * coarse) / coarse
    d, i, j = _min_pair(_sample(ea, sa), _sample(eb, sb))
    for _ in range(3):  # zoom in around the best pair
        span_a, span_b = 1.5 / coarse, 1.5 / coarse
        sa = sa[i] + np.linspace(-span_a, span_a, fine)
        sb = sb[j] + np.linspace(-span_b, span_b, fine)
        d2, i, j = _min_pair(_sample(ea, sa), _sample(eb, sb))
        d = min(d, d2)
        coarse *= fine / 3
    return d


def circle_distance(a: CircleFootprint, b: CircleFootprint) -> float:
    d = GEOD.inv(a.center[0], a.center[1], b.center[0], b.center[1])[2]
    return max(0.0, d - a.radius_m - b.radius_m)


def square(lon: float, lat: float, half_m: float) -> PolygonFootprint:
    """A lon/lat rectangle about ``half_m`` metres from its centre to each side."""
    dlat = half_m / 111_000.0
    dlon = half_m / (111_000.0 * math.cos(math.radians(lat)))
    ring = [(lon - dlon, lat - dlat), (lon + dlon, lat - dlat), (lon + dlon, lat + dlat),
            (lon - dlon, lat + dlat)]
    ring = [(float(wrap(x)), y) for x, y in ring]
    return PolygonFootprint((tuple(ring + [ring[0]]),))


def quad(lon: float, lat: float, radii: Sequence[float], rot: float) -> PolygonFootprint:
    """A convex quadrilateral: vertices at geodesic ``radii`` and bearings rot + 90°·k."""
    ring = []
    for k, r in enumerate(radii):
        x, y, _ = GEOD.fwd(lon, lat, rot + 90.0 * k, r)
        ring.append((float(x), float(y)))
    return PolygonFootprint((tuple(ring + [ring[0]]),))


def vol(fp, lo=0.0, hi=1000.0, t0=0.0, t1=3600.0) -> Volume:
    return Volume(fp, lo, hi, t0, t1)


def engine_distance(a, b, horizontal_m: float = 50_000.0) -> float:
    found = proximities([vol(a)], [vol(b)], horizontal_m=horizontal_m)
    assert len(found) == 1, f"pair not reported as within {horizontal_m} m: {a} {b}"
    assert (found[0].proposed, found[0].other) == (0, 0)
    return found[0].distance_m


# ---------------------------------------------------------------------------------------------
# proximities: distances against the reference
# ---------------------------------------------------------------------------------------------

CIRCLE_CASES = {
    "mid-latitude": (CircleFootprint((36.2, 37.1), 1500.0), CircleFootprint((36.33, 37.16), 800.0)),
    "southern": (CircleFootprint((-58.4, -34.6), 500.0), CircleFootprint((-58.3, -34.7), 2500.0)),
    "antimeridian": (CircleFootprint((179.95, 10.0), 1000.0),
                     CircleFootprint((-179.95, 10.02), 1000.0)),
    "antimeridian-south": (CircleFootprint((-179.95, -45.0), 300.0),
                           CircleFootprint((179.95, -45.0), 300.0)),
    "85N": (CircleFootprint((20.0, 85.0), 1000.0), CircleFootprint((21.2, 85.05), 2000.0)),
    "85N-meridian": (CircleFootprint((-120.0, 85.0), 1000.0),
                     CircleFootprint((-120.0, 85.12), 1000.0)),
    "across-north-pole": (CircleFootprint((0.0, 89.95), 100.0),
                          CircleFootprint((180.0, 89.95), 100.0)),
}


@pytest.mark.parametrize("case", list(CIRCLE_CASES))
def test_circle_distances_match_geodesic_reference(case: str) -> None:
    a, b = CIRCLE_CASES[case]
    ref = circle_distance(a, b)
    assert 5_000 <= ref <= 20_000, f"fixture out of the intended 5-20 km range: {ref}"
    assert engine_distance(a, b) == pytest.approx(ref, abs=ACCURACY_M)
    assert engine_distance(b, a) == pytest.approx(ref, abs=ACCURACY_M)


POLYGON_CASES = {
    "mid-latitude": (square(36.20, 37.10, 2000.0), square(36.33, 37.17, 1500.0)),
    "mid-latitude-diagonal": (quad(2.35, 48.85, [3000, 2500, 4000, 2000], 17.0),
                              quad(2.55, 48.95, [2000, 3500, 2500, 3000], 50.0)),
    "antimeridian": (square(179.95, 10.0, 1000.0), square(-179.95, 10.03, 1000.0)),
    "antimeridian-straddling": (square(179.99, -20.0, 2000.0), square(-179.85, -20.05, 1500.0)),
    "85N": (square(20.0, 85.0, 1000.0), square(21.5, 85.04, 1500.0)),
    "85N-quads": (quad(-60.0, 85.0, [2000, 3000, 2500, 2000], 10.0),
                  quad(-60.5, 85.1, [2500, 2000, 3000, 2000], 33.0)),
    "89.5N": (square(10.0, 89.5, 1500.0), square(20.0, 89.55, 1500.0)),
    # on opposite sides of the North Pole; the second straddles the antimeridian
    "across-north-pole": (square(0.0, 89.9, 1000.0), square(180.0, 89.92, 1000.0)),
    "across-south-pole": (square(90.0, -89.9, 1000.0), square(-90.0, -89.93, 800.0)),
}


@pytest.mark.parametrize("case", list(POLYGON_CASES))
def test_polygon_distances_match_sampled_reference(case: str) -> None:
    a, b = POLYGON_CASES[case]
    assert footprint_errors(a) == [] and footprint_errors(b) == []
    ref = polygon_distance(a.exterior, b.exterior)
    assert 5_000 <= ref <= 20_000, f"fixture out of the intended 5-20 km range: {ref}"
    assert engine_distance(a, b) == pytest.approx(ref, abs=ACCURACY_M)
    assert engine_distance(b, a) == pytest.approx(ref, abs=ACCURACY_M)


@pytest.mark.parametrize("case", ["mid-latitude", "antimeridian", "85N"])
def test_polygon_to_circle_distance(case: str) -> None:
    poly = POLYGON_CASES[case][0]
    lon, lat = CIRCLE_CASES[case][1].center
    circle = CircleFootprint((lon, lat), 700.0)
    pts = ring_points(poly.exterior, 400)
    d = GEOD.inv(wrap(pts[:, 0]), pts[:, 1], np.full(len(pts), lon), np.full(len(pts), lat))[2]
    # refine around the best sample
    k = int(np.argmin(d))
    (x0, y0), (x1, y1) = pts[k - 1], pts[(k + 1) % len(pts)]
    t = np.linspace(0, 1, 2001)
    d2 = GEOD.inv(wrap(x0 + t * (x1 - x0)), y0 + t * (y1 - y0),
                  np.full(len(t), lon), np.full(len(t), lat))[2]
    ref = min(d.min(), d2.min()) - circle.radius_m
    assert 5_000 <= ref <= 20_000
    assert engine_distance(poly, circle) == pytest.approx(ref, abs=ACCURACY_M)
    assert engine_distance(circle, poly) == pytest.approx(ref, abs=ACCURACY_M)


@SETTINGS
@given(
    lat=st.floats(-70, 70), lon=st.floats(-180, 180), bearing=st.floats(0, 360),
    sep=st.floats(5_000, 20_000), ra=st.floats(100, 3000), rb=st.floats(100, 3000),
)
def test_random_circle_distances(lat, lon, bearing, sep, ra, rb) -> None:
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, ra + sep + rb)
    a, b = CircleFootprint((lon, lat), ra), CircleFootprint((float(lon2), float(lat2)), rb)
    ref = circle_distance(a, b)
    assert engine_distance(a, b) == pytest.approx(ref, abs=ACCURACY_M)


@settings(SETTINGS, max_examples=12, phases=NO_SHRINK)
@given(
    lat=st.floats(-75, 75), lon=st.floats(-180, 180), bearing=st.floats(0, 360),
    gap=st.floats(9_000, 22_000), rot_a=st.floats(0, 90), rot_b=st.floats(0, 90),
    radii_a=st.lists(st.floats(800, 3000), min_size=4, max_size=4),
    radii_b=st.lists(st.floats(800, 3000), min_size=4, max_size=4),
)
def test_random_polygon_distances(lat, lon, bearing, gap, rot_a, rot_b, radii_a, radii_b) -> None:
    a = quad(lon, lat, radii_a, rot_a)
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, gap)
    b = quad(float(lon2), float(lat2), radii_b, rot_b)
    ref = polygon_distance(a.exterior, b.exterior)
    assert engine_distance(a, b) == pytest.approx(ref, abs=ACCURACY_M)


@settings(SETTINGS, max_examples=10, phases=NO_SHRINK)
@given(
    lat=st.floats(88.0, 89.7), south=st.booleans(), lon=st.floats(-180, 180),
    bearing=st.floats(-60, 60), gap=st.floats(9_000, 22_000), rot_a=st.floats(0, 90),
    rot_b=st.floats(0, 90), radii_a=st.lists(st.floats(500, 2000), min_size=4, max_size=4),
    radii_b=st.lists(st.floats(500, 2000), min_size=4, max_size=4),
)
def test_random_polar_polygon_distances(lat, south, lon, bearing, gap, rot_a, rot_b,
                                        radii_a, radii_b) -> None:
    """Polygons near a pole (footprints around or across the pole: see the fixed cases)."""
    if south:
        lat, bearing = -lat, 180.0 + bearing
    a = quad(lon, lat, radii_a, rot_a)
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, gap)
    b = quad(float(lon2), float(lat2), radii_b, rot_b)
    assume(footprint_errors(a) == [] and footprint_errors(b) == [])
    ref = polygon_distance(a.exterior, b.exterior)
    assert engine_distance(a, b) == pytest.approx(ref, abs=ACCURACY_M)


def test_pairs_at_or_beyond_the_minimum_are_not_reported() -> None:
    a, b = CIRCLE_CASES["mid-latitude"]
    ref = circle_distance(a, b)
    assert proximities([vol(a)], [vol(b)], horizontal_m=ref - 1.0) == []
    assert proximities([vol(a)], [vol(b)], horizontal_m=ref) == []  # at the minimum: no loss
    assert proximities([vol(a)], [vol(b)], horizontal_m=ref + TOLERANCE_M / 2) == []
    found = proximities([vol(a)], [vol(b)], horizontal_m=ref + 2 * TOLERANCE_M + 1e-6)
    assert [(p.proposed, p.other) for p in found] == [(0, 0)]


def test_proximities_indices_over_several_volumes() -> None:
    near = CircleFootprint((36.20, 37.10), 1000.0)
    far = CircleFootprint((37.50, 37.10), 1000.0)
    mid = CircleFootprint((36.25, 37.10), 1000.0)  # ~4.4 km centre to centre: overlapping-ish
    found = proximities([vol(far), vol(near)], [vol(far), vol(mid), vol(near)],
                        horizontal_m=H_MIN)
    pairs = {(p.proposed, p.other) for p in found}
    assert pairs == {(0, 0), (1, 1), (1, 2)}
    by_pair = {(p.proposed, p.other): p.distance_m for p in found}
    assert by_pair[(0, 0)] == 0.0 and by_pair[(1, 2)] == 0.0
    assert by_pair[(1, 1)] == pytest.approx(circle_distance(near, mid), abs=ACCURACY_M)
    assert proximities([vol(near)], [], horizontal_m=H_MIN) == []


# ---------------------------------------------------------------------------------------------
# The strict minimum, in altitude and time
# ---------------------------------------------------------------------------------------------


def test_flight_levels_exactly_1000ft_apart_are_not_vertically_close() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    fl300 = Volume(fp, 29_000 * FT, 30_000 * FT, 0, 600)
    fl310 = Volume(fp, 31_000 * FT, 32_000 * FT, 0, 600)
    assert not vertically_close(fl300, fl310, V_MIN)
    assert not vertically_close(fl310, fl300, V_MIN)
    # the same, built as ft*0.3048 at the level itself
    at300 = Volume(fp, 300 * 100 * FT, 300 * 100 * FT, 0, 600)
    at310 = Volume(fp, 310 * 100 * FT, 310 * 100 * FT, 0, 600)
    assert not vertically_close(at300, at310, V_MIN)
    close = proximities([fl300], [fl310], horizontal_m=H_MIN)
    assert len(close) == 1
    assert conflicting([fl300], [fl310], close, vertical_m=V_MIN) == []


@pytest.mark.parametrize("gap", [304.0, 304.8 - 2 * TOLERANCE_M, 0.0, -50.0])
def test_bands_less_than_the_minimum_apart_are_close(gap: float) -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    low = Volume(fp, 8000.0, 9000.0, 0, 600)
    high = Volume(fp, 9000.0 + gap, 9500.0 + gap, 0, 600)
    assert vertically_close(low, high, V_MIN)
    assert vertically_close(high, low, V_MIN)
    close = proximities([low], [high], horizontal_m=H_MIN)
    assert [(p.proposed, p.other) for p in conflicting([low], [high], close, vertical_m=V_MIN)] \
        == [(0, 0)]


def test_vertical_shift_to_exact_minimum_clears() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    a = Volume(fp, 0.0, 100.0, 0, 600)
    b = Volume(fp, 200.0, 300.0, 0, 600)
    assert vertically_close(a, b, V_MIN)
    assert not vertically_close(a, b, V_MIN, shift_m=-204.8)  # gap exactly 304.8
    assert vertically_close(a, b, V_MIN, shift_m=-204.0)
    assert not vertically_close(a, b, V_MIN, shift_m=604.8)  # above: gap exactly 304.8
    assert vertically_close(a, b, V_MIN, shift_m=604.0)


def test_touching_time_windows_do_not_overlap() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    a = Volume(fp, 0, 100, 0.0, 60.0)
    b = Volume(fp, 0, 100, 60.0, 120.0)
    assert not overlap_in_time(a, b) and not overlap_in_time(b, a)
    assert overlap_in_time(a, b, shift_s=0.001)
    assert not overlap_in_time(a, b, shift_s=-1.0)
    close = proximities([a], [b], horizontal_m=H_MIN)
    assert len(close) == 1
    assert conflicting([a], [b], close, vertical_m=V_MIN) == []


def test_conflicting_with_shifts() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    a = Volume(fp, 1000.0, 1500.0, 0.0, 60.0)
    b = Volume(fp, 1000.0, 1500.0, 100.0, 200.0)
    c = Volume(fp, 3000.0, 3100.0, 0.0, 60.0)
    close = proximities([a], [b, c], horizontal_m=H_MIN)
    assert {(p.proposed, p.other) for p in close} == {(0, 0), (0, 1)}

    def others(**kw) -> list[int]:
        return [p.other for p in conflicting([a], [b, c], close, vertical_m=V_MIN, **kw)]

    assert others() == []
    assert others(shift_s=40.0) == []  # [40, 100) touches b
    assert others(shift_s=40.5) == [0]
    assert others(shift_s=199.5) == [0]
    assert others(shift_s=200.0) == []  # [200, 260) touches b's end
    # upwards towards c: gap 1500 m; closes below 304.8
    assert others(shift_m=1500.0 - V_MIN) == []
    assert others(shift_m=1500.0 - V_MIN + 1.0) == [1]
    assert others(shift_m=3100.0 + V_MIN - 1000.0) == []  # exactly the minimum above c
    assert others(shift_s=40.5, shift_m=1600.0) == [1]  # moved in both: only c
    # pairs that are not horizontally close never conflict, whatever the shift
    far = Volume(CircleFootprint((38.0, 37.1), 1000.0), 1000.0, 1500.0, 0.0, 60.0)
    close_far = proximities([a], [far], horizontal_m=H_MIN)
    assert close_far == []
    assert conflicting([a], [far], close_far, vertical_m=V_MIN) == []


# ---------------------------------------------------------------------------------------------
# conflict_region
# ---------------------------------------------------------------------------------------------


def _unwrapped(geom, reference: float):
    return shapely.transform(
        geom, lambda c: np.column_stack([(c[:, 0] - reference + 180) % 360 - 180 + reference,
                                         c[:, 1]]))


REGION_CASES = {
    "mid-latitude": (square(36.20, 37.10, 5000.0), CircleFootprint((36.30, 37.12), 2000.0)),
    "antimeridian": (square(179.97, 10.0, 4000.0), CircleFootprint((-179.96, 10.02), 1500.0)),
    "85N": (square(20.0, 85.0, 4000.0), square(21.2, 85.03, 2000.0)),
}


@pytest.mark.parametrize("case", list(REGION_CASES))
def test_conflict_region_lies_in_the_proposed_footprint(case: str) -> None:
    mine_fp, other_fp = REGION_CASES[case]
    proposed = Volume(mine_fp, 1000.0, 3000.0, 100.0, 5000.0)
    other = Volume(other_fp, 2500.0, 2800.0, 3000.0, 9000.0)
    close = proximities([proposed], [other], horizontal_m=H_MIN)
    assert len(conflicting([proposed], [other], close, vertical_m=V_MIN)) == 1
    region = conflict_region(proposed, other, horizontal_m=H_MIN, vertical_m=V_MIN)

    ref_lon = mine_fp.exterior[0][0]
    area = _unwrapped(shape(region.footprint), ref_lon)
    mine = _unwrapped(shapely.Polygon(mine_fp.exterior), ref_lon)
    assert area.is_valid and not area.is_empty
    assert area.geom_type in ("Polygon", "MultiPolygon")
    assert mine.buffer(1e-6).contains(area), "conflict region leaks outside the proposed footprint"
    # a real part of the footprint, not a sliver
    assert area.area > 0.05 * mine.area * 0.01
    # every vertex of the region is within the horizontal minimum of the other footprint
    coords = shapely.get_coordinates(area)
    if isinstance(other_fp, CircleFootprint):
        d = GEOD.inv(wrap(coords[:, 0]), coords[:, 1], np.full(len(coords), other_fp.center[0]),
                     np.full(len(coords), other_fp.center[1]))[2] - other_fp.radius_m
        assert d.max() <= H_MIN + 5.0
    # band and window: the proposed volume's, cut to within the minima of the other's
    assert region.altitude_lower_m == max(1000.0, 2500.0 - V_MIN)
    assert region.altitude_upper_m == min(3000.0, 2800.0 + V_MIN)
    assert (region.time_start, region.time_end) == (3000.0, 5000.0)


def test_conflict_region_band_when_other_band_contains_proposed() -> None:
    fp = CircleFootprint((36.2, 37.1), 3000.0)
    proposed = Volume(fp, 1000.0, 1100.0, 0.0, 100.0)
    other = Volume(CircleFootprint((36.25, 37.1), 1000.0), 0.0, 5000.0, 50.0, 80.0)
    region = conflict_region(proposed, other, horizontal_m=H_MIN, vertical_m=V_MIN)
    assert (region.altitude_lower_m, region.altitude_upper_m) == (1000.0, 1100.0)
    assert (region.time_start, region.time_end) == (50.0, 80.0)
    # the whole proposed circle is within 5 NM of the other: the region is (about) all of it
    area = shape(region.footprint)
    lon, lat = fp.center
    assert area.contains(shapely.Point(lon, lat))


# ---------------------------------------------------------------------------------------------
# suggest_shifts
# ---------------------------------------------------------------------------------------------


def blocking(found: Sequence[Proximity], blockers: Sequence[Blocker], short: bool) -> bool:
    """The Blocker rules: constraints and equal/higher priority always; lower at short notice."""
    for p in found:
        b = blockers[p.other]
        if b in (Blocker.CONSTRAINT, Blocker.PRIORITY) or short:
            return True
    return False


def test_suggestions_basic_and_lower_blockers() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    plan = [Volume(fp, 1000.0, 1200.0, 1000.0, 2000.0)]
    others = [
        Volume(fp, 1000.0, 1200.0, 1500.0, 2500.0),  # higher priority
        Volume(fp, 1000.0, 1200.0, 2000.0, 4000.0),  # lower priority
    ]
    blockers = [Blocker.PRIORITY, Blocker.LOWER]
    close = proximities(plan, others, horizontal_m=H_MIN)

    def run(short: bool):
        return suggest_shifts(plan, others, blockers, close, vertical_m=V_MIN,
                              is_short_notice=lambda s: short, time_range_s=(-5000, 5000))

    relaxed = {(s.kind, s.shift >= 0): s for s in run(False)}
    later = relaxed[("time_shift", True)]
    assert later.shift == 1500.0  # clear of the higher priority; the lower one does not block
    assert later.conflicts_with == (1,)
    assert later.volumes == (plan[0].shifted(seconds=1500.0),)
    earlier = relaxed[("time_shift", False)]
    assert earlier.shift == -500.0 and earlier.conflicts_with == ()
    up = relaxed[("altitude_shift", True)]
    assert up.shift == math.ceil(1200.0 + V_MIN - 1000.0)
    assert up.volumes[0].altitude_lower_m == 1000.0 + up.shift

    strict = {(s.kind, s.shift >= 0): s for s in run(True)}
    assert strict[("time_shift", True)].shift == 3000.0  # now clear of both
    assert strict[("time_shift", True)].conflicts_with == ()
    # at short notice the LOWER conflict blocks too: no suggestion may keep it
    assert all(sug.conflicts_with == () for sug in strict.values())


def test_altitude_floor_bounds_downward_suggestions() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    plan = [Volume(fp, 300.0, 700.0, 0.0, 600.0)]
    others = [Volume(fp, 600.0, 800.0, 0.0, 600.0)]
    close = proximities(plan, others, horizontal_m=H_MIN)
    kinds = {(s.kind, s.shift > 0) for s in suggest_shifts(
        plan, others, [Blocker.CONSTRAINT], close, vertical_m=V_MIN,
        is_short_notice=lambda s: False, time_range_s=(-10_000, 10_000), altitude_floor_m=0.0)}
    # going down needs 600 - 304.8 - 700 = -404.8 → floor -405: 300 - 405 < 0, not offered
    assert ("altitude_shift", False) not in kinds
    assert ("altitude_shift", True) in kinds
    kinds = {(s.kind, s.shift > 0) for s in suggest_shifts(
        plan, others, [Blocker.CONSTRAINT], close, vertical_m=V_MIN,
        is_short_notice=lambda s: False, time_range_s=(-10_000, 10_000),
        altitude_floor_m=-105.0)}
    assert ("altitude_shift", False) in kinds  # 300 - 405 = -105: exactly at the floor


def test_time_range_bounds_suggestions() -> None:
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    plan = [Volume(fp, 0.0, 100.0, 0.0, 600.0)]
    others = [Volume(fp, 0.0, 100.0, -100.0, 700.0)]
    close = proximities(plan, others, horizontal_m=H_MIN)
    found = suggest_shifts(plan, others, [Blocker.PRIORITY], close, vertical_m=V_MIN,
                           is_short_notice=lambda s: False, time_range_s=(-600.0, 699.0))
    assert [s for s in found if s.kind == "time_shift"] == []
    found = suggest_shifts(plan, others, [Blocker.PRIORITY], close, vertical_m=V_MIN,
                           is_short_notice=lambda s: False, time_range_s=(-700.0, 700.0))
    assert sorted(s.shift for s in found if s.kind == "time_shift") == [-700.0, 700.0]


# --- random scenarios ------------------------------------------------------------------------

CENTRE = (36.2, 37.1)


@st.composite
def scenarios(draw):
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))

    def footprint():
        bearing, dist = rng.uniform(0, 360), rng.uniform(0, 12_000)
        lon, lat, _ = GEOD.fwd(*CENTRE, bearing, dist)
        return CircleFootprint((float(lon), float(lat)), rng.uniform(200, 2000))

    def volume():
        lo = rng.choice([0.0, 150.0, 300.0, 304.8, 450.5, 600.0, 1000.0]) + rng.choice(
            [0.0, 0.0, rng.uniform(0, 400)])
        hi = lo + rng.choice([50.0, 100.0, 304.8, rng.uniform(10, 600)])
        t0 = float(rng.randint(0, 3000)) + rng.choice([0.0, 0.0, rng.random()])
        t1 = t0 + rng.choice([60.0, 300.0, 600.0, rng.uniform(10, 1500)])
        return Volume(footprint(), lo, hi, t0, t1)

    proposed = [volume() for _ in range(draw(st.integers(1, 2)))]
    others = [volume() for _ in range(draw(st.integers(1, 4)))]
    if draw(st.booleans()):  # make a conflict likely: one other near the first proposed volume
        p = proposed[0]
        others[0] = Volume(footprint(), p.altitude_lower_m + rng.uniform(-400, 400),
                           p.altitude_upper_m + rng.uniform(-400, 400) + 500,
                           p.time_start + rng.uniform(-800, 400),
                           p.time_end + rng.uniform(-300, 900))
    blockers = [rng.choice(list(Blocker)) for _ in others]
    notice = draw(st.sampled_from(["never", "always", 0.0, 500.0, 1500.0, 4000.0]))
    return proposed, others, blockers, notice


def notice_rule(proposed, notice):
    """is_short_notice(shift): never, always, or when the moved plan starts before ``notice``."""
    start = min(v.time_start for v in proposed)
    if notice == "never":
        return lambda shift: False
    if notice == "always":
        return lambda shift: True
    return lambda shift: start + shift < notice


def _check_suggestions(proposed, others, blockers, notice, time_range, floor, *, minimal):
    short = notice_rule(proposed, notice)
    close = proximities(proposed, others, horizontal_m=H_MIN)
    # suggestions are asked for a plan that is blocked where it stands
    assume(blocking(conflicting(proposed, others, close, vertical_m=V_MIN), blockers, short(0)))
    found = suggest_shifts(proposed, others, blockers, close, vertical_m=V_MIN,
                           is_short_notice=short, time_range_s=time_range,
                           altitude_floor_m=floor)

    def clear_time(s: float) -> bool:
        c = conflicting(proposed, others, close, vertical_m=V_MIN, shift_s=s)
        return not blocking(c, blockers, short(s))

    def clear_alt(s: float, strict: bool = False) -> bool:
        vertical = V_MIN + TOLERANCE_M if strict else V_MIN  # strict: at least V_MIN apart
        c = conflicting(proposed, others, close, vertical_m=vertical, shift_m=s)
        return not blocking(c, blockers, short(0.0))

    seen = set()
    lowest = min(v.altitude_lower_m for v in proposed)
    for s in found:
        direction = s.shift > 0
        assert s.shift != 0
        assert (s.kind, direction) not in seen, "two suggestions for one kind and direction"
        seen.add((s.kind, direction))
        step = 1 if direction else -1
        if s.kind == "time_shift":
            assert time_range[0] <= s.shift <= time_range[1]
            assert s.shift == int(s.shift), "time shifts are whole seconds"
            assert clear_time(s.shift), f"time shift {s.shift} does not clear"
            remaining = conflicting(proposed, others, close, vertical_m=V_MIN, shift_s=s.shift)
            assert s.volumes == tuple(v.shifted(seconds=s.shift) for v in proposed)
            if minimal:  # no whole-second shift of smaller magnitude, same direction, clears
                better = [k for k in range(step, int(s.shift), step) if clear_time(k)]
                assert not better, f"time shift {s.shift} is not minimal: {better[:3]} clear"
        else:
            assert s.kind == "altitude_shift"
            assert s.shift == int(s.shift), "altitude shifts are whole metres"
            assert clear_alt(s.shift), f"altitude shift {s.shift} does not clear"
            if s.shift < 0:
                assert lowest + s.shift >= floor
            remaining = conflicting(proposed, others, close, vertical_m=V_MIN, shift_m=s.shift)
            assert s.volumes == tuple(v.shifted(metres=s.shift) for v in proposed)
            if minimal:  # (clearing only thanks to TOLERANCE_M is tested on its own below)
                better = [k for k in range(step, int(s.shift), step) if clear_alt(k, strict=True)]
                assert not better, f"altitude shift {s.shift} is not minimal: {better[:3]} clear"
        assert s.conflicts_with == tuple(sorted({p.other for p in remaining}))
        assert all(blockers[i] is Blocker.LOWER for i in s.conflicts_with)
        if short(s.shift if s.kind == "time_shift" else 0.0):
            assert s.conflicts_with == ()
    return found


@settings(SETTINGS, max_examples=150)
@given(scenarios())
def test_random_suggestions_clear_every_blocking_conflict(scenario) -> None:
    proposed, others, blockers, notice = scenario
    _check_suggestions(proposed, others, blockers, notice, (-4000.0, 4000.0), 0.0, minimal=False)


@settings(SETTINGS, max_examples=150)
@given(scenarios().filter(lambda s: s[3] in ("never", "always")))
def test_random_suggestions_are_minimal(scenario) -> None:
    """With a notice rule that does not change with the shift, suggestions are the smallest."""
    proposed, others, blockers, notice = scenario
    _check_suggestions(proposed, others, blockers, notice, (-4000.0, 4000.0), 0.0, minimal=True)


@settings(SETTINGS, max_examples=100)
@given(scenarios().filter(lambda s: s[3] in ("never", "always")))
def test_random_suggestions_exist_when_a_clear_shift_exists(scenario) -> None:
    """Completeness: when some whole-second shift in the range clears, the first is suggested."""
    proposed, others, blockers, notice = scenario
    short = notice_rule(proposed, notice)
    close = proximities(proposed, others, horizontal_m=H_MIN)
    assume(blocking(conflicting(proposed, others, close, vertical_m=V_MIN), blockers, short(0)))
    found = suggest_shifts(proposed, others, blockers, close, vertical_m=V_MIN,
                           is_short_notice=short, time_range_s=(-3000.0, 3000.0))
    for step in (1, -1):
        offered = [s for s in found if s.kind == "time_shift" and s.shift * step > 0]
        clear = [k for k in range(step, 3001 * step, step) if not blocking(
            conflicting(proposed, others, close, vertical_m=V_MIN, shift_s=k), blockers, short(k))]
        if clear:
            assert offered, f"no time shift suggested, but {clear[0]} s clears"
            assert offered[0].shift == clear[0], (
                f"suggested {offered[0].shift} s, but {clear[0]} s already clears")
        else:
            assert not offered


def test_short_notice_threshold_is_a_clear_later_shift() -> None:
    """A plan at short notice whose only conflict is LOWER clears by leaving the notice period."""
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    plan = [Volume(fp, 1000.0, 1200.0, 100.0, 700.0)]
    others = [Volume(fp, 1000.0, 1200.0, 0.0, 5000.0)]
    close = proximities(plan, others, horizontal_m=H_MIN)
    notice = 400.0  # starting before t=400 is short notice
    found = suggest_shifts(plan, others, [Blocker.LOWER], close, vertical_m=V_MIN,
                           is_short_notice=lambda s: 100.0 + s < notice,
                           time_range_s=(-3000.0, 6000.0))
    later = [s for s in found if s.kind == "time_shift" and s.shift > 0]
    assert later, "no later shift suggested"
    # shifting by 300 s starts the plan at 400: no longer short notice, the LOWER conflict
    # no longer blocks
    assert later[0].shift == 300.0, f"suggested {later[0].shift} s; 300 s already clears"


def test_altitude_suggestion_is_the_nearest_whole_metre_band() -> None:
    """The band end is rounded outward, but a whole metre within TOLERANCE_M already clears."""
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    plan = [Volume(fp, 1000.0, 1100.0, 0.0, 600.0)]
    others = [Volume(fp, 1000.0, 1499.205, 0.0, 600.0)]  # up: 1499.205 + 304.8 - 1000 = 804.005
    close = proximities(plan, others, horizontal_m=H_MIN)
    assert not conflicting(plan, others, close, vertical_m=V_MIN, shift_m=804.0)  # 804 clears
    found = suggest_shifts(plan, others, [Blocker.CONSTRAINT], close, vertical_m=V_MIN,
                           is_short_notice=lambda s: False, time_range_s=(-1000.0, 1000.0))
    up = [s.shift for s in found if s.kind == "altitude_shift" and s.shift > 0]
    assert up == [804.0], f"suggested {up}; 804 m already clears"


# ---------------------------------------------------------------------------------------------
# footprint_errors
# ---------------------------------------------------------------------------------------------


def poly(*pts, close: bool = True) -> PolygonFootprint:
    ring = list(pts) + ([pts[0]] if close else [])
    return PolygonFootprint((tuple(ring),))


def regular(lon: float, lat: float, r_deg: float, n: int) -> PolygonFootprint:
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = [(float(lon + r_deg * np.cos(a)), float(lat + r_deg * np.sin(a))) for a in ang]
    return poly(*pts)


def fields(errors) -> list[str]:
    return [f for f, _ in errors]


INVALID = {
    "bow-tie": (poly((36.0, 37.0), (36.1, 37.1), (36.1, 37.0), (36.0, 37.1)), "self-intersect"),
    "unclosed": (poly((36.0, 37.0), (36.1, 37.0), (36.1, 37.1), (36.0, 37.1), close=False),
                 "not closed"),
    "two-distinct": (poly((36.0, 37.0), (36.1, 37.0), (36.0, 37.0)), "distinct"),
    "one-distinct": (poly((36.0, 37.0), (36.0, 37.0), (36.0, 37.0)), "distinct"),
    "too-many-vertices": (regular(36.0, 37.0, 0.1, MAX_VERTICES + 1), "vertices"),
    "too-large": (poly((10.0, 0.0), (11.0, 0.0), (11.0, 1.0), (10.0, 1.0)), "exceeds"),
    "too-large-antimeridian": (poly((179.5, 0.0), (-179.5, 0.0), (-179.5, 1.0), (179.5, 1.0)),
                               "exceeds"),
    "lon-out-of-range": (poly((180.5, 0.0), (180.6, 0.0), (180.6, 0.1)), "longitude"),
    "lon-below-range": (poly((-181.0, 0.0), (-180.5, 0.0), (-180.5, 0.1)), "longitude"),
    "lat-out-of-range": (poly((10.0, 90.5), (10.1, 90.5), (10.1, 90.6)), "latitude"),
    "lat-below-range": (poly((10.0, -91.0), (10.1, -91.0), (10.1, -90.9)), "latitude"),
    "nan": (poly((10.0, float("nan")), (10.1, 0.0), (10.1, 0.1)), "finite"),
    "inf": (poly((float("inf"), 0.0), (10.1, 0.0), (10.1, 0.1)), "finite"),
    "empty": (PolygonFootprint(()), "exterior"),
    "circle-too-large": (CircleFootprint((36.0, 37.0), math.sqrt(MAX_AREA_M2 / math.pi) * 1.01),
                         "exceeds"),
    "circle-zero-radius": (CircleFootprint((36.0, 37.0), 0.0), "radius"),
    "circle-negative-radius": (CircleFootprint((36.0, 37.0), -5.0), "radius"),
    "circle-nan-radius": (CircleFootprint((36.0, 37.0), float("nan")), "radius"),
    "circle-nan-centre": (CircleFootprint((float("nan"), 37.0), 100.0), "finite"),
    "circle-lon-out-of-range": (CircleFootprint((200.0, 37.0), 100.0), "longitude"),
    "circle-lat-out-of-range": (CircleFootprint((36.0, -95.0), 100.0), "latitude"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_footprint_errors_for_invalid_footprints(case: str) -> None:
    footprint, word = INVALID[case]
    errors = footprint_errors(footprint)
    assert errors, f"{case}: no error reported"
    for f, message in errors:
        assert isinstance(f, str) and isinstance(message, str) and message
    assert any(word in m.lower() for _, m in errors), errors


def test_footprint_errors_name_the_bad_position() -> None:
    bad = poly((10.0, 0.0), (10.1, 0.0), (10.1, 95.0), (10.0, 0.1))
    assert fields(footprint_errors(bad)) == ["coordinates[0][2]"]
    circle = CircleFootprint((10.0, 0.0), -1.0)
    assert fields(footprint_errors(circle)) == ["radius_m"]
    assert fields(footprint_errors(CircleFootprint((10.0, 99.0), 10.0))) == ["center"]


VALID = {
    "small": poly((36.0, 37.0), (36.1, 37.0), (36.1, 37.1), (36.0, 37.1)),
    "exactly-max-vertices": regular(36.0, 37.0, 0.1, MAX_VERTICES),
    "with-hole": PolygonFootprint((
        ((36.0, 37.0), (36.2, 37.0), (36.2, 37.2), (36.0, 37.2), (36.0, 37.0)),
        ((36.05, 37.05), (36.1, 37.05), (36.1, 37.1), (36.05, 37.05)),
    )),
    "antimeridian": poly((179.95, 10.0), (-179.95, 10.0), (-179.95, 10.1), (179.95, 10.1)),
    "antimeridian-south": poly((-179.9, -60.0), (179.9, -60.0), (179.9, -60.3), (-179.9, -60.3)),
    "on-the-antimeridian": poly((180.0, 0.0), (-179.9, 0.0), (-179.9, 0.1), (180.0, 0.1)),
    "85N": poly((20.0, 85.0), (22.0, 85.0), (22.0, 85.2), (20.0, 85.2)),
    "near-north-pole-antimeridian": poly((170.0, 89.5), (-170.0, 89.5), (-170.0, 89.8),
                                         (170.0, 89.8)),
    "touching-north-pole": poly((-10.0, 89.0), (10.0, 89.0), (10.0, 90.0), (-10.0, 90.0)),
    "south-pole-region": poly((100.0, -89.0), (120.0, -89.0), (120.0, -89.5), (100.0, -89.5)),
    "large-but-allowed": poly((10.0, 0.0), (10.8, 0.0), (10.8, 0.8), (10.0, 0.8)),
    "circle": CircleFootprint((36.0, 37.0), 9260.0),
    "circle-just-allowed": CircleFootprint((36.0, 37.0), math.sqrt(MAX_AREA_M2 / math.pi) * 0.999),
    "circle-antimeridian": CircleFootprint((180.0, 0.0), 1000.0),
    "circle-pole": CircleFootprint((0.0, 90.0), 1000.0),
}


@pytest.mark.parametrize("case", list(VALID))
def test_footprint_errors_accept_valid_footprints(case: str) -> None:
    assert footprint_errors(VALID[case]) == []
