"""Simulated aircraft: circuits are smooth closed paths, flown at the stated speed, and what an
aircraft reports (position, ground speed, true track) is what it then does.

Positions are checked against pyproj's WGS84 geodesics, independent of the circuits' planes.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from deconfliction.engine.conformance import outside_volumes
from deconfliction.engine.geodesy import LocalPlane
from deconfliction.feeds import simulation
from deconfliction.feeds.simulation import (
    Circuit,
    Leg,
    SimulatedAircraft,
    Turn,
    patrol_circuit,
    turn_radius,
)
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume

GEOD = Geod(ellps="WGS84")
KUWEIRES = (37.583, 36.187)
BOX = PolygonFootprint((((38.40, 35.70), (38.90, 35.70), (38.90, 36.00), (38.40, 36.00),
                         (38.40, 35.70)),))
# An L-shaped polygon: its bounding rectangle sticks out of it.
ELL = PolygonFootprint((((36.0, 35.0), (36.6, 35.0), (36.6, 35.1), (36.1, 35.1), (36.1, 35.5),
                         (36.0, 35.5), (36.0, 35.0)),))


def positions(aircraft: SimulatedAircraft, times: np.ndarray) -> tuple[np.ndarray, ...]:
    reports = [aircraft.report(float(t)) for t in times]
    return (np.array([r.lon for r in reports]), np.array([r.lat for r in reports]),
            np.array([r.track_deg for r in reports]))


def test_turn_radius_follows_speed_and_bank() -> None:
    # r = v² / (g tan φ): a 100 m/s turn at 45° bank has a radius of 1019.7 m
    assert turn_radius(100.0, 45.0) == pytest.approx(100.0**2 / 9.80665, rel=1e-12)
    assert turn_radius(200.0) == pytest.approx(4 * turn_radius(100.0))


def test_an_orbit_is_a_circle_round_its_centre() -> None:
    orbit = Circuit.orbit(KUWEIRES, 5_000.0)
    assert orbit.length == pytest.approx(2 * math.pi * 5_000.0, rel=1e-9)
    drone = SimulatedAircraft("orlan-7", "ORLAN 7", orbit, 60.0, 4_500.0)
    lon, lat, _ = positions(drone, np.arange(0.0, drone.lap_s, 7.0))
    _, _, d = GEOD.inv(np.full(lon.size, KUWEIRES[0]), np.full(lon.size, KUWEIRES[1]), lon, lat)
    assert np.allclose(d, 5_000.0, atol=5.0)  # the plane is exact at its centre's distance


def test_a_rounded_rectangle_of_half_its_width_is_a_racetrack() -> None:
    plane = LocalPlane(38.05, 36.545)
    corners = ((-24_000.0, -8_000.0), (24_000.0, -8_000.0), (24_000.0, 8_000.0),
               (-24_000.0, 8_000.0))
    track = Circuit.rounded(plane, corners, 8_000.0)
    turns = [s for s in track.segments if isinstance(s, Turn)]
    legs = [s for s in track.segments if isinstance(s, Leg)]
    assert len(turns) == 4 and len(legs) == 2  # the short sides are all turn
    assert sum(t.sweep for t in turns) == pytest.approx(2 * math.pi)  # anticlockwise, one lap
    assert track.length == pytest.approx(2 * 32_000.0 + 2 * math.pi * 8_000.0)


def test_a_leg_too_short_for_its_turns_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        Circuit.through(((37.0, 36.0), (37.1, 36.0), (37.1, 36.05), (37.0, 36.05)), 8_000.0)
    with pytest.raises(ValueError, match="coincide"):
        Circuit.through(((37.0, 36.0), (37.0, 36.0), (37.1, 36.05)), 1_000.0)


@pytest.mark.parametrize("corners", [
    ((37.78, 36.47), (38.32, 36.47), (38.32, 36.62), (37.78, 36.62)),  # anticlockwise
    ((36.50, 35.84), (36.50, 36.01), (36.78, 36.01), (37.03, 36.17), (37.11, 36.06),
     (36.82, 35.95)),  # clockwise, with a dash and a sharp turn back
])
def test_flying_a_circuit_is_smooth_and_as_reported(corners) -> None:
    """One report a second round a whole lap and across its wrap: each step is the reported
    ground speed along the reported track (no jumps, no heading flips), and the turns are no
    tighter than the circuit's radius allows."""
    radius = 6_000.0
    jet = SimulatedAircraft.timed("sokol-1", "SOKOL 1", Circuit.through(corners, radius),
                                  600.0, 8_000.0, start_s=17.0)
    assert jet.lap_s == pytest.approx(600.0)
    times = np.arange(0.0, 601.0)
    lon, lat, track = positions(jet, times)
    az, _, step = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    assert np.allclose(step, jet.ground_speed_mps, rtol=2e-3)  # chord of a turn a bit short
    # the reported track is the direction of travel: each step heads between the track
    # reported at its start and the next one
    turning = np.abs((track[1:] - track[:-1] + 180) % 360 - 180)
    assert np.all(np.abs((az - track[:-1] + 180) % 360 - 180) <= turning + 0.05)
    assert turning.max() > 1.0  # (it does turn)
    # the most a heading can change in one second on a turn of this radius (plus plane slack)
    assert turning.max() <= math.degrees(jet.ground_speed_mps / radius) * 1.01
    # a lap later, the same state
    again = jet.report(600.0 + 123.0)
    first = jet.report(123.0)
    assert (again.lon, again.lat, again.track_deg) == pytest.approx(
        (first.lon, first.lat, first.track_deg), abs=1e-7)


@pytest.mark.parametrize("footprint", [BOX, ELL, CircleFootprint(KUWEIRES, 12_000.0)])
@pytest.mark.parametrize("speed", [55.0, 230.0])
def test_a_patrol_stays_inside_its_footprint(footprint, speed) -> None:
    circuit = patrol_circuit(footprint, turn_radius(speed))
    aircraft = SimulatedAircraft("a", "A", circuit, speed, 9_000.0)
    times = np.arange(0.0, aircraft.lap_s, 2.0)
    lon, lat, _ = positions(aircraft, times)
    volume = Volume(footprint, 8_000.0, 10_000.0, 0.0, 1e6)
    assert not outside_volumes(lat, lon, np.full(lon.size, 9_000.0), times, [volume]).any()
    # and it is a pattern, not a point
    hull = shapely.MultiPoint(np.column_stack([lon, lat])).convex_hull
    assert hull.area > 0.0


def test_reports_carry_the_aircraft_and_the_time_asked_for() -> None:
    drone = SimulatedAircraft("orlan-7", "ORLAN 7", Circuit.orbit(KUWEIRES, 3_000.0), 55.0,
                              4_572.0, offset_m=1_000.0)
    r = drone.report(10.0, at=1_700_000_010.0)
    assert (r.aircraft_id, r.time, r.altitude_m, r.ground_speed_mps, r.vertical_rate_mps) == (
        "orlan-7", 1_700_000_010.0, 4_572.0, 55.0, 0.0)
    assert 0.0 <= r.track_deg < 360.0


def test_doctests() -> None:
    result = doctest.testmod(simulation)
    assert result.attempted > 0 and result.failed == 0
