"""Constraint incursion, checked against analytic entry times and a time-stepped reference.

The reference moves each aircraft along its WGS84 geodesic (pyproj.Geod.fwd, independent of the
engine's local planes) in 0.1 s steps and tests each position against the footprint as RFC 7946
defines it: geodesic distance to the centre for circles, point in polygon in longitude/latitude
(edges straight in degrees) for polygons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import shapely
from pyproj import Geod

from deconfliction.engine.incursion import Incursions, detect_incursions
from deconfliction.model.track import TrackArrays
from deconfliction.model.volume import CircleFootprint, Footprint, PolygonFootprint, Volume

GEOD = Geod(ellps="WGS84")
A_WGS84 = 6378137.0
NOW = 1_700_000_000.0
V = 250.0  # m/s: the speed the brief asks 1 s accuracy at
ENTRY_TOLERANCE_S = 1.0


def volume(
    footprint: Footprint,
    lower: float = 0.0,
    upper: float = 15_000.0,
    start: float = NOW - 3600.0,
    end: float = NOW + 3600.0,
) -> Volume:
    return Volume(footprint, lower, upper, start, end)


def box(west: float, south: float, east: float, north: float) -> PolygonFootprint:
    ring = ((west, south), (east, south), (east, north), (west, north), (west, south))
    return PolygonFootprint((ring,))


def ahead(lon: float, lat: float, azimuth: float, distance: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, distance)
    return float(lon2), float(lat2)


def arrays(lat, lon, alt, gs, trk, vs, *, now: float = NOW) -> TrackArrays:
    """The detectors' record of these columns at ``now`` (aircraft ids ``a0``, ``a1``...)."""
    ids = [f"a{k}" for k in range(len(np.atleast_1d(lat)))]
    return TrackArrays(ids, lat, lon, alt, gs, trk, vs, np.zeros(len(ids), dtype=np.int64),
                       time_s=now)


def detect(
    tracks: Sequence[tuple[float, float, float, float, float, float]],
    volumes: Sequence[Volume],
    **kwargs: float,
) -> Incursions:
    """``tracks`` as (lat, lon, alt, gs, track, vs) rows."""
    cols = np.array(tracks, dtype=float).reshape(-1, 6).T
    return detect_incursions(arrays(*cols, now=kwargs.pop("now", NOW)), volumes, **kwargs)


def rows(found: Incursions) -> list[tuple[int, int, bool, float]]:
    return [
        (int(t), int(v), bool(i), float(e))
        for t, v, i, e in zip(
            found.track_index,
            found.volume_index,
            found.inside_now,
            found.time_to_entry_s,
            strict=True,
        )
    ]


def single_entry(found: Incursions) -> float:
    assert len(found) == 1, rows(found)
    return float(found.time_to_entry_s[0])


# ---------------------------------------------------------------------------------------------
# Analytic cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lat", [0.0, 35.0, -60.0])
def test_straight_at_a_circle(lat: float) -> None:
    centre = ahead(36.0, lat, 70.0, 25_000.0)
    found = detect([(lat, 36.0, 3000.0, V, 70.0, 0.0)], [volume(CircleFootprint(centre, 5_000.0))])
    assert abs(single_entry(found) - 20_000.0 / V) < ENTRY_TOLERANCE_S
    assert not found.inside_now[0]


def test_straight_at_a_polygon_along_the_equator() -> None:
    # the equator is a geodesic; the polygon's west edge is the meridian 36.2°
    found = detect([(0.0, 36.0, 3000.0, V, 90.0, 0.0)], [volume(box(36.2, -0.1, 36.4, 0.1))])
    expected = A_WGS84 * math.radians(0.2) / V  # 89.06 s
    assert abs(single_entry(found) - expected) < ENTRY_TOLERANCE_S


def test_straight_north_at_a_polygon_edge_on_a_parallel() -> None:
    found = detect([(35.0, 36.3, 3000.0, V, 0.0, 0.0)], [volume(box(36.2, 35.2, 36.4, 35.4))])
    arc = GEOD.inv(36.3, 35.0, 36.3, 35.2)[2]  # meridian arc: the path is the meridian
    assert abs(single_entry(found) - arc / V) < ENTRY_TOLERANCE_S


def test_inside_now() -> None:
    found = detect(
        [(35.0, 36.0, 3000.0, V, 123.0, 5.0)], [volume(CircleFootprint((36.01, 35.0), 5_000.0))]
    )
    assert rows(found) == [(0, 0, True, 0.0)]


def test_passing_by_outside_is_not_reported() -> None:
    # 8 km abeam of a 5 km circle
    centre = ahead(*ahead(36.0, 35.0, 90.0, 15_000.0), 0.0, 8_000.0)
    found = detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], [volume(CircleFootprint(centre, 5_000.0))])
    assert len(found) == 0


def test_entry_after_the_look_ahead_is_not_reported() -> None:
    centre = ahead(36.0, 35.0, 90.0, 40_000.0)  # entry after 140 s
    zone = [volume(CircleFootprint(centre, 5_000.0))]
    assert len(detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], zone)) == 0
    later = detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], zone, look_ahead_s=200.0)
    assert abs(single_entry(later) - 140.0) < ENTRY_TOLERANCE_S


def test_airspace_that_opens_after_the_track_has_passed_is_not_reported() -> None:
    # the track is over the circle from 60 s to 100 s; the constraint opens at 110 s
    centre = ahead(36.0, 35.0, 90.0, 20_000.0)
    zone = volume(CircleFootprint(centre, 5_000.0), start=NOW + 110.0)
    assert len(detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], [zone])) == 0
    # opening at 80 s, while the track is over it: entry when it opens
    zone = volume(CircleFootprint(centre, 5_000.0), start=NOW + 80.0)
    assert rows(detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], [zone])) == [(0, 0, False, 80.0)]


def test_airspace_opening_in_30_s_over_the_track_is_reported_at_30_s() -> None:
    zone = volume(CircleFootprint((36.0, 35.0), 10_000.0), start=NOW + 30.0)
    found = detect([(35.0, 36.0, 100.0, 20.0, 45.0, 0.0)], [zone])  # a drone inside the circle
    assert rows(found) == [(0, 0, False, 30.0)]


def test_airspace_closing_before_arrival_is_not_reported() -> None:
    centre = ahead(36.0, 35.0, 90.0, 20_000.0)  # entry at 60 s
    zone = volume(CircleFootprint(centre, 5_000.0), end=NOW + 50.0)
    assert len(detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], [zone])) == 0
    closed = volume(CircleFootprint(centre, 5_000.0), start=NOW - 100.0, end=NOW)
    assert len(detect([(35.0, 36.0, 3000.0, V, 90.0, 0.0)], [closed])) == 0


def test_climbs_into_a_band_from_below_and_descends_from_above() -> None:
    zone = volume(CircleFootprint((36.0, 35.0), 20_000.0), lower=1_500.0, upper=3_000.0)
    climbing = (35.0, 36.0, 1_000.0, V, 0.0, 10.0)  # 500 m below at 10 m/s
    descending = (35.0, 36.0, 3_600.0, V, 180.0, -15.0)  # 600 m above at 15 m/s
    level_below = (35.0, 36.0, 1_000.0, V, 0.0, 0.0)
    found = detect([climbing, descending, level_below], [zone])
    assert rows(found) == [(0, 0, False, 50.0), (1, 0, False, 40.0)]


def test_polygon_hole_is_not_inside() -> None:
    outer = ((36.0, 35.0), (36.4, 35.0), (36.4, 35.4), (36.0, 35.4), (36.0, 35.0))
    hole = ((36.1, 35.1), (36.1, 35.3), (36.3, 35.3), (36.3, 35.1), (36.1, 35.1))
    zone = volume(PolygonFootprint((outer, hole)))
    found = detect([(35.2, 36.2, 3000.0, V, 0.0, 0.0)], [zone])  # in the hole, heading north
    arc = GEOD.inv(36.2, 35.2, 36.2, 35.3)[2]
    assert abs(single_entry(found) - arc / V) < ENTRY_TOLERANCE_S


def test_across_the_antimeridian() -> None:
    zone = volume(box(179.8, -0.1, -179.8, 0.1))  # spans 180°
    circle = volume(CircleFootprint((180.0, 1.0), 5_000.0))
    tracks = [
        (0.0, 179.6, 3000.0, V, 90.0, 0.0),  # west of it, heading east
        (0.0, -179.6, 3000.0, V, 270.0, 0.0),  # east of it, heading west
        (0.0, 180.0, 3000.0, V, 0.0, 0.0),  # inside, on the antimeridian
        (*ahead(180.0, 1.0, 260.0, 20_000.0)[::-1], 3000.0, V, 80.0, 0.0),  # at the circle
    ]
    found = rows(detect(tracks, [zone, circle]))
    expected = A_WGS84 * math.radians(0.2) / V
    assert [(t, v, i) for t, v, i, _ in found] == [
        (0, 0, False),
        (1, 0, False),
        (2, 0, True),
        (3, 1, False),
    ]
    assert abs(found[0][3] - expected) < ENTRY_TOLERANCE_S
    assert abs(found[1][3] - expected) < ENTRY_TOLERANCE_S
    assert abs(found[3][3] - 15_000.0 / V) < ENTRY_TOLERANCE_S


def test_near_the_pole() -> None:
    circle = volume(CircleFootprint((10.0, 85.2), 5_000.0))
    polygon = volume(box(9.0, 85.1, 11.0, 85.3))
    pole = volume(CircleFootprint((0.0, 90.0), 20_000.0))
    tracks = [
        (85.0, 10.0, 3000.0, V, 0.0, 0.0),  # north along the meridian 10°
        (89.7, -120.0, 3000.0, V, 0.0, 0.0),  # towards the pole
        (85.15, 190.0 - 360.0, 3000.0, V, 90.0, 0.0),  # far round the pole: nothing
    ]
    found = rows(detect(tracks, [circle, polygon, pole]))
    assert [(t, v) for t, v, _, _ in found] == [(0, 0), (0, 1), (1, 2)]
    to_circle = (GEOD.inv(10.0, 85.0, 10.0, 85.2)[2] - 5_000.0) / V
    to_polygon = GEOD.inv(10.0, 85.0, 10.0, 85.1)[2] / V
    to_pole = (GEOD.inv(-120.0, 89.7, -120.0, 90.0)[2] - 20_000.0) / V
    assert abs(found[0][3] - to_circle) < ENTRY_TOLERANCE_S
    assert abs(found[1][3] - to_polygon) < ENTRY_TOLERANCE_S
    assert abs(found[2][3] - to_pole) < ENTRY_TOLERANCE_S


def test_hovering_and_empty_inputs() -> None:
    zone = volume(box(36.0, 35.0, 36.1, 35.1))
    found = detect(
        [(35.05, 36.05, 100.0, 0.0, 0.0, 0.0), (35.2, 36.05, 100.0, 0.0, 0.0, 0.0)], [zone]
    )
    assert rows(found) == [(0, 0, True, 0.0)]
    assert len(detect([], [zone])) == 0
    assert len(detect([(35.05, 36.05, 100.0, 0.0, 0.0, 0.0)], [])) == 0


def test_rejects_bad_input() -> None:
    zone = [volume(box(36.0, 35.0, 36.1, 35.1))]
    with pytest.raises(ValueError):
        detect_incursions(arrays([1.0, 2.0], [1.0], [0.0], [0.0], [0.0], [0.0]), zone)
    with pytest.raises(ValueError):
        detect([(35.0, 36.0, 0.0, -1.0, 0.0, 0.0)], zone)
    with pytest.raises(ValueError):
        detect([(35.0, 36.0, 0.0, 1.0, 0.0, 0.0)], zone, look_ahead_s=0.0)


# ---------------------------------------------------------------------------------------------
# Brute-force reference on random cases
# ---------------------------------------------------------------------------------------------

STEP_S = 0.1
MARGIN_M = 300.0  # the reference's footprints are grown and shrunk by this much
M_PER_DEG = 111_195.0  # metres per degree of a great circle (mean radius), for local margins


def inside_depth(footprint: Footprint, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Signed distance into the footprint (m, positive inside), exact on its sign.

    Circles: radius minus geodesic distance. Polygons: RFC 7946 point in polygon in degrees
    (longitudes unwrapped around the first vertex), its magnitude measured in a local
    equirectangular scaling, good to ~2 % at these sizes — enough for a 300 m margin.
    """
    if isinstance(footprint, CircleFootprint):
        c_lon, c_lat = footprint.center
        d = GEOD.inv(np.full(lon.size, c_lon), np.full(lon.size, c_lat), lon, lat)[2]
        return footprint.radius_m - np.asarray(d)
    ref_lon, ref_lat = footprint.exterior[0]
    k = math.cos(math.radians(ref_lat))

    def scaled(lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        unwrapped = (np.asarray(lons) - ref_lon + 180.0) % 360.0 - 180.0
        return unwrapped * k * M_PER_DEG, (np.asarray(lats) - ref_lat) * M_PER_DEG

    rings = [np.column_stack(scaled(*np.asarray(r, float).T)) for r in footprint.rings]
    polygon = shapely.Polygon(rings[0], rings[1:])
    x, y = scaled(lon, lat)
    points = shapely.points(x, y)
    d = shapely.distance(polygon.boundary, points)
    return np.where(shapely.covers(polygon, points), d, -d)


def reference(
    lat: float, lon: float, alt: float, gs: float, trk: float, vs: float, vol: Volume, L: float
) -> tuple[float | None, float | None, float | None]:
    """First time (s) the track meets the volume shrunk by ``MARGIN_M``, as is, and grown."""
    t = np.arange(0.0, L + STEP_S / 2, STEP_S)
    lons, lats, _ = GEOD.fwd(
        np.full(t.size, lon), np.full(t.size, lat), np.full(t.size, trk), gs * t
    )
    depth = inside_depth(vol.footprint, np.asarray(lons), np.asarray(lats))
    z = alt + vs * t
    other = (
        (vol.altitude_lower_m <= z)
        & (z <= vol.altitude_upper_m)
        & (vol.time_start <= NOW + t)
        & (NOW + t < vol.time_end)
    )
    first = [np.flatnonzero(other & (depth >= m)) for m in (MARGIN_M, 0.0, -MARGIN_M)]
    shrunk, exact, grown = (float(t[f[0]]) if f.size else None for f in first)
    return shrunk, exact, grown


def random_case(rng: np.random.Generator) -> tuple[np.ndarray, list[Volume]]:
    """30 tracks (some near 180° and 85°) and 40 volumes placed near random tracks."""
    n = 30
    lat = rng.uniform(-70.0, 70.0, n)
    lon = rng.uniform(-180.0, 180.0, n)
    lat[:5] = rng.uniform(84.0, 86.0, 5)
    lon[5:10] = rng.uniform(179.5, 180.5, 5)
    lon = (lon + 180.0) % 360.0 - 180.0
    # half the tracks clustered around track 10, so volumes near one track meet others too
    lat[15:] = lat[10] + rng.uniform(-0.2, 0.2, n - 15)
    lon[15:] = lon[10] + rng.uniform(-0.2, 0.2, n - 15)
    alt = rng.uniform(0.0, 6000.0, n)
    gs = rng.uniform(0.0, 300.0, n)
    gs[rng.random(n) < 0.1] = 0.0
    trk = rng.uniform(0.0, 360.0, n)
    vs = rng.uniform(-20.0, 20.0, n) * (rng.random(n) < 0.5)
    tracks = np.column_stack([lat, lon, alt, gs, trk, vs])

    volumes = []
    for _ in range(40):
        i = rng.integers(n)
        if rng.random() < 0.6:  # somewhere ahead of track i
            bearing = trk[i] + rng.uniform(-30.0, 30.0)
            distance = rng.uniform(0.0, gs[i] * 120.0 + 10_000.0)
        else:
            bearing, distance = rng.uniform(0, 360), rng.uniform(0.0, 40_000.0)
        c_lon, c_lat = ahead(lon[i], lat[i], bearing, distance)
        size = rng.uniform(2_000.0, 15_000.0)
        if rng.random() < 0.5:
            footprint: Footprint = CircleFootprint((c_lon, c_lat), size)
        else:  # a star-shaped polygon around the centre
            az = np.sort(rng.uniform(0.0, 360.0, int(rng.integers(3, 9))))
            r = size * rng.uniform(0.4, 1.0, az.size)
            v_lon, v_lat, _ = GEOD.fwd(np.full(az.size, c_lon), np.full(az.size, c_lat), az, r)
            ring = tuple((float(a), float(b)) for a, b in zip(v_lon, v_lat, strict=True))
            footprint = PolygonFootprint((ring + ring[:1],))
            if not shapely.is_valid(
                shapely.Polygon(np.column_stack([(v_lon - c_lon + 180) % 360, v_lat]))
            ):
                continue
        lower = max(0.0, alt[i] + rng.uniform(-2500.0, 1000.0))
        start = NOW + (-1000.0 if rng.random() < 0.6 else rng.uniform(-60.0, 150.0))
        end = start + (5000.0 if rng.random() < 0.6 else rng.uniform(10.0, 100.0))
        volumes.append(Volume(footprint, lower, lower + rng.uniform(200.0, 3000.0), start, end))
    return tracks, volumes


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_time_stepped_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tracks, volumes = random_case(rng)
    L = 120.0
    found = detect_incursions(arrays(*tracks.T), volumes, look_ahead_s=L)
    engine = {(t, v): (i, e) for t, v, i, e in rows(found)}
    checked = 0
    for ti, (lat, lon, alt, gs, trk, vs) in enumerate(tracks):
        for vi, vol in enumerate(volumes):
            c_lon, c_lat = (
                vol.footprint.center
                if isinstance(vol.footprint, CircleFootprint)
                else vol.footprint.exterior[0]
            )
            if GEOD.inv(lon, lat, c_lon, c_lat)[2] > gs * L + 40_000.0:
                assert (ti, vi) not in engine
                continue
            shrunk, exact, grown = reference(lat, lon, alt, gs, trk, vs, vol, L)
            checked += 1
            if shrunk is not None:  # surely meets: reported, and not later
                assert (ti, vi) in engine, (ti, vi, shrunk)
                assert engine[ti, vi][1] <= shrunk + STEP_S
            if (ti, vi) in engine:  # reported: surely close, and not earlier
                assert grown is not None, (ti, vi, engine[ti, vi])
                inside_now, entry = engine[ti, vi]
                assert entry >= grown - STEP_S
                assert inside_now == (entry == 0.0)
                if exact is not None:  # and on these cases within the brief's 1 s
                    assert abs(entry - exact) <= ENTRY_TOLERANCE_S
    assert checked > 100
    assert len(found) >= 5


def test_many_tracks_few_candidates() -> None:
    """Pruning: 20,000 tracks over a continent and 200 small zones give only nearby pairs."""
    rng = np.random.default_rng(7)
    n = 20_000
    lat, lon = rng.uniform(30.0, 60.0, n), rng.uniform(-10.0, 40.0, n)
    tracks = (
        lat,
        lon,
        np.full(n, 3000.0),
        rng.uniform(50, 250, n),
        rng.uniform(0, 360, n),
        np.zeros(n),
    )
    zones = [
        volume(CircleFootprint((float(a), float(b)), 3_000.0))
        for a, b in zip(rng.uniform(-10, 40, 200), rng.uniform(30, 60, 200), strict=True)
    ]
    found = detect_incursions(arrays(*tracks), zones)
    assert 0 < len(found) < 2_000
    # every reported pair is really close: within reach of the look-ahead
    for t, v, _, _ in rows(found)[:200]:
        c_lon, c_lat = zones[v].footprint.center
        assert GEOD.inv(lon[t], lat[t], c_lon, c_lat)[2] <= tracks[3][t] * 120.0 + 3_000.0 + 1.0
