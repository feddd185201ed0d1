"""Tactical conflict detector against a plain pairwise reference, plus adversarial geometry.

The reference below is written from the semantics in the module docstring of
``deconfliction.engine.tactical``, independently of its fast path: ECEF from pyproj, an explicit
east/north basis in the pair's midpoint tangent plane, velocities rotated with Rodrigues' formula,
and the quadratic solved row by row in numpy over every pair (O(N²)).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from deconfliction.engine.tactical import (
    SEPARATION_TOLERANCE_M,
    Encounters,
    detect_conflicts,
)
from deconfliction.model.track import TrackArrays

NM = 1852.0  # m
FT = 0.3048  # m
KT = NM / 3600.0  # m/s
STILL = 1e-6  # m/s: relative horizontal speeds below this count as none (module docstring)
FPM = FT / 60.0  # m/s
EN_ROUTE = {"horizontal_m": 5 * NM, "vertical_m": 1000 * FT}  # ICAO Doc 4444 §8.7.3
TERMINAL = {"horizontal_m": 3 * NM, "vertical_m": 1000 * FT}
RULE_OF_THREES = {"horizontal_m": 3 * NM, "vertical_m": 3000 * FT}
DRONE = {"horizontal_m": 0.66 * NM, "vertical_m": 450 * FT}  # RTCA DO-365B

_TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
_GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------------------------
# Reference: every pair, straightforward numpy.
# --------------------------------------------------------------------------------------------


def tracks(lat_deg, lon_deg, alt_m, gs_mps, track_deg, vs_mps, party) -> TrackArrays:
    """The detector's record of these columns (aircraft ids ``a0``, ``a1``...)."""
    ids = [f"a{k}" for k in range(len(np.atleast_1d(lat_deg)))]
    return TrackArrays(ids, lat_deg, lon_deg, alt_m, gs_mps, track_deg, vs_mps, party, time_s=0.0)


def _enu(lat_deg: np.ndarray, lon_deg: np.ndarray) -> tuple[np.ndarray, ...]:
    la, lo = np.radians(lat_deg), np.radians(lon_deg)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], axis=1)
    north = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], axis=1)
    up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)
    return east, north, up


def _rodrigues(v: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotate rows of v by the rotation taking unit vectors src to dst (about src x dst)."""
    axis = np.cross(src, dst)
    s = np.linalg.norm(axis, axis=1)
    c = np.einsum("ij,ij->i", src, dst)
    k = np.divide(axis, s[:, None], out=np.zeros_like(axis), where=s[:, None] > 0)
    theta = np.arctan2(s, c)[:, None]
    kv = np.einsum("ij,ij->i", k, v)[:, None]
    return v * np.cos(theta) + np.cross(k, v) * np.sin(theta) + k * kv * (1 - np.cos(theta))


def reference(
    lat,
    lon,
    alt,
    gs,
    trk,
    vs,
    party,
    *,
    horizontal_m,
    vertical_m,
    look_ahead_s,
    same_party=False,
    slack=0.0,
) -> dict[tuple[int, int], tuple[float, ...]]:
    """{(i, j): (t_in, t_out, tcpa, dcpa, vcpa, lost_now, relative speed)}.

    ``slack`` (m) widens the minima.
    """
    lat, lon, alt, gs, trk, vs = (np.asarray(x, dtype=float) for x in (lat, lon, alt, gs, trk, vs))
    party = np.asarray(party)
    n = lat.shape[0]
    x, y, z = _TO_ECEF.transform(lon, lat, np.zeros(n))
    pos = np.stack([x, y, z], axis=1)
    east, north, up = _enu(lat, lon)
    t = np.radians(trk)
    vel = gs[:, None] * (np.sin(t)[:, None] * east + np.cos(t)[:, None] * north)
    h_min = horizontal_m - SEPARATION_TOLERANCE_M + slack
    v_min = vertical_m - SEPARATION_TOLERANCE_M + slack
    out = {}
    for i in range(n - 1):
        j = np.arange(i + 1, n)
        if not same_party:
            j = j[party[j] != party[i]]
        if j.size == 0:
            continue
        ui = np.repeat(up[i : i + 1], j.size, axis=0)
        m = ui + up[j]
        m /= np.linalg.norm(m, axis=1)[:, None]
        helper = np.where(np.abs(m[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        em = np.cross(helper, m)
        em /= np.linalg.norm(em, axis=1)[:, None]
        nm = np.cross(m, em)
        vi = _rodrigues(np.repeat(vel[i : i + 1], j.size, axis=0), ui, m)
        vj = _rodrigues(vel[j], up[j], m)
        c = pos[j] - pos[i]
        w = vj - vi
        d = np.stack([np.einsum("ij,ij->i", c, em), np.einsum("ij,ij->i", c, nm)], axis=1)
        wv = np.stack([np.einsum("ij,ij->i", w, em), np.einsum("ij,ij->i", w, nm)], axis=1)
        dz = alt[j] - alt[i]
        dvz = vs[j] - vs[i]
        for col, jj in enumerate(j):
            interval = _loss_interval(d[col], wv[col], dz[col], dvz[col], h_min, v_min)
            if interval is None:
                continue
            lo, hi = interval
            if not (lo < look_ahead_s and hi > 0.0):
                continue
            a = float(wv[col] @ wv[col])
            tcpa = (
                0.0 if a < STILL**2 else min(max(-float(d[col] @ wv[col]) / a, 0.0), look_ahead_s)
            )
            out[(i, int(jj))] = (
                max(lo, 0.0),
                min(hi, look_ahead_s),
                tcpa,
                float(np.hypot(*(d[col] + wv[col] * tcpa))),
                abs(dz[col] + dvz[col] * tcpa),
                bool(np.hypot(*d[col]) < h_min and abs(dz[col]) < v_min),
                float(np.sqrt(a)),
            )
    return out


def _loss_interval(d, w, dz, dvz, h_min, v_min) -> tuple[float, float] | None:
    """Open interval where |d + w t| < h_min and |dz + dvz t| < v_min, or None."""
    a = float(w @ w)
    b = 2.0 * float(d @ w)
    c = float(d @ d) - h_min**2
    if a < STILL**2:
        if c >= 0.0:
            return None
        h_lo, h_hi = -np.inf, np.inf
    else:
        disc = b * b - 4.0 * a * c
        if disc <= 0.0:
            return None
        root = np.sqrt(disc)
        h_lo, h_hi = (-b - root) / (2.0 * a), (-b + root) / (2.0 * a)
    if dvz == 0.0:
        if abs(dz) >= v_min:
            return None
        v_lo, v_hi = -np.inf, np.inf
    else:
        v_lo, v_hi = sorted(((-v_min - dz) / dvz, (v_min - dz) / dvz))
    lo, hi = max(h_lo, v_lo), min(h_hi, v_hi)
    return (lo, hi) if lo < hi else None


def as_dict(enc: Encounters) -> dict[tuple[int, int], tuple[float, ...]]:
    return {
        (int(i), int(j)): (a, b, c, d, e, bool(f))
        for i, j, a, b, c, d, e, f in zip(
            enc.i,
            enc.j,
            enc.t_in,
            enc.t_out,
            enc.tcpa,
            enc.dcpa_m,
            enc.vertical_at_cpa_m,
            enc.lost_now,
            strict=True,
        )
    }


def assert_matches_reference(args, *, borderline_ok: bool = False, **options) -> Encounters:
    """Same pair set as the reference, and close numbers for every pair."""
    enc = detect_conflicts(tracks(*args), **options)
    assert np.all(enc.i < enc.j)
    keys = enc.i * max(len(args[0]), 1) + enc.j
    assert np.all(np.diff(keys) > 0), "rows must be sorted by (i, j) without duplicates"
    got = as_dict(enc)
    ref = reference(*args, **options)
    if borderline_ok:
        # Pairs within a micrometre of a minimum may go either way.
        strict = reference(*args, **options, slack=-1e-6)
        loose = reference(*args, **options, slack=1e-6)
        assert set(strict) <= set(got) <= set(loose)
        common = set(got) & set(ref)
    else:
        assert set(got) == set(ref), (
            f"missing {sorted(set(ref) - set(got))[:5]}, extra {sorted(set(got) - set(ref))[:5]}"
        )
        common = set(ref)
    for key in common:
        g, r = got[key], ref[key]
        np.testing.assert_allclose(g[:2], r[:2], rtol=1e-6, atol=1e-4, err_msg=str(key))
        np.testing.assert_allclose(g[3], r[3], rtol=1e-6, atol=1e-3, err_msg=str(key))
        if not borderline_ok or r[6] > 0.1:
            # With a relative speed near zero, tcpa is ill-conditioned (a flat minimum): only
            # the distance there is compared.
            np.testing.assert_allclose(g[2], r[2], rtol=1e-6, atol=1e-4, err_msg=str(key))
            np.testing.assert_allclose(g[4], r[4], rtol=1e-6, atol=1e-3, err_msg=str(key))
        if not borderline_ok:
            assert g[5] == r[5], key
    return enc


# --------------------------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------------------------


def random_traffic(
    n, seed, *, box_km=1000.0, lat0=35.0, lon0=38.0, gs_kt=(200, 500), fl=(200, 400), n_parties=4
):
    """Uniform traffic in a box_km square: levels, speeds, 20 % climbing or descending."""
    rng = np.random.default_rng(seed)
    north = rng.uniform(-0.5, 0.5, n) * box_km * 1e3
    east = rng.uniform(-0.5, 0.5, n) * box_km * 1e3
    lat = np.clip(lat0 + np.degrees(north / 6371e3), -90.0, 90.0)
    lon = lon0 + np.degrees(east / (6371e3 * np.maximum(np.cos(np.radians(lat)), 1e-3)))
    lon = (lon + 180.0) % 360.0 - 180.0
    alt = rng.uniform(*fl, n) * 100 * FT
    gs = rng.uniform(*gs_kt, n) * KT
    trk = rng.uniform(0.0, 360.0, n)
    moving = rng.random(n) < 0.2
    vs = np.where(moving, rng.choice([-1.0, 1.0], n) * rng.uniform(1000, 3000, n) * FPM, 0.0)
    party = rng.integers(0, n_parties, n)
    return lat, lon, alt, gs, trk, vs, party


def pair(lat, lon, alt, gs, trk, vs, party=(1, 2)):
    return tuple(np.asarray(x, dtype=float) for x in (lat, lon, alt, gs, trk, vs)) + (
        np.asarray(party),
    )


# --------------------------------------------------------------------------------------------
# Random traffic against the reference
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "seed", "box_km", "lat0", "lon0", "profile", "look_ahead_s"),
    [
        (1500, 1, 1000.0, 35.0, 38.0, EN_ROUTE, 300.0),
        (1200, 2, 300.0, 35.0, 38.0, EN_ROUTE, 120.0),  # dense
        (800, 3, 150.0, 51.0, -0.5, TERMINAL, 300.0),  # denser
        (800, 4, 400.0, 60.0, 179.9, RULE_OF_THREES, 600.0),  # across the antimeridian
        (800, 5, 300.0, 89.5, 10.0, EN_ROUTE, 300.0),  # around the north pole
        (600, 6, 200.0, -89.0, -120.0, EN_ROUTE, 1200.0),  # south pole, longest look-ahead
        (600, 7, 40.0, 48.8, 2.3, DRONE, 120.0),  # drones
    ],
)
def test_random_traffic_matches_reference(n, seed, box_km, lat0, lon0, profile, look_ahead_s):
    args = random_traffic(n, seed, box_km=box_km, lat0=lat0, lon0=lon0)
    if profile is DRONE:
        args = random_traffic(
            n, seed, box_km=box_km, lat0=lat0, lon0=lon0, gs_kt=(0, 60), fl=(0, 15)
        )
    enc = assert_matches_reference(args, look_ahead_s=look_ahead_s, **profile)
    assert len(enc) > 0


def test_same_party_option_matches_reference():
    args = random_traffic(1000, 11, box_km=300.0, n_parties=2)
    default = assert_matches_reference(args, look_ahead_s=300.0, **EN_ROUTE)
    everyone = assert_matches_reference(args, look_ahead_s=300.0, same_party=True, **EN_ROUTE)
    party = args[6]
    assert np.all(party[default.i] != party[default.j])
    assert np.any(party[everyone.i] == party[everyone.j])
    assert set(as_dict(default)) < set(as_dict(everyone))


def test_global_traffic_matches_reference():
    rng = np.random.default_rng(12)
    n = 1500
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    # Cluster half of them so that there is something to find.
    lat[: n // 2] = np.clip(lat[: n // 2] / 60.0 + 89.0, -90, 90)
    args = (
        lat,
        lon,
        rng.uniform(6000, 6600, n),
        rng.uniform(100, 300, n),
        rng.uniform(0, 360, n),
        rng.uniform(-20, 20, n),
        rng.integers(0, 3, n),
    )
    enc = assert_matches_reference(args, look_ahead_s=1200.0, **EN_ROUTE)
    assert len(enc) > 0


def test_outlier_speed_goes_through_brute_force_and_matches_reference():
    lat, lon, alt, gs, trk, vs, party = random_traffic(600, 13, box_km=200.0)
    gs[:3] = [3000.0, 9000.0, 0.0]  # way beyond the grid's cell size
    vs[3] = 500.0
    assert_matches_reference((lat, lon, alt, gs, trk, vs, party), look_ahead_s=300.0, **EN_ROUTE)


@st.composite
def small_cases(draw):
    n = draw(st.integers(2, 7))
    lat0 = draw(st.floats(-89.99, 89.99))
    lon0 = draw(st.floats(-180.0, 180.0))
    km = st.floats(-30.0, 30.0)
    lat = [min(max(lat0 + draw(km) / 111.0, -90.0), 90.0) for _ in range(n)]
    lon = [lon0 + draw(km) / (111.0 * max(np.cos(np.radians(lat0)), 0.05)) for _ in range(n)]
    alt = [draw(st.floats(9000.0, 10000.0)) for _ in range(n)]
    gs = [draw(st.floats(0.0, 300.0)) for _ in range(n)]
    trk = [draw(st.floats(0.0, 360.0)) for _ in range(n)]
    vs = [draw(st.sampled_from([0.0, 5.0, -5.0, 15.24, -30.0])) for _ in range(n)]
    party = [draw(st.integers(0, 2)) for _ in range(n)]
    return tuple(np.array(x, dtype=float) for x in (lat, lon, alt, gs, trk, vs)) + (
        np.array(party),
    )


@settings(max_examples=150, deadline=None)
@given(
    case=small_cases(),
    look_ahead_s=st.sampled_from([1.0, 120.0, 300.0, 1200.0]),
    same_party=st.booleans(),
)
def test_small_cases_match_reference(case, look_ahead_s, same_party):
    assert_matches_reference(
        case, borderline_ok=True, look_ahead_s=look_ahead_s, same_party=same_party, **EN_ROUTE
    )


# --------------------------------------------------------------------------------------------
# Adversarial geometry
# --------------------------------------------------------------------------------------------


def _east_of(lat, lon, dist_m, az=90.0):
    lon2, lat2, _ = _GEOD.fwd(lon, lat, az, dist_m)
    return lat2, lon2


def test_head_on():
    lat2, lon2 = _east_of(0.0, 0.0, 20 * NM)
    args = pair(
        [0.0, lat2], [0.0, lon2], [35000 * FT] * 2, [450 * KT] * 2, [90.0, 270.0], [0.0, 0.0]
    )
    enc = assert_matches_reference(args, look_ahead_s=120.0, **EN_ROUTE)
    assert len(enc) == 1
    assert enc.t_in[0] == pytest.approx(60.0, abs=0.05)  # 15 NM at 900 kt closing
    assert enc.tcpa[0] == pytest.approx(80.0, abs=0.05)
    assert enc.t_out[0] == pytest.approx(100.0, abs=0.05)
    assert enc.dcpa_m[0] < 1.0
    assert not enc.lost_now[0]


def test_overtaking_inside_and_beyond_the_look_ahead():
    lat2, lon2 = _east_of(45.0, 10.0, 10 * NM, az=0.0)
    args = pair(
        [45.0, lat2], [10.0, lon2], [30000 * FT] * 2, [500 * KT, 400 * KT], [0.0, 0.0], [0.0, 0.0]
    )
    enc = assert_matches_reference(args, look_ahead_s=300.0, **EN_ROUTE)
    assert len(enc) == 1
    assert enc.t_in[0] == pytest.approx(180.0, abs=0.5)  # 5 NM at 100 kt closing
    assert enc.t_out[0] == pytest.approx(300.0)
    assert len(detect_conflicts(tracks(*args), look_ahead_s=120.0, **EN_ROUTE)) == 0


def test_co_altitude_parallel_already_lost():
    lat2, lon2 = _east_of(10.0, 20.0, 4.9 * NM)
    args = pair(
        [10.0, lat2], [20.0, lon2], [30000 * FT] * 2, [300 * KT] * 2, [0.0, 0.0], [0.0, 0.0]
    )
    enc = assert_matches_reference(args, look_ahead_s=120.0, **EN_ROUTE)
    assert len(enc) == 1
    assert enc.lost_now[0]
    assert (enc.t_in[0], enc.t_out[0]) == (0.0, 120.0)


def test_exactly_one_thousand_feet_apart_is_not_a_conflict():
    for lower, upper in [(300, 310), (200, 210), (390, 400), (0, 10)]:
        args = pair(
            [50.0, 50.0],
            [8.0, 8.0],
            [lower * 100 * FT, upper * 100 * FT],
            [250.0] * 2,
            [0.0, 180.0],
            [0.0, 0.0],
        )
        assert len(detect_conflicts(tracks(*args), look_ahead_s=1200.0, **EN_ROUTE)) == 0
        assert len(detect_conflicts(tracks(*args), look_ahead_s=1200.0, **TERMINAL)) == 0
    nearly = pair(
        [50.0, 50.0], [8.0, 8.0], [30000 * FT, 30999 * FT], [250.0] * 2, [0.0, 0.0], [0.0, 0.0]
    )
    assert len(detect_conflicts(tracks(*nearly), look_ahead_s=120.0, **EN_ROUTE)) == 1


def test_exactly_at_the_horizontal_minimum_is_not_a_conflict():
    for lat in (0.0, 45.0, 89.5):
        at = _east_of(lat, 30.0, 5 * NM)  # geodesic 9260 m: the chord is 0.8 mm shorter
        inside = _east_of(lat, 30.0, 5 * NM - 0.03)
        for (lat2, lon2), expected in ((at, 0), (inside, 1)):
            args = pair([lat, lat2], [30.0, lon2], [9000.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2)
            assert len(detect_conflicts(tracks(*args), look_ahead_s=120.0, **EN_ROUTE)) == expected


def test_crossing_the_antimeridian():
    still = pair([0.0, 0.0], [179.99, -179.99], [9000.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2)
    enc = assert_matches_reference(still, look_ahead_s=120.0, **EN_ROUTE)
    assert len(enc) == 1 and enc.lost_now[0]
    assert enc.dcpa_m[0] == pytest.approx(_GEOD.inv(179.99, 0.0, -179.99, 0.0)[2], abs=0.01)
    moving = pair(
        [20.0, 20.0], [179.8, -179.8], [9000.0] * 2, [250.0] * 2, [90.0, 270.0], [0.0] * 2
    )
    enc = assert_matches_reference(moving, look_ahead_s=300.0, **EN_ROUTE)
    assert len(enc) == 1 and not enc.lost_now[0]
    gap = _GEOD.inv(179.8, 20.0, -179.8, 20.0)[2]
    assert enc.t_in[0] == pytest.approx((gap - 5 * NM) / 500.0, rel=1e-3)


def test_over_the_north_pole():
    # Both fly due north on opposite meridians: head-on across the pole.
    args = pair([89.5, 89.5], [0.0, 180.0], [11000.0] * 2, [250.0] * 2, [0.0, 0.0], [0.0, 0.0])
    enc = assert_matches_reference(args, look_ahead_s=300.0, **EN_ROUTE)
    assert len(enc) == 1
    gap = _GEOD.inv(0.0, 89.5, 180.0, 89.5)[2]
    assert enc.tcpa[0] == pytest.approx(gap / 500.0, rel=1e-3)
    assert enc.dcpa_m[0] < 50.0
    # Crossing paths near the pole, at right angles.
    args = pair([89.9, 89.9], [0.0, 90.0], [11000.0] * 2, [200.0] * 2, [0.0, 0.0], [0.0, 0.0])
    assert len(assert_matches_reference(args, look_ahead_s=300.0, **EN_ROUTE)) == 1
    # Exactly on the pole.
    args = pair([90.0, 89.95], [0.0, 45.0], [11000.0] * 2, [200.0] * 2, [180.0, 0.0], [0.0] * 2)
    assert len(assert_matches_reference(args, look_ahead_s=300.0, **EN_ROUTE)) == 1


def test_steep_climb_through_another_level():
    # B climbs at 6000 ft/min from 2000 ft below a level A at the same place.
    args = pair(
        [40.0, 40.0],
        [-3.0, -3.0],
        [30000 * FT, 28000 * FT],
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 6000 * FPM],
    )
    enc = assert_matches_reference(args, look_ahead_s=120.0, **EN_ROUTE)
    assert len(enc) == 1
    assert enc.t_in[0] == pytest.approx(10.0, abs=1e-3)
    assert enc.t_out[0] == pytest.approx(30.0, abs=1e-3)
    # Same climb, but the look-ahead ends before it reaches the band.
    assert len(detect_conflicts(tracks(*args), look_ahead_s=10.0 - 1e-3, **EN_ROUTE)) == 0
    # Crossing at right angles while climbing through.
    lat2, lon2 = _east_of(40.0, -3.0, 10 * NM)
    args = pair(
        [40.0, lat2],
        [-3.0, lon2],
        [30000 * FT, 27000 * FT],
        [250.0, 250.0],
        [0.0, 270.0],
        [0.0, 3000 * FPM],
    )
    assert_matches_reference(args, look_ahead_s=300.0, **EN_ROUTE)


def test_same_party_excluded_by_default():
    args = pair(
        [0.0, 0.0], [0.0, 0.01], [9000.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2, party=(7, 7)
    )
    assert len(detect_conflicts(tracks(*args), look_ahead_s=120.0, **EN_ROUTE)) == 0
    enc = detect_conflicts(tracks(*args), look_ahead_s=120.0, same_party=True, **EN_ROUTE)
    assert len(enc) == 1 and enc.lost_now[0]


def test_empty_and_single():
    for n in (0, 1):
        args = [np.zeros(n)] * 6 + [np.zeros(n, dtype=int)]
        enc = detect_conflicts(tracks(*args), look_ahead_s=120.0, **EN_ROUTE)
        assert len(enc) == 0 and enc.i.dtype == np.int64 and enc.lost_now.dtype == bool


def test_result_types():
    args = random_traffic(400, 21, box_km=100.0)
    enc = detect_conflicts(tracks(*args), look_ahead_s=300.0, **EN_ROUTE)
    assert len(enc) > 0
    assert enc.i.dtype == enc.j.dtype == np.int64
    for name in ("t_in", "t_out", "tcpa", "dcpa_m", "vertical_at_cpa_m"):
        assert getattr(enc, name).dtype == np.float64
    assert np.all((0.0 <= enc.t_in) & (enc.t_in < enc.t_out) & (enc.t_out <= 300.0))
    assert np.all((0.0 <= enc.tcpa) & (enc.tcpa <= 300.0))
    assert np.array_equal(enc.lost_now, enc.lost_now & (enc.t_in == 0.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alt_m": np.zeros(3)}, "equal lengths"),
        ({"gs_mps": np.array([0.0, np.nan])}, "finite"),
        ({"lat_deg": np.array([0.0, 91.0])}, "lat_deg"),
        ({"gs_mps": np.array([0.0, -1.0])}, "gs_mps"),
        ({"party": np.array([0.5, 1.0])}, "integers"),
        ({"look_ahead_s": 0.0}, "look_ahead_s"),
        ({"look_ahead_s": 1200.5}, "look_ahead_s"),
        ({"look_ahead_s": float("inf")}, "look_ahead_s"),
        ({"horizontal_m": 0.0}, "horizontal_m"),
        ({"vertical_m": float("nan")}, "vertical_m"),
    ],
)
def test_invalid_inputs(change, message):
    columns = {
        "lat_deg": np.zeros(2),
        "lon_deg": np.zeros(2),
        "alt_m": np.zeros(2),
        "gs_mps": np.zeros(2),
        "track_deg": np.zeros(2),
        "vs_mps": np.zeros(2),
        "party": np.array([1, 2]),
    }
    options = {"look_ahead_s": 120.0, **EN_ROUTE}
    for name, value in change.items():
        (columns if name in columns else options)[name] = value
    with pytest.raises(ValueError, match=message):
        detect_conflicts(tracks(**columns), **options)


@pytest.mark.parametrize(
    ("ids", "message"),
    [(["a", "a"], "distinct"), (["a", ""], "non-empty"), (["a", 7], "non-empty"), (["a"], "equal")],
)
def test_track_arrays_check_the_ids(ids, message):
    with pytest.raises(ValueError, match=message):
        TrackArrays(ids, *([np.zeros(2)] * 6), [1, 2], time_s=0.0)


def test_track_arrays_are_read_only_views():
    lat = np.zeros(2)
    record = TrackArrays(["a", "b"], lat, *([np.zeros(2)] * 5), [1, 2], time_s=0.0)
    with pytest.raises(ValueError, match="read-only"):
        record.lat_deg[0] = 1.0
    lat[0] = 5.0  # the caller's own array stays writeable (a view, not a flag on it)
    assert lat.flags.writeable


# --------------------------------------------------------------------------------------------
# Accuracy of the horizontal geometry against WGS-84 geodesics
# --------------------------------------------------------------------------------------------


def test_horizontal_distance_within_a_thousandth_of_the_minimum():
    rng = np.random.default_rng(31)
    lats = np.concatenate([np.linspace(-89.9, 89.9, 181), [89.5, -89.5, 0.0]])
    worst = 0.0
    for lat in lats:
        lon = rng.uniform(-180, 180)
        az = rng.uniform(0, 360)
        dist = rng.uniform(8500.0, 9500.0)
        lon2, lat2, _ = _GEOD.fwd(lon, lat, az, dist)
        args = pair([lat, lat2], [lon, lon2], [10000.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2)
        enc = detect_conflicts(tracks(*args), horizontal_m=20000.0, vertical_m=300.0,
                               look_ahead_s=60.0)
        assert len(enc) == 1
        worst = max(worst, abs(enc.dcpa_m[0] - dist))
    assert worst < 1e-3 * 5 * NM
    # The same, across the antimeridian.
    lon2, lat2, _ = _GEOD.fwd(179.97, 30.0, 90.0, 9000.0)
    args = pair([30.0, lat2], [179.97, lon2], [10000.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2)
    enc = detect_conflicts(tracks(*args), horizontal_m=20000.0, vertical_m=300.0, look_ahead_s=60.0)
    assert lon2 < 0 and abs(enc.dcpa_m[0] - 9000.0) < 1e-3 * 5 * NM


def test_long_range_head_on_at_the_end_of_the_longest_look_ahead():
    # 729 km apart, closing at 600 m/s: separation is lost only in the last half-second of a
    # 20-minute look-ahead. Straight 3-D tangent lines would still be 10 km apart then; only the
    # rotation of both velocities into the pair's common plane brings them within the minimum,
    # so the pruning must allow for that rotation.
    chord = 5 * NM + 600.0 * 1199.5
    half = np.degrees(2 * np.arcsin(chord / 2 / 6378137.0)) / 2
    for lat, lon in ((0.0, 0.0), (0.0, 180.0)):
        args = pair(
            [lat, lat],
            [lon - half, lon + half],
            [9000.0] * 2,
            [300.0] * 2,
            [90.0, 270.0],
            [0.0, 0.0],
        )
        enc = assert_matches_reference(args, look_ahead_s=1200.0, **EN_ROUTE)
        assert len(enc) == 1
        assert enc.t_in[0] == pytest.approx(1199.5, abs=0.1)
