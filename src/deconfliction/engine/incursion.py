"""Constraint incursion: which tracks are inside closed airspace, or will enter it soon.

Semantics
---------
Each aircraft is extrapolated in a straight line from its state at ``now`` (the tracks'
``time_s``) — constant
ground speed and true track, constant vertical rate — for ``t`` in ``[0, look_ahead_s]`` (the
kinematics of the tactical detector, :mod:`deconfliction.engine.tactical`). A track *meets* a
volume at ``t`` when, at that instant, it is

* over the footprint (boundary included),
* within the altitude band ``[altitude_lower_m, altitude_upper_m]`` (boundaries included), and
* within the time window: ``time_start <= now + t < time_end``.

Every (track, volume) pair that meets at some ``t`` in ``[0, look_ahead_s]`` is reported, with
the earliest such ``t`` as ``time_to_entry_s`` (0 and ``inside_now`` when it meets at ``t = 0``).
So airspace that opens within the look-ahead while the track is over it counts (entry when it
opens), and airspace that closes before the track gets there does not.

Geometry
--------
Each volume gets its own azimuthal equidistant plane on WGS84 centred on its footprint
(:class:`~deconfliction.engine.geodesy.LocalPlane`; for circles the centre, so the circle is
exact). The track's position is projected into that plane and its velocity is the plane image
of its ground velocity (a 100 m geodesic step along the track, projected, scaled to the ground
speed), so the path is a straight line in the plane. Over a look-ahead at airliner speeds
(30 km in 120 s at 250 m/s) that line stays within metres of the geodesic, far inside the 1 s
(250 m) entry-time accuracy asked of this module. Planes make the antimeridian and the poles
ordinary places.

Pruning
-------
No track × volume matrix is built. Volumes whose window misses ``[now, now + look_ahead_s]`` are
dropped; the rest are indexed in a :class:`shapely.STRtree` by their geographic bounds (copied
at ±360° of longitude, so boxes across the antimeridian need no special case), and each track
queries it with the box of its swept path over the look-ahead, with a margin (near a pole, the
whole cap within reach). Only the pairs found are solved exactly: a quadratic for circles, a
segment × polygon intersection for polygons (holes included).

Examples
--------
A circle of 5 km radius 20 km east of an aircraft flying east at 250 m/s: entry after 60 s.

>>> from deconfliction.engine.geodesy import WGS84
>>> from deconfliction.model.track import TrackArrays
>>> from deconfliction.model.volume import CircleFootprint, Volume
>>> lon_c, lat_c, _ = WGS84.fwd(36.0, 35.0, 90.0, 20_000.0)
>>> zone = Volume(CircleFootprint((lon_c, lat_c), 5_000.0), 0.0, 10_000.0, 0.0, 1e10)
>>> tracks = TrackArrays(("red-1",), [35.0], [36.0], [3000.0], [250.0], [90.0], [0.0], [0],
...                      time_s=1000.0)
>>> found = detect_incursions(tracks, [zone])
>>> len(found), int(found.volume_index[0]), bool(found.inside_now[0])
(1, 0, False)
>>> round(float(found.time_to_entry_s[0]), 1)
60.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from deconfliction.engine.footprint import footprint_centre, geographic_bounds, planarize
from deconfliction.engine.geodesy import WGS84, LocalPlane
from deconfliction.model.track import TrackArrays
from deconfliction.model.units import Seconds
from deconfliction.model.volume import Volume

__all__ = ["DEFAULT_LOOK_AHEAD_S", "MAX_LOOK_AHEAD_S", "Incursions", "detect_incursions"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Look-ahead: 120 s default (EUROCONTROL STCA); up to 20 min for planning alerts (MTCD).
DEFAULT_LOOK_AHEAD_S: Seconds = 120.0
MAX_LOOK_AHEAD_S: Seconds = 1200.0

# Pruning bounds. Distances are turned into degrees with a radius below the smallest WGS84
# radius of curvature (a(1 - e²) = 6,335,439 m, meridian at the equator), so boxes err on the
# large side; the pad covers the approximations in the footprints' geographic bounds.
_MIN_RADIUS_M = 6.33e6
_PRUNE_PAD_M = 1_000.0
_POLAR_LAT_DEG = 89.0  # a swept box reaching past this latitude spans every longitude
_VELOCITY_STEP_M = 100.0  # geodesic step whose plane image gives the velocity's direction
_STILL_M = 1e-6  # a path shorter than this over the look-ahead is a point
_NOW_S = 1e-6  # an entry sooner than this is float noise of "inside now" (0.3 mm at 300 m/s)


@dataclass(frozen=True, slots=True)
class Incursions:
    """Sparse result of :func:`detect_incursions`: one row per (track, volume) pair.

    Rows are sorted by ``(track_index, volume_index)``.

    Attributes
    ----------
    track_index, volume_index : ndarray of int64
        Rows of the input :class:`TrackArrays` and indices into ``volumes``.
    inside_now : ndarray of bool
        The track is in the volume at ``now``.
    time_to_entry_s : ndarray of float64
        Earliest time from ``now`` at which the track is in the volume (s; 0 when inside now).
    """

    track_index: IntArray
    volume_index: IntArray
    inside_now: npt.NDArray[np.bool_]
    time_to_entry_s: FloatArray

    def __len__(self) -> int:
        return int(self.track_index.shape[0])

    @classmethod
    def empty(cls) -> Incursions:
        """No incursion."""
        idx = np.empty(0, dtype=np.int64)
        return cls(idx, idx.copy(), np.empty(0, dtype=np.bool_), np.empty(0, dtype=np.float64))


def detect_incursions(
    tracks: TrackArrays,
    volumes: Sequence[Volume],
    *,
    look_ahead_s: Seconds = DEFAULT_LOOK_AHEAD_S,
) -> Incursions:
    """Find every track inside, or predicted to enter, a volume within the look-ahead.

    Parameters
    ----------
    tracks : TrackArrays
        The aircraft's states at ``tracks.time_s`` (validated when the record was built);
        altitudes above the WGS84 ellipsoid, as volumes' bands are.
    volumes : sequence of Volume
        Constraint volumes (a constraint's id per volume is the caller's: results give indices).
    look_ahead_s : float, default 120
        Prediction horizon (s) in (0, 1200]: 120 s is EUROCONTROL STCA practice.

    Returns
    -------
    Incursions
        One row per (track, volume) pair that meets within ``[0, look_ahead_s]``; see the
        module docstring for the exact semantics.

    Raises
    ------
    ValueError
        On a look-ahead out of range.
    """
    lat_a, lon_a, alt_a = tracks.lat_deg, tracks.lon_deg, tracks.alt_m
    gs_a, trk_a, vs_a = tracks.gs_mps, tracks.track_deg, tracks.vs_mps
    horizon = float(look_ahead_s)
    if not 0.0 < horizon <= MAX_LOOK_AHEAD_S:
        raise ValueError(f"look_ahead_s must be in (0, {MAX_LOOK_AHEAD_S:g}], got {look_ahead_s}")
    now = tracks.time_s
    live = [
        v
        for v, vol in enumerate(volumes)
        if vol.time_end > now
        and vol.time_start <= now + horizon
        and vol.altitude_lower_m <= vol.altitude_upper_m
    ]
    if not live or lat_a.size == 0:
        return Incursions.empty()

    track_i, volume_i = _candidates(lat_a, lon_a, trk_a, gs_a * horizon, volumes, live)
    if track_i.size == 0:
        return Incursions.empty()

    out_t: list[IntArray] = []
    out_v: list[IntArray] = []
    out_entry: list[FloatArray] = []
    order = np.argsort(volume_i, kind="stable")
    track_i, volume_i = track_i[order], volume_i[order]
    starts = np.flatnonzero(np.r_[True, volume_i[1:] != volume_i[:-1]])
    ends = np.r_[starts[1:], volume_i.size]
    for s, e in zip(starts, ends, strict=True):
        v = int(volume_i[s])
        rows = track_i[s:e]
        entry = _entry_times(
            volumes[v],
            lat_a[rows],
            lon_a[rows],
            alt_a[rows],
            gs_a[rows],
            trk_a[rows],
            vs_a[rows],
            now=now,
            horizon=horizon,
        )
        hit = np.isfinite(entry)
        out_t.append(rows[hit])
        out_v.append(np.full(int(hit.sum()), v, dtype=np.int64))
        out_entry.append(entry[hit])

    t_idx = np.concatenate(out_t).astype(np.int64)
    v_idx = np.concatenate(out_v)
    entry_s = np.concatenate(out_entry)
    order = np.lexsort((v_idx, t_idx))
    entry_s = entry_s[order]
    return Incursions(t_idx[order], v_idx[order], entry_s == 0.0, entry_s)


def _candidates(
    lat: FloatArray,
    lon: FloatArray,
    track: FloatArray,
    reach_m: FloatArray,
    volumes: Sequence[Volume],
    live: list[int],
) -> tuple[IntArray, IntArray]:
    """(track, volume) pairs whose boxes meet: each track's swept box against volume bounds."""
    bounds = np.array([geographic_bounds(volumes[v].footprint) for v in live], dtype=np.float64)
    west = (bounds[:, 0] + 180.0) % 360.0 - 180.0
    east = west + np.minimum(bounds[:, 2] - bounds[:, 0], 360.0)
    # Copies at -360, 0, +360: a query box holds its centre, in [-180, 180), and is at most
    # 360° wide, so one of these copies meets it whenever the two meet modulo 360°.
    shifts = np.array([-360.0, 0.0, 360.0])
    boxes = shapely.box(
        (west[None, :] + shifts[:, None]).ravel(),
        np.tile(bounds[:, 1], 3),
        (east[None, :] + shifts[:, None]).ravel(),
        np.tile(bounds[:, 3], 3),
    )
    box_volume = np.tile(np.asarray(live, dtype=np.int64), 3)
    pairs = shapely.STRtree(boxes).query(_swept_boxes(lat, lon, track, reach_m))
    if pairs.shape[1] == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    track_i = pairs[0].astype(np.int64)
    volume_i = box_volume[pairs[1]]
    code = np.unique(track_i * len(volumes) + volume_i)  # a volume may match two of its copies
    return code // len(volumes), code % len(volumes)


def _swept_boxes(
    lat: FloatArray, lon: FloatArray, track: FloatArray, reach_m: FloatArray
) -> npt.NDArray[np.object_]:
    """Degree boxes holding each track's path over the look-ahead, with a margin.

    The box of the path's two ends (longitudes the short way round, centred in [-180, 180)),
    grown by the pad plus a bound on how far a geodesic of that length bulges away from the
    straight line between its ends in degrees (about d² tan φ / 8R; 4R here). Near a pole the
    box is the whole cap of everything within reach.
    """
    end_lon, end_lat, _ = WGS84.fwd(lon, lat, track, reach_m)
    dlat_reach = np.degrees((reach_m + _PRUNE_PAD_M) / _MIN_RADIUS_M)
    lat_max = np.abs(lat) + dlat_reach
    polar = lat_max >= _POLAR_LAT_DEG
    lat_max = np.minimum(lat_max, _POLAR_LAT_DEG)
    bulge = reach_m**2 * (1.0 + np.tan(np.radians(lat_max))) / (4.0 * _MIN_RADIUS_M)
    pad_lat = np.degrees((_PRUNE_PAD_M + bulge) / _MIN_RADIUS_M)
    pad_lon = pad_lat / np.cos(np.radians(lat_max))

    start = (lon + 180.0) % 360.0 - 180.0
    end = start + ((np.asarray(end_lon) - start + 180.0) % 360.0 - 180.0)
    west = np.minimum(start, end) - pad_lon
    east = np.maximum(start, end) + pad_lon
    south = np.minimum(lat, end_lat) - pad_lat
    north = np.maximum(lat, end_lat) + pad_lat
    # Near a pole: every longitude, and the latitudes within reach.
    west = np.where(polar, -180.0, west)
    east = np.where(polar, 180.0, east)
    south = np.where(polar, np.where(lat > 0, lat - dlat_reach, -90.0), south)
    north = np.where(polar, np.where(lat > 0, 90.0, lat + dlat_reach), north)
    boxes: npt.NDArray[np.object_] = shapely.box(west, np.maximum(south, -90.0), east,
                                                 np.minimum(north, 90.0))
    return boxes


def _entry_times(
    volume: Volume,
    lat: FloatArray,
    lon: FloatArray,
    alt: FloatArray,
    gs: FloatArray,
    track: FloatArray,
    vs: FloatArray,
    *,
    now: float,
    horizon: float,
) -> FloatArray:
    """Earliest meeting time in [0, horizon] of each track with ``volume``, inf when none."""
    m = lat.size
    plane = LocalPlane(*footprint_centre(volume.footprint))
    planar = planarize(volume.footprint, plane)
    x0, y0 = plane.forward(lon, lat)
    lon1, lat1, _ = WGS84.fwd(lon, lat, track, np.full(m, _VELOCITY_STEP_M))
    x1, y1 = plane.forward(lon1, lat1)
    vx = (x1 - x0) / _VELOCITY_STEP_M * gs
    vy = (y1 - y0) / _VELOCITY_STEP_M * gs

    # Vertical: z0 + vs t in [lower, upper]; time window: now + t in [start, end).
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = (volume.altitude_lower_m - alt) / vs
        tb = (volume.altitude_upper_m - alt) / vs
    in_band = (volume.altitude_lower_m <= alt) & (alt <= volume.altitude_upper_m)
    climbing = vs != 0.0
    v_lo = np.where(climbing, np.minimum(ta, tb), np.where(in_band, -np.inf, np.inf))
    v_hi = np.where(climbing, np.maximum(ta, tb), np.where(in_band, np.inf, -np.inf))
    w_lo = volume.time_start - now
    w_hi = volume.time_end - now

    # Horizontal: intervals (pair, t_a, t_b) of the straight path over the footprint.
    if planar.radius_m > 0.0:
        pair, h_a, h_b = _circle_intervals(planar.core, planar.radius_m, x0, y0, vx, vy)
    else:
        pair, h_a, h_b = _polygon_intervals(planar.core, x0, y0, vx, vy, horizon)

    lo = np.maximum.reduce([h_a, v_lo[pair], np.full(pair.size, max(w_lo, 0.0))])
    hi = np.minimum.reduce([h_b, v_hi[pair], np.full(pair.size, horizon)])
    ok = (lo <= hi) & (lo < w_hi)
    entry = np.full(m, np.inf)
    np.minimum.at(entry, pair[ok], lo[ok])
    entry[entry < _NOW_S] = 0.0
    return entry


def _circle_intervals(
    centre: shapely.Point,
    radius: float,
    x0: FloatArray,
    y0: FloatArray,
    vx: FloatArray,
    vy: FloatArray,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Times when |p0 + v t - c| <= r: one interval per track that ever gets that close."""
    dx, dy = x0 - centre.x, y0 - centre.y
    a = vx * vx + vy * vy
    b = dx * vx + dy * vy  # half the linear coefficient
    c = dx * dx + dy * dy - radius * radius
    moving = a > 0.0
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.maximum(disc, 0.0))
        t_a = np.where(moving, (-b - root) / a, np.where(c <= 0.0, -np.inf, np.inf))
        t_b = np.where(moving, (-b + root) / a, np.where(c <= 0.0, np.inf, -np.inf))
    keep = np.flatnonzero(np.where(moving, disc >= 0.0, c <= 0.0))
    return keep.astype(np.int64), t_a[keep], t_b[keep]


def _polygon_intervals(
    polygon: shapely.Geometry,
    x0: FloatArray,
    y0: FloatArray,
    vx: FloatArray,
    vy: FloatArray,
    horizon: float,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Times in [0, horizon] when p0 + v t is over the polygon: one interval per piece."""
    speed2 = vx * vx + vy * vy
    still = np.sqrt(speed2) * horizon < _STILL_M
    pairs: list[IntArray] = []
    t_a: list[FloatArray] = []
    t_b: list[FloatArray] = []

    idle = np.flatnonzero(still)
    if idle.size:
        over = idle[shapely.covers(polygon, shapely.points(x0[idle], y0[idle]))]
        pairs.append(over.astype(np.int64))
        t_a.append(np.full(over.size, -np.inf))
        t_b.append(np.full(over.size, np.inf))

    moving = np.flatnonzero(~still)
    if moving.size:
        start = np.column_stack([x0[moving], y0[moving]])
        stop = start + horizon * np.column_stack([vx[moving], vy[moving]])
        lines = shapely.linestrings(np.stack([start, stop], axis=1))
        pieces = shapely.intersection(lines, polygon)
        # Flatten twice: a GeometryCollection may hold Multi* members.
        parts, first = shapely.get_parts(pieces, return_index=True)
        parts, second = shapely.get_parts(parts, return_index=True)
        line_of_part = first[second]
        coords, part_of_coord = shapely.get_coordinates(parts, return_index=True)
        if coords.shape[0]:
            k = moving[line_of_part[part_of_coord]]
            t = ((coords[:, 0] - x0[k]) * vx[k] + (coords[:, 1] - y0[k]) * vy[k]) / speed2[k]
            lo = np.full(parts.size, np.inf)
            hi = np.full(parts.size, -np.inf)
            np.minimum.at(lo, part_of_coord, t)
            np.maximum.at(hi, part_of_coord, t)
            present = np.isfinite(lo)
            pairs.append(moving[line_of_part[present]].astype(np.int64))
            t_a.append(np.clip(lo[present], 0.0, horizon))
            t_b.append(np.clip(hi[present], 0.0, horizon))

    if not pairs:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    return np.concatenate(pairs), np.concatenate(t_a), np.concatenate(t_b)
