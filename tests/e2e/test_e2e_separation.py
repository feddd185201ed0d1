"""Separation minima of the default profile (en-route: 5 NM = 9260 m, 1000 ft = 304.8 m) at
their boundaries: geodesic horizontal distance, vertical gap, strict time overlap."""

from __future__ import annotations

from datetime import timedelta

import pytest

HOUR = timedelta(hours=1)


def test_minima_used_by_these_tests():
    assert 5 * 1852 == 9260
    assert 1000 * 0.3048 == pytest.approx(304.8)
    # The vertical boundary numbers below subtract exactly to 304.8 in binary floating point.
    assert 504.8 - 200.0 == 304.8


@pytest.mark.parametrize("azimuth", [90.0, 0.0, 45.0])
def test_footprints_9_0_km_apart_conflict(api, geo, area, azimuth):
    fa, fb = geo.facing_diamonds(area, 9000.0, azimuth)
    api.create_op("blue", [geo.volume(fa)])
    p = api.problem(api.post_op("red", [geo.volume(fb)]), 409, "conflict")
    assert p["conflicts"]


@pytest.mark.parametrize("azimuth", [90.0, 0.0, 45.0])
def test_footprints_9_5_km_apart_do_not_conflict(api, geo, area, azimuth):
    fa, fb = geo.facing_diamonds(area, 9500.0, azimuth)
    api.create_op("blue", [geo.volume(fa)])
    api.create_op("red", [geo.volume(fb)])


def test_circles_measured_geodesically(api, geo, area):
    # Circle edges: centres 2 km + 9.0 km + 2 km apart (east-west) -> conflict.
    c1 = geo.offset(area, 270, 6500)
    api.create_op("blue", [geo.volume(geo.circle(c1, 2000))])
    api.problem(api.post_op("red", [geo.volume(geo.circle(geo.offset(c1, 90, 13_000), 2000))]),
                409, "conflict")
    # ... 2 km + 9.5 km + 2 km -> no conflict (north-south, where degrees differ most).
    c2 = geo.offset(area, 0, 40_000)
    api.create_op("blue", [geo.volume(geo.circle(c2, 2000))])
    api.create_op("red", [geo.volume(geo.circle(geo.offset(c2, 0, 13_500), 2000))])


def test_polygon_and_circle_mixed(api, geo, area):
    fa, _ = geo.facing_diamonds(area, 9000.0, 90.0)
    api.create_op("blue", [geo.volume(fa)])
    tip_b = geo.offset(area, 90, 4500)
    api.problem(api.post_op("red", [geo.volume(geo.circle(geo.offset(tip_b, 90, 1000), 1000))]),
                409, "conflict")
    api.create_op("red", [geo.volume(geo.circle(geo.offset(tip_b, 90, 1500), 1000))])


def test_bands_exactly_304_8_m_apart_do_not_conflict(api, geo, area):
    fp = geo.square(area)
    api.create_op("blue", [geo.volume(fp, 100, 200)])
    api.create_op("red", [geo.volume(fp, 504.8, 900)])  # above: gap = 304.8 m
    api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 0, 40_000)), 504.8, 900)])
    api.create_op("red", [geo.volume(geo.square(geo.offset(area, 0, 40_000)), 100, 200)])  # below


def test_bands_300_m_apart_conflict(api, geo, area):
    fp = geo.square(area)
    api.create_op("blue", [geo.volume(fp, 1000, 2000)])
    api.problem(api.post_op("red", [geo.volume(fp, 2300, 3000)]), 409, "conflict")  # above
    api.problem(api.post_op("red", [geo.volume(fp, 300, 700)]), 409, "conflict")  # below
    api.create_op("red", [geo.volume(fp, 2400, 3000)])  # 400 m above: clear


def test_time_windows_touching_do_not_conflict(api, geo, area):
    t0 = geo.now() + 3 * HOUR
    fp = geo.square(area)
    api.create_op("blue", [geo.volume(fp, 1000, 2000, t0, t0 + HOUR)])
    api.create_op("red", [geo.volume(fp, 1000, 2000, t0 + HOUR, t0 + 2 * HOUR)])
    api.create_op("red", [geo.volume(fp, 1000, 2000, t0 - HOUR, t0)])
    # One second of overlap is a conflict.
    api.problem(api.post_op(
        "red", [geo.volume(fp, 1000, 2000, t0 + HOUR - timedelta(seconds=1), t0 + 2 * HOUR)]),
        409, "conflict")


def test_overlapping_footprints_conflict(api, geo, area):
    api.create_op("blue", [geo.volume(geo.square(area, 5000))])
    api.problem(api.post_op("red", [geo.volume(geo.circle(area, 500))]), 409, "conflict")
    # A footprint that contains the other one entirely.
    api.problem(api.post_op("red", [geo.volume(geo.square(area, 20_000))]), 409, "conflict")
