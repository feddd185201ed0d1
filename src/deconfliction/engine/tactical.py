"""Tactical conflict detection: which pairs of tracks lose separation within the look-ahead.

Semantics
---------
Each aircraft is extrapolated in a straight line from its current state: constant ground speed
and true track, constant vertical rate, for ``t`` in ``[0, look_ahead_s]``. For a pair ``(i, j)``:

* Horizontal geometry is done on the WGS-84 ellipsoid, not a sphere (a sphere is up to 0.5 % off
  at 5 NM, more than the 0.1 % this module promises). The relative position is the straight-line
  (chord) vector between the two sea-level ECEF positions — within a millimetre of the geodesic
  distance at 10 km. The relative velocity is expressed in the tangent plane at the bisector of the
  two geodetic normals: each aircraft's velocity (east/north from ground speed and track, in its
  own tangent plane) is rotated into that common plane, so speeds are preserved exactly. Relative
  motion in that plane is linear, so the horizontal distance ``d(t) = |c + w t|`` has a closed form.
* Vertical separation ``|Δalt + Δvs t|`` is linear in ``t``.
* Separation is *lost* while ``d(t) < H − tol`` **and** ``|Δz(t)| < V − tol`` (strict, with a
  1 cm tolerance :data:`SEPARATION_TOLERANCE_M`, so that aircraft exactly on the minima — e.g.
  FL300 and FL310, 9144.0 m and 9448.8 m — do not flip into conflict with float rounding).
* A pair conflicts when the (open) loss interval meets ``[0, look_ahead_s]``. ``t_in``/``t_out``
  are that interval clipped to ``[0, look_ahead_s]``; ``tcpa`` is the time of closest horizontal
  approach clipped to ``[0, look_ahead_s]`` (0 when the horizontal distance is constant — a
  relative horizontal speed below 1 µm/s counts as none, so that tcpa is never read off rounding
  noise);
  ``dcpa_m`` and ``vertical_at_cpa_m`` are the horizontal distance and the absolute vertical
  separation at ``tcpa``; ``lost_now`` is true when ``t = 0`` lies inside the loss interval.

Algorithm
---------
No N×N matrix is ever built. The look-ahead is cut into ``K`` time slices (each about three
minima long at a high ground speed). In each slice every aircraft's straight 3-D path (a chord
from its ECEF position along its tangent velocity) is boxed — three Cartesian axes plus its
altitude band — and the box grown by half the minima, by a slack far above float rounding, and by
a proven bound on how far rotating the velocities into a pair's common plane can move an aircraft
(``t · gs · β``, β bounding the half-angle between the normals of any pair that can still meet).
Boxes are hashed into a uniform 3-D grid, in a Cartesian frame whose third axis is the traffic's
mean normal (regional traffic is then a thin sheet); within a cell, entries are ordered by the
floor of their altitude band, so a sweep stops at the first entry above a band. A pair of
intersecting boxes is visited only in the cell holding the lower corner of their intersection, and
tested exactly only in the first slice where the boxes intersect: each pair is produced once, with
no de-duplication pass. ECEF coordinates make the antimeridian and the poles ordinary places.
Compiled kernels (numba, ``_tactical_kernels``) release the GIL; slices' grids and chunks of their
cells run on a thread pool. Memory is O(N + grid entries + conflicting pairs).

Examples
--------
Two aircraft head-on at FL350, 20 NM apart, 450 kt each, en-route minima (5 NM / 1000 ft):

>>> import numpy as np
>>> from deconfliction.model.track import TrackArrays
>>> from deconfliction.model.units import KNOT_MPS, ft, nm
>>> lon = [0.0, nm(20) / 111319.49]  # 111319.49 m per degree on the equator
>>> tracks = TrackArrays(("red-1", "blue-1"), [0.0, 0.0], lon, [ft(35000)] * 2,
...                      np.full(2, 450 * KNOT_MPS), [90.0, 270.0], [0.0, 0.0], [1, 2],
...                      time_s=0.0)
>>> enc = detect_conflicts(tracks, horizontal_m=nm(5), vertical_m=ft(1000), look_ahead_s=120.0)
>>> len(enc), int(enc.i[0]), int(enc.j[0]), round(float(enc.t_in[0]), 1)
(1, 0, 1, 60.0)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconfliction.engine import _tactical_kernels as _k
from deconfliction.model.track import TrackArrays
from deconfliction.model.units import Metres, Seconds

__all__ = [
    "DEFAULT_LOOK_AHEAD_S",
    "MAX_LOOK_AHEAD_S",
    "SEPARATION_TOLERANCE_M",
    "Encounters",
    "detect_conflicts",
]

FloatArray = npt.NDArray[np.float64]

# Loss of separation needs distance < minimum - SEPARATION_TOLERANCE_M (m): aircraft exactly on a
# minimum (FL300 vs FL310 computed as ft * 0.3048) must not flip with float rounding.
SEPARATION_TOLERANCE_M: float = 0.01
# Tactical look-ahead: 120 s default (EUROCONTROL STCA), up to 20 min for planning alerts (MTCD).
DEFAULT_LOOK_AHEAD_S: float = 120.0
MAX_LOOK_AHEAD_S: float = 1200.0

# WGS-84 ellipsoid (NIMA TR8350.2): semi-major axis (m) and first eccentricity squared.
_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3
# A radius below the smallest radius of curvature of WGS-84 (a(1 - e^2) = 6335439 m, meridian at
# the equator): bounds the angle between two geodetic normals from their chord, for pruning.
_MIN_CURVATURE_RADIUS_M = 6.3e6

# Tuning of the pruning grid (measured on the bench traffic, see bench/tactical.py): a time slice
# lasts _SLICE_IN_H minima at a high ground speed; a grid cell is _CELL_IN_BOX typical slice
# boxes, _CELL_UP_IN_H times that along the traffic's mean normal.
_SLICE_IN_H = 3.0
_MAX_SLICES = 64
_CELL_IN_BOX = 1.0
_CELL_UP_IN_H = 4.0
# Below this many aircraft, threads cost more than they save.
_MIN_N_FOR_THREADS = 2000


@dataclass(frozen=True, slots=True)
class Encounters:
    """Sparse result of :func:`detect_conflicts`: one row per conflicting pair.

    Rows are sorted by ``(i, j)`` with ``i < j``.

    Attributes
    ----------
    i, j : ndarray of int64
        Rows of the two aircraft in the input :class:`TrackArrays`.
    t_in, t_out : ndarray of float64
        Loss-of-separation interval clipped to ``[0, look_ahead]`` (s).
    tcpa : ndarray of float64
        Time of closest horizontal approach clipped to ``[0, look_ahead]`` (s).
    dcpa_m : ndarray of float64
        Horizontal distance at ``tcpa`` (m).
    vertical_at_cpa_m : ndarray of float64
        Absolute vertical separation at ``tcpa`` (m).
    lost_now : ndarray of bool
        Separation is already lost at ``t = 0``.
    """

    i: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    t_in: FloatArray
    t_out: FloatArray
    tcpa: FloatArray
    dcpa_m: FloatArray
    vertical_at_cpa_m: FloatArray
    lost_now: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.i.shape[0])

    @classmethod
    def empty(cls) -> Encounters:
        """No encounter."""
        f = np.empty(0, dtype=np.float64)
        idx = np.empty(0, dtype=np.int64)
        return cls(
            idx, idx.copy(), f, f.copy(), f.copy(), f.copy(), f.copy(), np.empty(0, dtype=np.bool_)
        )


def detect_conflicts(
    tracks: TrackArrays,
    *,
    horizontal_m: Metres,
    vertical_m: Metres,
    look_ahead_s: Seconds = DEFAULT_LOOK_AHEAD_S,
    same_party: bool = False,
) -> Encounters:
    """Find every pair of aircraft predicted to lose separation within the look-ahead.

    Parameters
    ----------
    tracks : TrackArrays
        The aircraft's states (validated when the record was built); ``party`` codes decide
        which pairs are of one party.
    horizontal_m, vertical_m : float
        Separation minima (m), e.g. 5 NM / 1000 ft en route (ICAO Doc 4444 §8.7.3), 3 NM / 1000 ft
        terminal, 3 NM / 3000 ft rule of threes, 0.66 NM / 450 ft drones (RTCA DO-365B).
    look_ahead_s : float, default 120
        Prediction horizon (s) in (0, 1200]: 120 s is EUROCONTROL STCA practice; up to 20 min for
        planning alerts.
    same_party : bool, default False
        Also report pairs of aircraft of the same party.

    Returns
    -------
    Encounters
        One row per conflicting pair, ``i < j`` (rows of ``tracks``), sorted by ``(i, j)``. See
        the module docstring for the exact semantics of each field.

    Raises
    ------
    ValueError
        Minima not larger than :data:`SEPARATION_TOLERANCE_M`, look-ahead outside (0, 1200] s.
    """
    lat, lon, alt = tracks.lat_deg, tracks.lon_deg, tracks.alt_m
    gs, trk, vs, par = tracks.gs_mps, tracks.track_deg, tracks.vs_mps, tracks.party
    horizontal_m = float(horizontal_m)
    vertical_m = float(vertical_m)
    look_ahead_s = float(look_ahead_s)
    for name, value in (("horizontal_m", horizontal_m), ("vertical_m", vertical_m)):
        if not (np.isfinite(value) and value > SEPARATION_TOLERANCE_M):
            raise ValueError(
                f"{name} must be finite and larger than {SEPARATION_TOLERANCE_M} m, got {value!r}"
            )
    if not (np.isfinite(look_ahead_s) and 0.0 < look_ahead_s <= MAX_LOOK_AHEAD_S):
        raise ValueError(
            f"look_ahead_s must be in (0, {MAX_LOOK_AHEAD_S:g}] s, got {look_ahead_s!r}"
        )
    n = lat.shape[0]
    if n < 2:
        return Encounters.empty()

    state = _ecef_state(lat, lon, alt, gs, trk, vs)

    # Time slices: each about H long at a high (90th percentile) ground speed.
    gs_ref = float(np.percentile(gs, 90.0))
    gs_max = float(gs.max())
    k_slices = int(
        np.clip(np.ceil(look_ahead_s * gs_ref / (_SLICE_IN_H * horizontal_m)), 1, _MAX_SLICES)
    )
    t_edges = np.linspace(0.0, look_ahead_s, k_slices + 1)
    # Half-angle between the normals of a pair that can lose separation by the end of slice k: its
    # chord is at most H + 2 gs_max t, and chord >= 2 rho sin(angle / 2) with rho >= the smallest
    # radius of curvature. Rotating a velocity into the pair's plane moves that aircraft by at most
    # t * gs * beta by time t, which the pruning boxes absorb.
    chord = horizontal_m + 2.0 * gs_max * t_edges[1:]
    beta = np.arcsin(np.minimum(1.0, chord / (2.0 * _MIN_CURVATURE_RADIUS_M))) * 1.001
    half_h = 0.5 * horizontal_m
    half_v = 0.5 * vertical_m

    # Grid cells: about one typical slice box; the third axis (along the traffic's mean normal)
    # coarser, since the traffic is a thin sheet across it.
    dt = look_ahead_s / k_slices
    margin_ref = half_h + _k._BOX_SLACK_M + look_ahead_s * gs_ref * float(beta[-1]) * 0.5
    cell_h = _CELL_IN_BOX * (2.0 * margin_ref + gs_ref * dt)
    cell = np.array([cell_h, cell_h, _CELL_UP_IN_H * cell_h])

    # Spatial order: neighbours in space become neighbours in memory (the kernels' pair loops
    # then stay in cache). Results are mapped back to input indices at the end.
    perm = _spatial_order(state, 4.0 * cell)
    state = np.ascontiguousarray(state[perm])
    par = np.ascontiguousarray(par[perm])

    h_eff = horizontal_m - SEPARATION_TOLERANCE_M
    v_eff = vertical_m - SEPARATION_TOLERANCE_M

    def grid(k: int) -> _k.Grid:
        return _k.slice_grid(k, state, t_edges, beta, half_h, half_v, cell)

    def pairs(task: tuple[int, int, int, bool]) -> tuple[np.ndarray, ...]:
        k, h_first, h_last, with_big = task
        return _k.slice_pairs(
            k,
            h_first,
            h_last,
            with_big,
            *grids[k],
            state,
            par,
            t_edges,
            beta,
            half_h,
            half_v,
            h_eff,
            v_eff,
            look_ahead_s,
            same_party,
            cell,
        )

    workers = _cpu_count() if n >= _MIN_N_FOR_THREADS else 1
    if workers == 1:
        grids = [grid(k) for k in range(k_slices)]
        parts = [pairs((k, 0, grids[k][3].shape[0] - 1, True)) for k in range(k_slices)]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            grids = list(pool.map(grid, range(k_slices)))
            # Each slice's hash buckets cut into chunks, so that the threads share work evenly.
            chunks = 4 * workers
            tasks = []
            for k in range(k_slices):
                edges = np.linspace(0, grids[k][3].shape[0] - 1, chunks + 1).astype(np.int64)
                tasks += [(k, int(edges[c]), int(edges[c + 1]), c == 0) for c in range(chunks)]
            parts = list(pool.map(pairs, tasks))

    i, j, cols, lost = _k.assemble(
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        perm,
        n,
    )
    return Encounters(
        i=i,
        j=j,
        t_in=cols[0],
        t_out=cols[1],
        tcpa=cols[2],
        dcpa_m=cols[3],
        vertical_at_cpa_m=cols[4],
        lost_now=lost,
    )


def _spatial_order(state: FloatArray, cell: FloatArray) -> npt.NDArray[np.int64]:
    """Permutation grouping aircraft by coarse 3-D cell of their position (lexicographic)."""
    pos = state[:, :3]
    idx = np.floor((pos - pos.min(axis=0)) / cell).astype(np.int64)
    return np.lexsort((idx[:, 2], idx[:, 1], idx[:, 0]))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _ecef_state(
    lat_deg: FloatArray,
    lon_deg: FloatArray,
    alt_m: FloatArray,
    gs_mps: FloatArray,
    track_deg: FloatArray,
    vs_mps: FloatArray,
) -> FloatArray:
    """Per-aircraft state rows for the kernels, (N, 12) (layout in ``_tactical_kernels``).

    Sea-level WGS-84 ECEF position, tangent velocity and geodetic unit normal, rotated so that the
    third axis is the traffic's mean normal (distances and angles are unchanged; the pruning grid
    then sees regional traffic as a thin sheet), then altitude, vertical rate and ground speed.
    """
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    sin_lon, cos_lon = np.sin(lon), np.cos(lon)
    # Prime-vertical radius of curvature N(phi) = a / sqrt(1 - e^2 sin^2 phi).
    n_rad = _WGS84_A / np.sqrt(1.0 - _WGS84_E2 * sin_lat * sin_lat)
    state = np.empty((lat.shape[0], 12))
    state[:, 0] = n_rad * cos_lat * cos_lon
    state[:, 1] = n_rad * cos_lat * sin_lon
    state[:, 2] = n_rad * (1.0 - _WGS84_E2) * sin_lat
    trk = np.radians(track_deg)
    v_east = gs_mps * np.sin(trk)
    v_north = gs_mps * np.cos(trk)
    # east = (-sin lon, cos lon, 0); north = (-sin lat cos lon, -sin lat sin lon, cos lat)
    state[:, 3] = -v_east * sin_lon - v_north * sin_lat * cos_lon
    state[:, 4] = v_east * cos_lon - v_north * sin_lat * sin_lon
    state[:, 5] = v_north * cos_lat
    state[:, 6] = cos_lat * cos_lon
    state[:, 7] = cos_lat * sin_lon
    state[:, 8] = sin_lat
    state[:, 9] = alt_m
    state[:, 10] = vs_mps
    state[:, 11] = gs_mps
    frame = _mean_normal_frame(state[:, 6:9])
    for col in (0, 3, 6):
        state[:, col : col + 3] = state[:, col : col + 3] @ frame.T
    return state


def _mean_normal_frame(up: FloatArray) -> FloatArray:
    """Rotation matrix (rows: new axes) whose third axis is the mean of the unit normals."""
    mean = up.sum(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6 * up.shape[0]:  # traffic all around the globe: keep ECEF axes
        return np.eye(3)
    w = mean / norm
    helper = np.array([1.0, 0.0, 0.0]) if abs(w[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(helper, w)
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    return np.stack([u, v, w])
