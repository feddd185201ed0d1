"""The space-time cell index never misses, and stays small.

For pairs of footprints anywhere on the globe (poles and the antimeridian included) whose
geodesic separation is below the horizontal minimum H, the cells searched around one must meet
the cells the other is stored under whenever their time windows overlap. The separation is
bounded from above by an independent reference (pyproj.Geod on WGS84 between points sampled on
both boundaries, edges straight in lon/lat), so a failing case is a real miss.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from deconfliction.engine.cells import BUCKET_S, LONG_BUCKET, LONG_S, cover, search_cells
from deconfliction.engine.footprint import footprint_errors, geographic_bounds
from deconfliction.model.volume import CircleFootprint, PolygonFootprint

GEOD = Geod(ellps="WGS84")
H = 5 * 1852.0  # en-route minimum, 5 NM
SETTINGS = settings(
    derandomize=True, database=None, deadline=None, max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def wrap(lon):
    return (np.asarray(lon, float) + 180.0) % 360.0 - 180.0


def boundary(footprint, per_edge: int = 64) -> np.ndarray:
    """Points on the footprint's boundary (lon wrapped to [-180, 180))."""
    if isinstance(footprint, CircleFootprint):
        az = np.linspace(0.0, 360.0, 8 * per_edge, endpoint=False)
        lon0, lat0 = footprint.center
        lon, lat, _ = GEOD.fwd(np.full(len(az), lon0), np.full(len(az), lat0), az,
                               np.full(len(az), footprint.radius_m))
        return np.column_stack([wrap(lon), lat])
    pts = np.asarray(footprint.exterior, float)
    lon = pts[:, 0].copy()
    for k in range(1, len(lon)):  # edges are read the short way round
        lon[k] = lon[k - 1] + ((lon[k] - lon[k - 1] + 180.0) % 360.0 - 180.0)
    t = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    out = [np.column_stack([lon[k] + t * (lon[k + 1] - lon[k]),
                            pts[k, 1] + t * (pts[k + 1, 1] - pts[k, 1])])
           for k in range(len(pts) - 1)]
    both = np.vstack(out)
    return np.column_stack([wrap(both[:, 0]), both[:, 1]])


def separation_upper_bound(a, b) -> float:
    """An upper bound on the geodesic separation of two footprints (exact for two circles)."""
    if isinstance(a, CircleFootprint) and isinstance(b, CircleFootprint):
        d = GEOD.inv(a.center[0], a.center[1], b.center[0], b.center[1])[2]
        return d - a.radius_m - b.radius_m
    if isinstance(b, CircleFootprint):
        a, b = b, a
    if isinstance(a, CircleFootprint):
        pb = boundary(b, 256)
        d = GEOD.inv(np.full(len(pb), a.center[0]), np.full(len(pb), a.center[1]),
                     pb[:, 0], pb[:, 1])[2]
        return float(d.min()) - a.radius_m
    pa, pb = boundary(a, 24), boundary(b, 24)
    ia, ib = np.meshgrid(np.arange(len(pa)), np.arange(len(pb)), indexing="ij")
    ia, ib = ia.ravel(), ib.ravel()
    d = GEOD.inv(pa[ia, 0], pa[ia, 1], pb[ib, 0], pb[ib, 1])[2]
    return float(d.min())


def polygon_around(lon: float, lat: float, radii, rotation: float) -> PolygonFootprint:
    n = len(radii)
    ring = []
    for k, r in enumerate(radii):
        x, y, _ = GEOD.fwd(lon, lat, rotation + 360.0 * k / n, r)
        ring.append((float(wrap(x)), float(y)))
    return PolygonFootprint((tuple(ring + [ring[0]]),))


def extent(footprint, lon: float, lat: float) -> float:
    """Largest geodesic distance from (lon, lat) to the footprint's boundary."""
    if isinstance(footprint, CircleFootprint):
        return footprint.radius_m
    p = boundary(footprint, 16)
    return float(GEOD.inv(np.full(len(p), lon), np.full(len(p), lat), p[:, 0], p[:, 1])[2].max())


# --- strategies ------------------------------------------------------------------------------

lats = st.one_of(
    st.floats(-89.95, 89.95),
    st.floats(84.0, 89.95), st.floats(-89.95, -84.0),  # polar
    st.floats(-1.0, 1.0),  # where a degree of latitude is shortest
)
lons = st.one_of(st.floats(-180.0, 180.0), st.floats(179.0, 180.0), st.floats(-180.0, -179.0))


@st.composite
def footprints(draw, lon, lat, max_radius_m: float = 30_000.0):
    if draw(st.booleans()):
        return CircleFootprint((lon, lat), draw(st.floats(10.0, max_radius_m)))
    n = draw(st.integers(3, 7))
    radii = draw(st.lists(st.floats(min(50.0, max_radius_m), max_radius_m), min_size=n,
                          max_size=n))
    fp = polygon_around(lon, lat, radii, draw(st.floats(0.0, 360.0)))
    assume(footprint_errors(fp) == [])
    return fp


durations = st.one_of(
    st.floats(1.0, 3600.0),
    st.floats(3600.0, 3 * 86400.0),
    st.floats(LONG_S - 1.0, LONG_S + 1.0),
    st.floats(LONG_S + 1.0, 20 * 86400.0),
)


@st.composite
def pairs(draw):
    """Two footprints about H apart (often less, sometimes more) and overlapping windows."""
    lon, lat = draw(lons), draw(lats)
    a = draw(footprints(lon, lat))
    ra = extent(a, lon, lat)
    probe = draw(st.floats(0.0, 0.95))
    bearing = draw(st.floats(0.0, 360.0))
    b_size = draw(st.floats(10.0, 30_000.0))
    # place b's centre so that the gap is about probe*H beyond a's extent and b's size
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, ra + b_size + probe * H * 1.05)
    b = draw(footprints(float(wrap(lon2)), float(lat2), max_radius_m=b_size))
    t_a = draw(st.floats(0.0, 60 * 86400.0))
    d_a, d_b = draw(durations), draw(durations)
    # b's window overlaps a's (strictly): its start lies in (t_a - d_b, t_a + d_a)
    frac = draw(st.floats(0.001, 0.999))
    t_b = t_a - d_b + frac * (d_a + d_b)
    assume(t_b < t_a + d_a and t_a < t_b + d_b)
    return a, (t_a, t_a + d_a), b, (t_b, t_b + d_b)


def keys(arr) -> set[int]:
    return {int(k) for k in arr}


def expand(ranges) -> list[int]:
    """Every key in the inclusive ranges ``search_cells`` returns (small windows only)."""
    return [k for lo, hi in ranges for k in range(int(lo), int(hi) + 1)]


# --- the index never misses ------------------------------------------------------------------


def _assert_found(a, window_a, b, window_b) -> None:
    searched = keys(expand(search_cells(geographic_bounds(a), H, *window_a)))
    stored = keys(cover(geographic_bounds(b), 0.0, *window_b))
    assert stored, f"a volume with window {window_b} is stored under no cell"
    assert searched & stored, (
        f"miss: footprints {separation_upper_bound(a, b):.1f} m apart (< {H} m), "
        f"windows {window_a} and {window_b} overlap, but their cells are disjoint\n"
        f"a={a}\nb={b}"
    )


@settings(SETTINGS, max_examples=120)
@given(pairs())
def test_close_pairs_share_a_cell(pair) -> None:
    a, window_a, b, window_b = pair
    sep = separation_upper_bound(a, b)
    assume(sep < H)
    _assert_found(a, window_a, b, window_b)  # a searches, b is stored
    _assert_found(b, window_b, a, window_a)  # and the other way round


def _lon_cell_count(band: int) -> int:
    """How many longitude cells a latitude band has (mirrors the documented cell layout)."""
    poleward = max(abs(-90 + band * 0.5), abs(-90 + (band + 1) * 0.5))
    return max(1, int(360 * math.cos(math.radians(poleward)) / 0.5))


@st.composite
def pairs_across_an_edge(draw):
    """Two circles H - ε apart on one geodesic that crosses a cell edge at P.

    P sits x metres beyond a's edge (x may put P inside either circle), so the gap between
    them straddles a latitude or a longitude cell edge: the cases a too-small margin or
    too-tight bounds would miss.
    """
    if draw(st.booleans()):  # a latitude edge, crossed going roughly north or south
        edge = 0.5 * draw(st.integers(-179, 179))
        p = (draw(lons), edge)
        az = draw(st.sampled_from([0.0, 180.0])) + draw(st.floats(-60.0, 60.0))
    else:  # a longitude edge inside some band, crossed going roughly east or west
        band = draw(st.integers(0, 359))
        n = _lon_cell_count(band)
        assume(n > 1)
        j = draw(st.integers(0, n - 1))
        p = (float(wrap(-180.0 + j * 360.0 / n)), -90.0 + 0.5 * band + draw(st.floats(0.01, 0.49)))
        az = draw(st.sampled_from([90.0, 270.0])) + draw(st.floats(-60.0, 60.0))
    ra, rb = draw(st.floats(10.0, 50_000.0)), draw(st.floats(10.0, 50_000.0))
    eps = draw(st.floats(0.5, 30.0))
    x = draw(st.one_of(st.floats(-300.0, H + 300.0), st.floats(-300.0, 50.0),
                       st.floats(H - 100.0, H + 300.0)))
    assume(ra + x > 1.0 and H - eps - x + rb > 1.0)
    lon_a, lat_a, _ = GEOD.fwd(p[0], p[1], az + 180.0, ra + x)
    lon_b, lat_b, _ = GEOD.fwd(p[0], p[1], az, H - eps - x + rb)
    a = CircleFootprint((float(wrap(lon_a)), float(lat_a)), ra)
    b = CircleFootprint((float(wrap(lon_b)), float(lat_b)), rb)
    assume(footprint_errors(a) == [] and footprint_errors(b) == [])
    t = draw(st.floats(0.0, 30 * 86400.0))
    d_a, d_b = draw(durations), draw(durations)
    return a, (t, t + d_a), b, (t + d_a * 0.5, t + d_a * 0.5 + d_b)


@settings(SETTINGS, max_examples=300)
@given(pairs_across_an_edge())
def test_close_pairs_across_cell_edges_share_a_cell(pair) -> None:
    a, window_a, b, window_b = pair
    assume(separation_upper_bound(a, b) < H)
    _assert_found(a, window_a, b, window_b)
    _assert_found(b, window_b, a, window_a)


# A circle of 50 km radius at the equator reaches 0.0015° (~170 m) further south than its
# geographic_bounds say; a small footprint ~9.2 km south of it, across the 0° band edge.
EQUATOR_MISS = (
    CircleFootprint((10.0, -0.0840), 10.0),
    CircleFootprint((10.0, 0.4514), 50_000.0),
)


def test_close_pair_across_a_band_edge_at_the_equator() -> None:
    a, b = EQUATOR_MISS
    assert separation_upper_bound(a, b) < H
    _assert_found(a, (0.0, 3600.0), b, (0.0, 3600.0))


def _circles(a, b, ra: float, rb: float):
    return CircleFootprint(a, ra), CircleFootprint(b, rb)


CLOSE_CASES = {
    "antimeridian": _circles((179.99, 10.0), (-179.99, 10.01), 500.0, 500.0),
    "antimeridian-polygons": (
        polygon_around(179.95, -30.0, [3000, 3000, 3000, 3000], 45.0),
        polygon_around(-179.95, -30.02, [2000, 2000, 2000], 0.0),
    ),
    "across-north-pole": _circles((0.0, 89.97), (180.0, 89.97), 100.0, 100.0),
    "around-north-pole": _circles((45.0, 89.4), (52.0, 89.4), 100.0, 100.0),
    "across-south-pole": _circles((-90.0, -89.96), (90.0, -89.96), 50.0, 50.0),
    "89.45N-wide-longitudes": _circles((0.0, 89.45), (8.5, 89.45), 10.0, 10.0),
    "band-edge": _circles((36.0, 36.4999), (36.0, 36.58), 10.0, 10.0),
}


@pytest.mark.parametrize("case", list(CLOSE_CASES))
@pytest.mark.parametrize("windows", [
    ((0.0, 600.0), (300.0, 900.0)),
    ((BUCKET_S - 10.0, BUCKET_S + 10.0), (BUCKET_S + 5.0, BUCKET_S + 7.0)),
    ((0.0, LONG_S + 10.0), (5 * BUCKET_S + 1.0, 5 * BUCKET_S + 60.0)),
    ((3 * BUCKET_S, 3 * BUCKET_S + 60.0), (0.0, 2 * LONG_S)),
])
def test_known_close_pairs_share_a_cell(case: str, windows) -> None:
    a, b = CLOSE_CASES[case]
    assert footprint_errors(a) == [] and footprint_errors(b) == []
    assert separation_upper_bound(a, b) < H, "fixture is not a close pair"
    (wa, wb) = windows
    _assert_found(a, wa, b, wb)
    _assert_found(b, wb, a, wa)


# --- the cover holds the footprint -----------------------------------------------------------


def _point_cell(lon: float, lat: float) -> int:
    (key,) = cover((lon, lat, lon, lat), 0.0, 0.0, 1.0)
    return int(key)


@settings(SETTINGS, max_examples=150)
@given(st.data())
def test_cover_holds_every_boundary_point(data) -> None:
    lon, lat = data.draw(lons), data.draw(lats)
    fp = data.draw(footprints(lon, lat, max_radius_m=50_000.0))
    stored = keys(cover(geographic_bounds(fp), 0.0, 0.0, 1.0))
    pts = boundary(fp, 16)
    missing = {(round(x, 5), round(y, 5)) for x, y in pts if _point_cell(x, y) not in stored}
    assert not missing, f"{len(missing)} boundary points of {fp} lie outside its cells, e.g. " \
        f"{sorted(missing)[:3]}"


def test_cover_of_a_large_circle_at_the_equator_holds_its_south_edge() -> None:
    fp = EQUATOR_MISS[1]
    south = GEOD.fwd(10.0, 0.4514, 180.0, 50_000.0)
    stored = keys(cover(geographic_bounds(fp), 0.0, 0.0, 1.0))
    assert _point_cell(south[0], south[1]) in stored, (
        f"southernmost point {south[:2]} of {fp} is outside its cover; "
        f"geographic_bounds = {geographic_bounds(fp)}")


# --- time buckets ----------------------------------------------------------------------------


def _buckets(arr) -> set[int]:
    return {int(k) & ((1 << 21) - 1) for k in arr}


def test_long_volumes_go_to_the_long_bucket_that_every_search_reads() -> None:
    bounds = (36.0, 37.0, 36.1, 37.1)
    assert _buckets(cover(bounds, 0.0, 0.0, LONG_S + 1.0)) == {LONG_BUCKET}
    assert LONG_BUCKET not in _buckets(cover(bounds, 0.0, 0.0, LONG_S))
    assert LONG_BUCKET in _buckets(expand(search_cells(bounds, 0.0, 0.0, 60.0)))
    assert LONG_BUCKET in _buckets(expand(search_cells(bounds, 0.0, 1e6, 1e6 + 60.0)))


def test_windows_touching_at_a_bucket_edge_use_separate_buckets() -> None:
    bounds = (36.0, 37.0, 36.1, 37.1)
    first = _buckets(cover(bounds, 0.0, 0.0, BUCKET_S))
    second = _buckets(cover(bounds, 0.0, BUCKET_S, 2 * BUCKET_S))
    assert first == {0} and second == {1}


# --- the cover stays small -------------------------------------------------------------------


@settings(SETTINGS, max_examples=150)
@given(st.data())
def test_cell_counts_stay_bounded(data) -> None:
    lat = data.draw(st.one_of(st.floats(-89.0, 89.0), st.floats(85.0, 89.0),
                              st.floats(-89.0, -85.0)))
    lon = data.draw(lons)
    fp = data.draw(footprints(lon, lat, max_radius_m=50_000.0))  # at most 100 km across
    t0 = data.draw(st.floats(0.0, 10 * BUCKET_S))
    t0 = math.floor(t0 / BUCKET_S) * BUCKET_S  # a window within one bucket
    bounds = geographic_bounds(fp)
    stored = cover(bounds, 0.0, t0, t0 + 600.0)
    searched = expand(search_cells(bounds, H, t0, t0 + 600.0))
    assert 0 < len(stored) < 200, f"{len(stored)} cells for {fp} (bounds {bounds})"
    spatial = {int(k) >> 21 for k in searched}
    assert 0 < len(spatial) < 200, f"{len(spatial)} search cells for {fp} (bounds {bounds})"
    assert len(_buckets(stored)) == 1 and len(_buckets(searched)) == 2  # + the long bucket
    assert len(set(stored.tolist())) == len(stored)  # no duplicate keys


def test_cell_counts_at_89_degrees() -> None:
    for lat in (89.0, -89.0, 88.9):
        fp = CircleFootprint((123.0, lat), 50_000.0)
        assert len(cover(geographic_bounds(fp), 0.0, 0.0, 60.0)) < 200
        searched = expand(search_cells(geographic_bounds(fp), H, 0.0, 60.0))
        assert len({int(k) >> 21 for k in searched}) < 200
