"""The OpenSky sample: real ADS-B state vectors read from the ``traffic`` wheel.

The tests that need the data download the wheel once (28 MB) into the default cache
(``$DECONFLICTION_CACHE`` or ``~/.cache/deconfliction``) and skip, saying why, when that fails.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from deconfliction.feeds import FPM_TO_MPS, FT_TO_M, KT_TO_MPS
from deconfliction.feeds.opensky_sample import (
    WHEEL_NAME,
    SampleTraffic,
    SampleUnavailable,
    StateArrays,
    default_cache_dir,
    fetch_sample,
    load_sample,
    snapshots,
)

# Measured on traffic 2.13's quickstart.json.gz.
RECORDS = 284_505
RECORD_AIRCRAFT = 213
COMPLETE_ROWS = 229_533  # records with position (lat, lon, altitude) and velocity all present
COMPLETE_AIRCRAFT = 210
FIRST = dt.datetime(2021, 10, 7, 12, 0, 1, tzinfo=dt.UTC).timestamp()
LAST = dt.datetime(2021, 10, 7, 14, 59, 59, tzinfo=dt.UTC).timestamp()


@pytest.fixture(scope="session")
def sample() -> SampleTraffic:
    try:
        wheel = fetch_sample(default_cache_dir())
    except (SampleUnavailable, OSError) as exc:
        pytest.skip(f"OpenSky sample (traffic wheel from PyPI) unavailable: {exc}")
    return load_sample(wheel)


# ------------------------------------------------------------------------- the real sample


def test_counts(sample: SampleTraffic) -> None:
    assert sample.records == RECORDS
    assert sample.record_aircraft == RECORD_AIRCRAFT
    assert sample.skipped == RECORDS - COMPLETE_ROWS
    assert len(sample) == COMPLETE_ROWS
    assert len(np.unique(sample.icao24)) == COMPLETE_AIRCRAFT


def test_three_hours_sorted_by_time(sample: SampleTraffic) -> None:
    assert sample.time_s[0] == FIRST and sample.time_s[-1] == LAST
    assert LAST - FIRST == pytest.approx(3 * 3600, abs=2)
    assert np.all(np.diff(sample.time_s) >= 0)
    assert not sample.time_s.flags.writeable  # immutable value


def test_values_are_si_and_plausible(sample: SampleTraffic) -> None:
    # Around Paris.
    assert 47.5 < sample.lat.min() and sample.lat.max() < 50.5
    assert 0.5 < sample.lon.min() and sample.lon.max() < 4.5
    # Metres: airliners cruise near 11-12 km, most of this traffic climbs or descends around
    # Paris (median 2.7 km). A pressure altitude below sea level is real (high QNH on the
    # ground); two aircraft report a bogus constant 72,500/60,900 ft (22.1/18.6 km).
    assert -200.0 < sample.altitude_m.min()
    assert 1_000.0 < np.median(sample.altitude_m) < 5_000.0
    assert 8_000.0 < np.percentile(sample.altitude_m, 99.0) < 13_000.0
    assert np.count_nonzero(sample.altitude_m > 15_000.0) < 0.005 * len(sample)
    # m/s: no airliner exceeds ~300 m/s ground speed; vertical rates within ±50 m/s.
    assert 0.0 <= sample.ground_speed_mps.min() and sample.ground_speed_mps.max() < 300.0
    assert 100.0 < np.median(sample.ground_speed_mps[~sample.on_ground]) < 250.0
    assert np.abs(sample.vertical_rate_mps).max() < 50.0
    assert 0.0 <= sample.track_deg.min() and sample.track_deg.max() < 360.0
    assert all(len(code) == 6 for code in np.unique(sample.icao24))


def test_unit_conversion_of_a_known_record(sample: SampleTraffic) -> None:
    """The file's first record: MSR799 at 13650 ft, 325 kt, -896 ft/min."""
    row = np.flatnonzero((sample.icao24 == "0101de") & (sample.time_s == 1633608773.0))
    assert len(row) == 1
    i = row[0]
    assert sample.callsign[i] == "MSR799"
    assert sample.altitude_m[i] == pytest.approx(13650 * FT_TO_M)
    assert sample.ground_speed_mps[i] == pytest.approx(325 * KT_TO_MPS)
    assert sample.vertical_rate_mps[i] == pytest.approx(-896 * FPM_TO_MPS)
    assert sample.track_deg[i] == pytest.approx(311.1362180242)


def test_snapshots_of_the_sample(sample: SampleTraffic) -> None:
    snaps = list(snapshots(sample, 10.0, max_age_s=10.0))
    assert len(snaps) == 1080  # 10,798 s every 10 s, both ends included
    times = np.array([s.time_s for s in snaps])
    assert np.all(np.diff(times) == 10.0)
    busiest = 0
    for t, states in snaps:
        assert np.all(states.icao24[:-1] < states.icao24[1:])  # unique and sorted
        assert np.all(states.time_s <= t) and np.all(states.time_s >= t - 10.0)
        busiest = max(busiest, len(states))
    assert 20 < busiest < COMPLETE_AIRCRAFT

    # Against brute force at one time: each aircraft's last row at or before t.
    t, states = snaps[500]
    rows = np.flatnonzero((sample.time_s <= t) & (sample.time_s >= t - 10.0))
    expected = {sample.icao24[i]: sample.time_s[i] for i in rows}  # later rows overwrite
    assert dict(zip(states.icao24, states.time_s, strict=True)) == expected


# ------------------------------------------------------------------ without the download


def tiny() -> StateArrays:
    rows = [  # time, icao24
        (0.0, "aaaaaa"),
        (0.0, "bbbbbb"),
        (1.0, "aaaaaa"),
        (3.0, "bbbbbb"),
        (7.0, "aaaaaa"),
    ]
    n = len(rows)
    return StateArrays(
        time_s=np.array([r[0] for r in rows]),
        icao24=np.array([r[1] for r in rows]),
        callsign=np.array([""] * n),
        lat=np.arange(n, dtype=float),
        lon=np.zeros(n),
        altitude_m=np.full(n, 1000.0),
        ground_speed_mps=np.full(n, 100.0),
        track_deg=np.zeros(n),
        vertical_rate_mps=np.zeros(n),
        on_ground=np.zeros(n, dtype=bool),
    )


def test_snapshots_latest_state_and_max_age() -> None:
    got = [
        (t, list(s.icao24), list(s.lat))
        for t, s in snapshots(tiny(), 2.0, max_age_s=2.5, end_s=8.0)
    ]
    assert got == [
        (0.0, ["aaaaaa", "bbbbbb"], [0.0, 1.0]),
        (2.0, ["aaaaaa", "bbbbbb"], [2.0, 1.0]),  # a@1 s; b@0 s is exactly 2 s old
        (4.0, ["bbbbbb"], [3.0]),  # a@1 s is 3 s old: dropped
        (6.0, [], []),  # b@3 s is 3 s old too
        (8.0, ["aaaaaa"], [4.0]),
    ]


def test_snapshots_reject_unsorted_input_and_bad_step() -> None:
    arrays = tiny()
    shuffled = arrays.take(np.array([4, 0, 1, 2, 3]))
    with pytest.raises(ValueError, match="sorted"):
        next(snapshots(shuffled, 1.0))
    with pytest.raises(ValueError, match="positive"):
        next(snapshots(arrays, 0.0))


def test_default_cache_dir_honours_the_environment(tmp_path: Path) -> None:
    assert default_cache_dir({"DECONFLICTION_CACHE": str(tmp_path)}) == tmp_path
    assert default_cache_dir({}) == Path.home() / ".cache" / "deconfliction"


def test_fetch_uses_the_cached_wheel_without_pip(tmp_path: Path) -> None:
    cached = tmp_path / WHEEL_NAME
    cached.write_bytes(b"stand-in")
    assert fetch_sample(tmp_path) == cached


def test_load_rejects_a_file_that_is_not_the_wheel(tmp_path: Path) -> None:
    bogus = tmp_path / WHEEL_NAME
    bogus.write_bytes(b"not a zip")
    with pytest.raises(SampleUnavailable):
        load_sample(bogus)
