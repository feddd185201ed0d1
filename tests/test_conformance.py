"""Conformance: 4D containment in an operation's volumes and the ASTM F3548-21 timers."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconfliction.engine.conformance import (
    CONTINGENT_AFTER_S,
    NONCONFORMING_AFTER_S,
    ConformanceChange,
    ConformanceMonitor,
    detect_excursions,
    outside_volumes,
)
from deconfliction.model.operation import OperationState
from deconfliction.model.track import TrackArrays
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume

GEOD = Geod(ellps="WGS84")


def change(op: str, state: str, since: float) -> ConformanceChange:
    """A change, with "conforming" standing for ACTIVATED (the state an operation returns to)."""
    return ConformanceChange(op, OperationState("activated" if state == "conforming" else state),
                             since)


def run(monitor: ConformanceMonitor, op: str, outside_at: dict[float, bool]) -> list:
    """Step at each time with the given outside flag; (time, changes) where anything changed."""
    out = []
    for now, flag in outside_at.items():
        changes = monitor.step(now, {op: flag})
        if changes:
            out.append((now, changes))
    return out


# ---------------------------------------------------------------------------------------------
# outside_volumes
# ---------------------------------------------------------------------------------------------

CIRCLE = Volume(CircleFootprint((36.0, 35.0), 2_000.0), 0.0, 500.0, 100.0, 200.0)
SQUARE = Volume(
    PolygonFootprint((((36.1, 35.0), (36.2, 35.0), (36.2, 35.1), (36.1, 35.1), (36.1, 35.0)),)),
    300.0,
    900.0,
    150.0,
    400.0,
)


def test_circle_in_four_dimensions() -> None:
    edge_in = GEOD.fwd(36.0, 35.0, 45.0, 1_999.0)
    edge_out = GEOD.fwd(36.0, 35.0, 45.0, 2_001.0)
    lat = [35.0, edge_in[1], edge_out[1], 35.0, 35.0, 35.0, 35.0, 35.0]
    lon = [36.0, edge_in[0], edge_out[0], 36.0, 36.0, 36.0, 36.0, 36.0]
    alt = [100.0, 100.0, 100.0, 501.0, 500.0, 100.0, 100.0, 100.0]
    t = [150.0, 150.0, 150.0, 150.0, 150.0, 99.0, 100.0, 200.0]
    assert outside_volumes(lat, lon, alt, t, [CIRCLE]).tolist() == [
        False,
        False,
        True,  # 1 m outside the radius
        True,  # above the band
        False,  # on the band's top
        True,  # before the window
        False,  # at its start
        True,  # at its end (windows are [start, end))
    ]


def test_inside_any_one_volume_is_conforming() -> None:
    lat = np.array([35.0, 35.05, 35.05, 35.3])
    lon = np.array([36.0, 36.15, 36.15, 36.0])
    alt = np.array([400.0, 400.0, 1000.0, 400.0])
    both = [CIRCLE, SQUARE]
    # at 160 s both volumes are open: the circle holds point 0, the square point 1
    assert outside_volumes(lat, lon, alt, 160.0, both).tolist() == [False, False, True, True]
    # at 300 s only the square is open
    assert outside_volumes(lat, lon, alt, 300.0, both).tolist() == [True, False, True, True]
    assert outside_volumes(lat, lon, alt, 160.0, []).tolist() == [True] * 4


def test_polygon_across_the_antimeridian_and_per_point_times() -> None:
    ring = ((179.9, 0.0), (-179.9, 0.0), (-179.9, 0.1), (179.9, 0.1), (179.9, 0.0))
    zone = Volume(PolygonFootprint((ring,)), 0.0, 1000.0, 0.0, 10.0)
    lat = [0.05, 0.05, 0.05, 0.05]
    lon = [180.0, -179.95, 179.8, 180.0]
    t = [5.0, 5.0, 5.0, 10.0]
    assert outside_volumes(lat, lon, [10.0] * 4, t, [zone]).tolist() == [False, False, True, True]


# ---------------------------------------------------------------------------------------------
# ConformanceMonitor
# ---------------------------------------------------------------------------------------------


def test_thresholds_come_from_astm_f3548() -> None:
    assert (NONCONFORMING_AFTER_S, CONTINGENT_AFTER_S) == (10.0, 60.0)


def test_nonconforming_only_after_more_than_10_s() -> None:
    monitor = ConformanceMonitor()
    times = {t / 2: True for t in range(0, 2 * 15)}  # every 0.5 s from 0 to 14.5
    events = run(monitor, "op-1", times)
    # 10.0 s outside is not *longer* than 10 s; 10.5 s is
    assert events == [(10.5, [change("op-1", "nonconforming", 10.0)])]
    assert monitor.state("op-1") is OperationState.NONCONFORMING


def test_contingent_only_after_more_than_60_s_nonconforming() -> None:
    monitor = ConformanceMonitor()
    times = {float(t): True for t in range(0, 75)}
    events = run(monitor, "op-1", times)
    assert events == [
        (11.0, [change("op-1", "nonconforming", 10.0)]),
        (71.0, [change("op-1", "contingent", 70.0)]),
    ]
    assert monitor.state("op-1") == "contingent"


def test_both_timers_can_expire_in_one_step() -> None:
    monitor = ConformanceMonitor()
    assert monitor.step(0.0, {"op-1": True}) == []
    assert monitor.step(100.0, {"op-1": True}) == [
        change("op-1", "nonconforming", 10.0),
        change("op-1", "contingent", 70.0),
    ]


@pytest.mark.parametrize("back_at", [5.0, 9.0, 10.0])
def test_short_excursions_stay_conforming_and_reset(back_at: float) -> None:
    monitor = ConformanceMonitor()
    times = {float(t): t < back_at for t in range(0, 12)}
    # out again from 12 s: the timer starts afresh
    times |= {float(t): True for t in range(12, 23)}
    events = run(monitor, "op-1", times)
    assert events == []
    assert monitor.state("op-1") is OperationState.ACTIVATED
    assert monitor.step(23.0, {"op-1": True}) == [change("op-1", "nonconforming", 22.0)]


def test_return_to_conformance_resets_from_nonconforming_and_contingent() -> None:
    monitor = ConformanceMonitor()
    times = {float(t): True for t in range(0, 20)}
    times[20.0] = False
    times |= {float(t): True for t in range(21, 100)}
    times[100.0] = False
    events = run(monitor, "op-1", times)
    assert events == [
        (11.0, [change("op-1", "nonconforming", 10.0)]),
        (20.0, [change("op-1", "conforming", 20.0)]),
        (32.0, [change("op-1", "nonconforming", 31.0)]),  # a fresh 10 s from 21 s
        (92.0, [change("op-1", "contingent", 91.0)]),
        (100.0, [change("op-1", "conforming", 100.0)]),
    ]
    assert monitor.tracked == 0


def test_thresholds_are_configurable() -> None:
    monitor = ConformanceMonitor(nonconforming_after_s=3.0, contingent_after_s=5.0)
    events = run(monitor, "op-1", {float(t): True for t in range(0, 10)})
    assert events == [
        (4.0, [change("op-1", "nonconforming", 3.0)]),
        (9.0, [change("op-1", "contingent", 8.0)]),
    ]
    with pytest.raises(ValueError):
        ConformanceMonitor(nonconforming_after_s=-1.0)


def test_operations_are_independent_and_forgotten_when_they_disappear() -> None:
    monitor = ConformanceMonitor()
    for t in range(0, 12):
        changes = monitor.step(float(t), {"op-1": True, "op-2": t >= 5, "op-3": False})
    assert changes == [change("op-1", "nonconforming", 10.0)]
    assert monitor.tracked == 2  # op-3 is conforming and holds nothing
    # op-1 disappears (ended): forgotten, no change reported
    assert monitor.step(12.0, {"op-2": True}) == []
    assert monitor.tracked == 1 and monitor.state("op-1") is OperationState.ACTIVATED
    # op-1 comes back outside: its timer starts again
    assert monitor.step(13.0, {"op-1": True, "op-2": True}) == []
    assert monitor.step(16.0, {"op-1": True, "op-2": True}) == [
        change("op-2", "nonconforming", 15.0)
    ]


def test_time_must_not_go_backwards() -> None:
    monitor = ConformanceMonitor()
    monitor.step(5.0, {})
    with pytest.raises(ValueError):
        monitor.step(4.0, {})


# ---------------------------------------------------------------------------------------------
# detect_excursions: the detector on a TrackArrays record
# ---------------------------------------------------------------------------------------------


def test_excursions_per_track_of_each_operation() -> None:
    near = Volume(CircleFootprint((36.0, 35.0), 2_000.0), 0.0, 500.0, 0.0, 3600.0)
    far = Volume(CircleFootprint((37.0, 35.0), 2_000.0), 0.0, 500.0, 0.0, 3600.0)
    # a: inside op 0; b: outside op 0; c: inside op 1's volume only at 36.0 (it flies op 1: out);
    # d: flies nothing; e: inside op 1 but above its band
    tracks = TrackArrays(
        ["a", "b", "c", "d", "e"], [35.0, 35.1, 35.0, 35.1, 35.0], [36.0, 36.0, 36.0, 36.0, 37.0],
        [100.0, 100.0, 100.0, 100.0, 900.0], [0.0] * 5, [0.0] * 5, [0.0] * 5, [0, 0, 1, 2, 1],
        time_s=60.0)
    assert detect_excursions(tracks, [0, 0, 1, -1, 1], [[near], [far]]).tolist() == [
        False, True, True, False, True]
    # the window counts: the same positions after the volumes' end are all outside
    late = TrackArrays(tracks.ids, tracks.lat_deg, tracks.lon_deg, tracks.alt_m, tracks.gs_mps,
                       tracks.track_deg, tracks.vs_mps, tracks.party, time_s=3600.0)
    assert detect_excursions(late, [0, 0, 1, -1, 1], [[near], [far]]).tolist() == [
        True, True, True, False, True]


@pytest.mark.parametrize("operation", [[0, 0], [0, 1, 0], [0, -2], [0.0, 1.0]])
def test_excursions_reject_bad_operation_indices(operation: list[float]) -> None:
    tracks = TrackArrays(["a", "b"], [35.0, 35.0], [36.0, 36.0], [0.0, 0.0], [0.0, 0.0],
                         [0.0, 0.0], [0.0, 0.0], [0, 1], time_s=0.0)
    volume = Volume(CircleFootprint((36.0, 35.0), 2_000.0), 0.0, 500.0, 0.0, 3600.0)
    if operation == [0, 0]:
        assert detect_excursions(tracks, operation, [[volume]]).tolist() == [False, False]
        return
    with pytest.raises(ValueError):
        detect_excursions(tracks, operation, [[volume]])
