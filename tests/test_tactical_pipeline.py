"""The tactical detector and the replay CLI on real traffic: the OpenSky sample (no server).

* ``detect_conflicts`` is compared, pair for pair and field for field, with a plain O(N²)
  reference written here from the semantics in ``engine/tactical.py``'s module docstring, on a
  few dozen snapshots of the sample, with the en-route and terminal profiles.
* ``deconfliction replay <capture.sbs> --duration 300`` runs on an SBS capture generated from the
  sample with ``format_msg1/3/4``; a missing capture file is a clean error.

The sample (a 28 MB wheel) is fetched once into the cache; without network the tests are skipped
with the reason.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deconfliction.engine.tactical import SEPARATION_TOLERANCE_M, detect_conflicts
from deconfliction.feeds.opensky_sample import (
    SampleUnavailable,
    fetch_sample,
    load_sample,
    snapshots,
)
from deconfliction.feeds.sbs import StateVector, format_msg1, format_msg3, format_msg4
from deconfliction.model.profiles import BUILTIN_PROFILES
from deconfliction.model.track import TrackArrays

SNAPSHOT_EVERY_S = 300.0  # 36 snapshots over the sample's three hours
PROFILES = ("en-route", "terminal")

# WGS-84 (NIMA TR8350.2)
_A = 6378137.0
_E2 = 6.69437999014e-3


@pytest.fixture(scope="module")
def sample():
    try:
        return load_sample(fetch_sample())
    except SampleUnavailable as exc:
        pytest.skip(f"OpenSky sample unavailable (download failed?): {exc}")


# ---------------------------------------------------------------------------------------------
# The O(N²) reference, from the module docstring of engine/tactical.py
# ---------------------------------------------------------------------------------------------


def _rotate(v: np.ndarray, u: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rodrigues: rotate rows ``v`` by the rotation taking unit vector ``u`` onto ``m`` (rows)."""
    axis = np.cross(u, m)
    s = np.linalg.norm(axis, axis=1)  # sin of the angle
    c = np.einsum("ij,ij->i", u, m)  # cos of the angle
    out = v.copy()
    turn = s > 1e-15
    k = axis[turn] / s[turn, None]
    vv = v[turn]
    out[turn] = (vv * c[turn, None] + np.cross(k, vv) * s[turn, None]
                 + k * np.einsum("ij,ij->i", k, vv)[:, None] * (1.0 - c[turn, None]))
    return out


def reference_encounters(lat, lon, alt, gs, trk, vs, party, *, horizontal_m, vertical_m,
                         look_ahead_s, same_party=False) -> dict[tuple[int, int], tuple]:
    """Every pair (i < j) that loses separation within [0, look_ahead]: {(i, j): (t_in, t_out,
    tcpa, dcpa, vcpa, lost_now)}. Straight-line extrapolation; chord between sea-level ECEF
    positions; velocities rotated into the tangent plane at the bisector of the two normals."""
    n = len(lat)
    phi, lam = np.radians(lat), np.radians(lon)
    nr = _A / np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    pos = np.stack([nr * np.cos(phi) * np.cos(lam), nr * np.cos(phi) * np.sin(lam),
                    nr * (1.0 - _E2) * np.sin(phi)], axis=1)
    up = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    east = np.stack([-np.sin(lam), np.cos(lam), np.zeros(n)], axis=1)
    north = np.stack([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)],
                     axis=1)
    t = np.radians(trk)
    vel = (gs * np.sin(t))[:, None] * east + (gs * np.cos(t))[:, None] * north

    ii, jj = np.triu_indices(n, k=1)
    if not same_party:
        keep = party[ii] != party[jj]
        ii, jj = ii[keep], jj[keep]
    if len(ii) == 0:
        return {}
    m = up[ii] + up[jj]
    m /= np.linalg.norm(m, axis=1)[:, None]
    w = _rotate(vel[jj], up[jj], m) - _rotate(vel[ii], up[ii], m)
    c = pos[jj] - pos[ii]
    h = horizontal_m - SEPARATION_TOLERANCE_M
    v = vertical_m - SEPARATION_TOLERANCE_M

    out = {}
    for k in range(len(ii)):
        cw, ww = c[k], w[k]
        qa, qb, qc = ww @ ww, cw @ ww, cw @ cw - h * h
        if qa == 0.0:
            if qc >= 0.0:
                continue
            h_lo, h_hi = -math.inf, math.inf
        else:
            disc = qb * qb - qa * qc
            if disc <= 0.0:
                continue
            r = math.sqrt(disc)
            h_lo, h_hi = (-qb - r) / qa, (-qb + r) / qa
        dz = alt[jj[k]] - alt[ii[k]]
        dvz = vs[jj[k]] - vs[ii[k]]
        if dvz == 0.0:
            if abs(dz) >= v:
                continue
            v_lo, v_hi = -math.inf, math.inf
        else:
            a, b = (-v - dz) / dvz, (v - dz) / dvz
            v_lo, v_hi = min(a, b), max(a, b)
        lo, hi = max(h_lo, v_lo), min(h_hi, v_hi)
        if not (lo < hi and lo < look_ahead_s and hi > 0.0):
            continue
        tcpa = min(max(-qb / qa, 0.0), look_ahead_s) if qa > 0.0 else 0.0
        dcpa = float(np.linalg.norm(cw + ww * tcpa))
        vcpa = abs(dz + dvz * tcpa)
        out[(int(ii[k]), int(jj[k]))] = (max(lo, 0.0), min(hi, look_ahead_s), tcpa, dcpa, vcpa,
                                         lo < 0.0)
    return out


def _columns(states):
    return (np.asarray(states.lat), np.asarray(states.lon), np.asarray(states.altitude_m),
            np.asarray(states.ground_speed_mps), np.asarray(states.track_deg),
            np.asarray(states.vertical_rate_mps))


def test_reference_agrees_with_the_docstring_example():
    """The reference itself on the documented example: head-on at FL350, 20 NM apart, 450 kt
    each, 5 NM / 1000 ft -> one pair, separation lost after 60 s."""
    kt, ft, nm = 1852.0 / 3600.0, 0.3048, 1852.0
    ref = reference_encounters(
        np.array([0.0, 0.0]), np.array([0.0, 20 * nm / 111319.49]), np.full(2, 35000 * ft),
        np.full(2, 450 * kt), np.array([90.0, 270.0]), np.zeros(2), np.array([1, 2]),
        horizontal_m=5 * nm, vertical_m=1000 * ft, look_ahead_s=120.0)
    assert list(ref) == [(0, 1)]
    assert ref[(0, 1)][0] == pytest.approx(60.0, abs=0.1)


@pytest.mark.parametrize("party_mode", ["each-own", "three-parties"])
@pytest.mark.parametrize("profile_name", PROFILES)
def test_detector_equals_reference_on_real_snapshots(sample, profile_name, party_mode):
    profile = BUILTIN_PROFILES[profile_name]
    taken = list(snapshots(sample, SNAPSHOT_EVERY_S))
    assert len(taken) >= 24, f"expected a few dozen snapshots, got {len(taken)}"
    total_pairs = 0
    total_lost = 0
    for snap in taken:
        st = snap.states
        cols = _columns(st)
        n = len(st)
        if party_mode == "each-own":
            party = np.arange(n, dtype=np.int64)
        else:  # stable, arbitrary: by the icao24's last hex digit
            party = np.array([int(a[-1], 16) % 3 for a in st.icao24], dtype=np.int64)
        kwargs = dict(horizontal_m=profile.horizontal_m, vertical_m=profile.vertical_m,
                      look_ahead_s=profile.look_ahead_s)
        enc = detect_conflicts(TrackArrays([str(a) for a in st.icao24], *cols, party,
                                           time_s=snap.time_s), **kwargs)
        got = {(int(enc.i[k]), int(enc.j[k])): k for k in range(len(enc))}
        assert len(got) == len(enc), f"t={snap.time_s}: a pair was reported twice"
        assert all(i < j for i, j in got), f"t={snap.time_s}: pairs must have i < j"
        assert list(got) == sorted(got), f"t={snap.time_s}: pairs must be sorted by (i, j)"

        ref = reference_encounters(*cols, party, **kwargs)
        # Float borderline: pairs that flip with a micrometre change of the minima.
        sure = reference_encounters(*cols, party, horizontal_m=profile.horizontal_m - 1e-6,
                                    vertical_m=profile.vertical_m - 1e-6,
                                    look_ahead_s=profile.look_ahead_s - 1e-9)
        maybe = reference_encounters(*cols, party, horizontal_m=profile.horizontal_m + 1e-6,
                                     vertical_m=profile.vertical_m + 1e-6,
                                     look_ahead_s=profile.look_ahead_s + 1e-9)
        missing = set(sure) - set(got)
        extra = set(got) - set(maybe)
        where = f"snapshot t={snap.time_s:.0f} ({n} aircraft, {profile_name}, {party_mode})"
        assert not missing, (
            f"{where}: detector misses pairs the reference finds: "
            + ", ".join(f"{st.icao24[i]}/{st.icao24[j]} {ref.get((i, j))}" for i, j in missing))
        assert not extra, (
            f"{where}: detector reports pairs the reference does not: "
            + ", ".join(f"{st.icao24[i]}/{st.icao24[j]}" for i, j in extra))
        for pair, k in got.items():
            if pair not in ref:
                continue  # borderline, allowed above
            t_in, t_out, tcpa, dcpa, vcpa, lost = ref[pair]
            fields = {
                "t_in": (float(enc.t_in[k]), t_in), "t_out": (float(enc.t_out[k]), t_out),
                "tcpa": (float(enc.tcpa[k]), tcpa), "dcpa_m": (float(enc.dcpa_m[k]), dcpa),
                "vertical_at_cpa_m": (float(enc.vertical_at_cpa_m[k]), vcpa),
            }
            for name, (mine, theirs) in fields.items():
                assert mine == pytest.approx(theirs, rel=1e-6, abs=1e-3), (
                    f"{where}: pair {st.icao24[pair[0]]}/{st.icao24[pair[1]]} {name}: "
                    f"detector {mine}, reference {theirs}")
            assert bool(enc.lost_now[k]) == lost, (
                f"{where}: pair {pair} lost_now detector {bool(enc.lost_now[k])}, reference {lost}")
        total_pairs += len(got)
        total_lost += int(np.sum(enc.lost_now))
    # The comparison must not be vacuous: the real traffic does hold conflicts.
    assert total_pairs > 0, f"no conflicting pair in any snapshot ({profile_name}, {party_mode})"


# ---------------------------------------------------------------------------------------------
# replay CLI on a generated SBS capture
# ---------------------------------------------------------------------------------------------


def _capture_lines(sample, start_s: float, length_s: float) -> list[str]:
    """SBS lines (MSG 1, 4, 3 per state, so the position completes each state) for the
    sample's airborne rows in [start, start + length]."""
    rows = np.nonzero((sample.time_s >= start_s) & (sample.time_s <= start_s + length_s))[0]
    lines = []
    for k in rows:
        s = StateVector(
            icao24=str(sample.icao24[k]), callsign=str(sample.callsign[k]) or None,
            time=float(sample.time_s[k]), lat=float(sample.lat[k]), lon=float(sample.lon[k]),
            altitude_m=float(sample.altitude_m[k]),
            ground_speed_mps=float(sample.ground_speed_mps[k]),
            track_deg=float(sample.track_deg[k]) % 360.0,
            vertical_rate_mps=float(sample.vertical_rate_mps[k]),
            on_ground=bool(sample.on_ground[k]))
        if s.callsign:
            lines.append(format_msg1(s))
        lines.append(format_msg4(s))
        lines.append(format_msg3(s))
    return lines


def _run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deconfliction", *args], capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_replay_cli_on_sbs_capture(sample, tmp_path: Path):
    # A busy half hour into the sample; 330 s of traffic, of which --duration 300 is replayed.
    start = float(sample.time_s[0]) + 5400.0
    capture = tmp_path / "capture.sbs"
    lines = _capture_lines(sample, start, 330.0)
    assert len(lines) > 1000
    capture.write_text("\r\n".join(lines) + "\r\n")
    proc = _run_cli("replay", str(capture), "--duration", "300", "--db", str(tmp_path / "r.db"))
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout
    fed = re.search(r"states fed:\s*([\d,]+)\s+detection cycles:\s*([\d,]+)", out)
    assert fed, f"no summary line in stdout:\n{out}"
    states, cycles = (int(x.replace(",", "")) for x in fed.groups())
    assert states > 0, out
    # One cycle per second of recording (default detection_interval_s = 1).
    assert 295 <= cycles <= 305, out
    raised = re.search(r"alerts raised:\s*(.*)", out)
    assert raised, out
    if raised.group(1).strip() != "none":
        # The table: a header and one row per alert, kinds among the documented ones.
        assert re.search(r"kind\s+aircraft\s+raised \(UTC\)\s+lasted\s+min miss", out), out
        kinds = re.findall(r"^(conflict|loss_of_separation|constraint_incursion|nonconformance)"
                           r"\s", out, flags=re.M)
        assert kinds, out


def test_replay_cli_missing_file_is_a_clean_error(tmp_path: Path):
    missing = tmp_path / "no-such-capture.sbs"
    proc = _run_cli("replay", str(missing), "--duration", "300", timeout=60.0)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    assert str(missing) in proc.stderr or missing.name in proc.stderr, proc.stderr
    assert "error" in proc.stderr.lower(), proc.stderr
