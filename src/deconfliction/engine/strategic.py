"""Strategic deconfliction: which declared volumes come too close, and how to move apart.

Pure computation on value objects. Two volumes *conflict* when their time windows overlap
(strictly), their altitude bands are less than the vertical minimum apart and their footprints
less than the horizontal minimum apart (geodesic). Horizontal closeness does not change when a
volume moves in time or altitude, so it is computed once (:func:`proximities`) and reused to test
shifted plans cheaply (:func:`conflicting`, :func:`suggest_shifts`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.polygon import orient

from deconfliction.engine.footprint import (
    PLANAR_CACHE,
    PlanarFootprint,
    bounding_caps,
    footprint_centre,
    planarize,
)
from deconfliction.engine.geodesy import WGS84, LocalPlane, geodesic_distance
from deconfliction.model.units import Metres
from deconfliction.model.volume import Footprint, Region, Volume

__all__ = [
    "TOLERANCE_M",
    "Proximity",
    "Region",
    "Blocker",
    "Suggestion",
    "footprints_intersecting",
    "proximities",
    "conflicting",
    "conflict_region",
    "complexity",
    "suggest_shifts",
    "vertically_close",
    "overlap_in_time",
]

TOLERANCE_M = 0.01
"""Distances within 1 cm of a minimum count as *at* the minimum, which is not a loss.

Flight levels 1000 ft apart are 304.8 m apart only up to float rounding; without this margin
FL300 against FL310 could flip between conflict and no conflict."""

_PLANE_SLACK = 1e-3  # plane distances are within 0.1 % of geodesic ones at these scales


@dataclass(frozen=True, slots=True)
class Proximity:
    """Volume ``proposed`` and volume ``other`` are horizontally closer than the minimum."""

    proposed: int
    other: int
    distance_m: Metres


class Blocker(StrEnum):
    """Why a conflict with some other volume stops a plan."""

    CONSTRAINT = "constraint"  # closed airspace: always
    PRIORITY = "priority"  # an operation of equal or higher priority: always
    LOWER = "lower"  # a lower-priority operation: only at short notice


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Move every volume of the plan by ``shift_s`` seconds or ``shift_m`` metres."""

    kind: str  # "time_shift" or "altitude_shift"
    shift: float
    volumes: tuple[Volume, ...]
    conflicts_with: tuple[int, ...]  # indices of others still in (non-blocking) conflict


def overlap_in_time(a: Volume, b: Volume, shift_s: float = 0.0) -> bool:
    """Whether [a.start + shift, a.end + shift) and [b.start, b.end) share an instant."""
    return a.time_start + shift_s < b.time_end and b.time_start < a.time_end + shift_s


def vertically_close(a: Volume, b: Volume, vertical_m: Metres, shift_m: float = 0.0) -> bool:
    """Whether the bands are less than ``vertical_m`` apart (overlapping bands are 0 apart)."""
    gap = max(
        b.altitude_lower_m - (a.altitude_upper_m + shift_m),
        (a.altitude_lower_m + shift_m) - b.altitude_upper_m,
    )
    return gap < vertical_m - TOLERANCE_M


_BRUTE_PAIRS = 250_000
"""GEOS measures the distance between two geometries by trying every pair of their edges:
two interleaved 1,000-vertex combs (5,500 edges each once densified) took 0.16 s per call.
Above this many pairs of vertices the edges go into a search tree instead (`nearest_line`)."""


def _edges(geometry: shapely.Geometry) -> np.ndarray:
    """Every edge of a (multi)polygon's rings, or a point, as an array of geometries."""
    if isinstance(geometry, shapely.Point):
        return np.array([geometry], dtype=object)
    rings = shapely.get_rings(shapely.get_parts(geometry))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    edges: np.ndarray = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    return edges


def nearest_line(a: shapely.Geometry, b: shapely.Geometry) -> shapely.Geometry:
    """The shortest line from ``a`` to ``b`` (points or polygons that do not intersect): what
    `shapely.shortest_line` draws, found through a search tree of ``a``'s edges when both are
    large, so two jagged footprints cost ~ n log n instead of n × m (the interleaved comb
    pair: 0.16 s → ~25 ms)."""
    if shapely.get_num_coordinates(a) * shapely.get_num_coordinates(b) <= _BRUTE_PAIRS:
        return shapely.shortest_line(a, b)
    mine, theirs = _edges(a), _edges(b)
    # a small node capacity: each query then visits fewer edges (fastest of 2-25 measured)
    (k_theirs, k_mine), d = shapely.STRtree(mine, node_capacity=4).query_nearest(
        theirs, return_distance=True, all_matches=False)
    best = int(np.argmin(d))
    return shapely.shortest_line(mine[k_mine[best]], theirs[k_theirs[best]])


def _separation(a: PlanarFootprint, b: PlanarFootprint, plane: LocalPlane) -> float:
    """Geodesic distance between two planar footprints, 0 when they overlap."""
    if shapely.intersects(a.core, b.core):
        return 0.0
    line = nearest_line(a.core, b.core)
    (x1, y1), (x2, y2) = shapely.get_coordinates(line)
    lon, lat = plane.inverse([x1, x2], [y1, y2])
    d = geodesic_distance(lon[0], lat[0], lon[1], lat[1])
    return max(0.0, d - a.radius_m - b.radius_m)


@lru_cache(maxsize=PLANAR_CACHE)
def _pair_separation(
    mine: Footprint, theirs: Footprint, lon0: float, lat0: float, reach_m: Metres
) -> float:
    """`_separation` of two footprints on the plane at (lon0, lat0), remembered: a dry run
    measures the same pairs for its conflicts and again for its suggestions."""
    plane = LocalPlane(lon0, lat0)
    return _separation(planarize(mine, plane), planarize(theirs, plane, within_m=reach_m), plane)


def _private(geometry: shapely.Geometry) -> shapely.Geometry:
    """A prepared copy of ``geometry``, owned by the caller. Planar footprints are shared
    through a cache by every request thread, and GEOS builds a prepared geometry's indexes
    lazily on first use: preparing (or querying) a shared one from two threads at once would
    race, so a shared geometry is never prepared — a copy is."""
    copy = shapely.from_wkb(shapely.to_wkb(geometry))
    shapely.prepare(copy)
    return copy


def _within_reach(
    mine: Sequence[Footprint], theirs: Sequence[Footprint], reach_m: Metres
) -> list[np.ndarray]:
    """Per footprint of ``mine``, the indices of ``theirs`` whose bounding caps come within
    ``reach_m`` of its own: the only ones worth exact geometry."""
    if not theirs:
        return [np.empty(0, dtype=np.int64) for _ in mine]
    mlon, mlat, mrad = bounding_caps(mine)
    tlon, tlat, trad = bounding_caps(theirs)
    found = []
    for i in range(len(mine)):
        _, _, d = WGS84.inv(np.full(len(theirs), mlon[i]), np.full(len(theirs), mlat[i]),
                            tlon, tlat)
        gap = np.asarray(d) - mrad[i] - trad
        found.append(np.flatnonzero(gap < reach_m * (1 + _PLANE_SLACK) + 1.0))
    return found


def footprints_intersecting(area: Footprint, footprints: Sequence[Footprint]) -> np.ndarray:
    """Whether each of ``footprints`` shares a point with ``area`` (a bool array)."""
    result = np.zeros(len(footprints), dtype=bool)
    (candidates,) = _within_reach([area], footprints, 0.0)
    if len(candidates):
        plane = LocalPlane(*footprint_centre(area))
        mine = planarize(area, plane)
        core = _private(mine.core)
        for j in candidates:
            theirs = planarize(footprints[j], plane)
            result[j] = shapely.dwithin(core, theirs.core, mine.radius_m + theirs.radius_m)
    return result


def proximities(
    proposed: Sequence[Volume], others: Sequence[Volume], *, horizontal_m: Metres
) -> list[Proximity]:
    """Every (proposed, other) pair of volumes horizontally closer than ``horizontal_m``.

    Examples
    --------
    >>> from deconfliction.model.volume import CircleFootprint
    >>> a = Volume(CircleFootprint((37.0, 36.0), 1000.0), 0, 100, 0, 60)
    >>> b = Volume(CircleFootprint((37.1, 36.0), 1000.0), 0, 100, 0, 60)
    >>> [round(p.distance_m) for p in proximities([a], [b], horizontal_m=9260)]
    [7016]
    >>> proximities([a], [b], horizontal_m=5000)
    []
    """
    found: list[Proximity] = []
    if not others:
        return found
    reachable = _within_reach([v.footprint for v in proposed], [o.footprint for o in others],
                              horizontal_m)
    lons, lats, radii_m = bounding_caps([v.footprint for v in proposed])
    for i, volume in enumerate(proposed):
        if not len(reachable[i]):
            continue
        plane = LocalPlane(float(lons[i]), float(lats[i]))
        mine = planarize(volume.footprint, plane)
        # only the parts of theirs that can come within the minimum of mine: a huge or
        # jagged footprint costs its part near mine, and no distance under the minimum changes
        reach = float(radii_m[i]) + horizontal_m * (1 + _PLANE_SLACK) + 1000.0
        theirs = [planarize(others[j].footprint, plane, within_m=reach) for j in reachable[i]]
        cores = np.array([t.core for t in theirs], dtype=object)
        radii = np.array([t.radius_m for t in theirs])
        # a prepared copy of mine answers "within reach?" through an index of its edges
        rough = shapely.dwithin(_private(mine.core), cores,
                                horizontal_m * (1 + _PLANE_SLACK) + 1.0 + mine.radius_m + radii)
        for k in np.flatnonzero(rough):
            d = _pair_separation(volume.footprint, others[int(reachable[i][k])].footprint,
                                 plane.lon0, plane.lat0, reach)
            if d < horizontal_m - TOLERANCE_M:
                found.append(Proximity(i, int(reachable[i][k]), d))
    return found


def conflicting(
    proposed: Sequence[Volume],
    others: Sequence[Volume],
    close: Sequence[Proximity],
    *,
    vertical_m: Metres,
    shift_s: float = 0.0,
    shift_m: float = 0.0,
) -> list[Proximity]:
    """The horizontally close pairs that also overlap in time and altitude after a shift."""
    return [
        p
        for p in close
        if overlap_in_time(proposed[p.proposed], others[p.other], shift_s)
        and vertically_close(proposed[p.proposed], others[p.other], vertical_m, shift_m)
    ]


REGION_EXACT_COMPLEXITY = 20_000
"""Up to this complexity (vertices × reflex vertices, after clipping) the other footprint is
buffered exactly. GEOS buffering costs far more than linear in a jagged ring's vertices (a
2,000-vertex zig-zag took seconds; convex rings of any size are cheap), so beyond it the buffer
is drawn on a grid of at most `REGION_GRID` × `REGION_GRID` cells instead: a bounded cost
whatever shape was drawn, or stored before the limits existed."""
REGION_GRID = 32


def complexity(geometry: shapely.Geometry) -> int:
    """Vertices × (reflex vertices + parts − 1) over the rings of a planar (multi)polygon: 0
    for a convex polygon; what makes buffering expensive. Only turns sharper than a
    micro-radian count, so the near-collinear points of densified edges do not."""
    parts = [g for g in getattr(geometry, "geoms", [geometry])
             if isinstance(g, shapely.Polygon) and not g.is_empty]
    if not parts:
        return 0
    rings = shapely.get_rings(np.array([orient(p, 1.0) for p in parts], dtype=object))
    xy, ring = shapely.get_coordinates(rings, return_index=True)  # the inside on the left
    same = ring[1:] == ring[:-1]
    edge, of = (xy[1:] - xy[:-1])[same], ring[1:][same]
    n = len(edge)
    starts = np.flatnonzero(np.r_[True, of[1:] != of[:-1]])
    following = np.arange(1, n + 1)
    following[np.r_[starts[1:], n] - 1] = starts
    nxt = edge[following]
    cross = edge[:, 0] * nxt[:, 1] - edge[:, 1] * nxt[:, 0]
    scale = np.hypot(edge[:, 0], edge[:, 1]) * np.hypot(nxt[:, 0], nxt[:, 1]) * 1e-6
    reflex = int(np.count_nonzero(cross < -scale)) + len(parts) - 1  # parts' buffers overlap
    return n * reflex                                                 # as concavities do


def _box(bounds: tuple[float, float, float, float], margin: float) -> shapely.Polygon:
    x0, y0, x1, y1 = bounds
    return shapely.box(x0 - margin, y0 - margin, x1 + margin, y1 + margin)


def _cells(core: shapely.Geometry, reach_m: Metres, window: shapely.Geometry) -> np.ndarray:
    """The cells of a `REGION_GRID` grid over ``window``'s bounding box whose centre lies
    within ``reach_m`` plus half a cell's diagonal of ``core``: together they hold every point
    of the box within ``reach_m`` of ``core`` (a superset by at most a cell's diagonal)."""
    x0, y0, x1, y1 = window.bounds
    cell = max(x1 - x0, y1 - y0, 1.0) / REGION_GRID
    # cell edges from whole indices, so neighbours share exact corners and merge when united
    i, j = (a.ravel() for a in np.meshgrid(np.arange(int(math.ceil((x1 - x0) / cell)) + 1),
                                           np.arange(int(math.ceil((y1 - y0) / cell)) + 1)))
    centres = shapely.points(x0 + cell * (i + 0.5), y0 + cell * (j + 0.5))
    keep = shapely.dwithin(_private(core), centres, reach_m + cell * math.sqrt(0.5))
    i, j = i[keep], j[keep]
    cells: np.ndarray = shapely.box(x0 + cell * i, y0 + cell * j,
                                    x0 + cell * (i + 1), y0 + cell * (j + 1))
    return cells


def _near(
    core: shapely.Geometry, reach_m: Metres, window: shapely.Geometry, *, exact: bool
) -> shapely.Geometry:
    """Every point of ``window``'s bounding box within ``reach_m`` of ``core`` — exactly when
    ``core`` is simple, else as the grid cells of `_cells` (never smaller)."""
    if exact:
        return shapely.buffer(core, reach_m, quad_segs=16)
    cells = _cells(core, reach_m, window)
    return shapely.coverage_union_all(cells) if len(cells) else shapely.Polygon()


def conflict_region(
    proposed: Volume, other: Volume, *, horizontal_m: Metres, vertical_m: Metres
) -> Region:
    """The part of ``proposed`` within the minima of ``other``: footprint, band and window.

    Both footprints are first cut to the box where they can come within the minimum of each
    other, so a huge or jagged footprint costs only its part near the other one; the buffer
    is then exact for simple shapes and drawn on a bounded grid for jagged ones (`_near`);
    when both are jagged the region itself is drawn on that grid (`_cells`).
    """
    lon, lat, radius = (float(a[0]) for a in bounding_caps([proposed.footprint]))
    plane = LocalPlane(lon, lat)
    # the cut `proximities` made (so its planar footprint is reused), at least as wide
    theirs = planarize(other.footprint, plane,
                       within_m=radius + horizontal_m * (1 + _PLANE_SLACK) + 1000.0)
    reach = horizontal_m + theirs.radius_m
    whole = planarize(proposed.footprint, plane).shape()
    mine = shapely.intersection(whole, _box(theirs.core.bounds, reach + 1.0))
    if mine.is_empty:
        mine = whole  # within float noise of the minimum: the nearest stretch is reported
    core = shapely.clip_by_rect(theirs.core, *_box(mine.bounds, reach + 1.0).bounds)
    if core.is_empty:
        core = theirs.core
    simple = complexity(core) <= REGION_EXACT_COMPLEXITY
    both_jagged = not simple and complexity(mine) > REGION_EXACT_COMPLEXITY
    if both_jagged:
        # both jagged: GEOS overlaying one with the other's grid took seconds (two 1,000-
        # vertex combs: 1.3 s), so the region is the grid cells near theirs that hold part of
        # mine — a superset of the exact region by at most a cell's diagonal, at bounded cost
        cells = _cells(core, reach, _box(mine.bounds, 0.0))
        cells = cells[shapely.intersects(_private(mine), cells)]
        near = shapely.coverage_union_all(cells) if len(cells) else shapely.Polygon()
    elif theirs.radius_m > 0 or not simple:
        near = _near(core, reach, _box(mine.bounds, 0.0), exact=simple)
    else:  # as before the limits: the other's own shape buffered by the minimum
        near = shapely.buffer(core, horizontal_m, quad_segs=16)
    area = near if both_jagged else shapely.intersection(mine, near)
    if area.is_empty:  # touching within float noise: report the nearest point of ``mine``
        target = theirs.core if near.is_empty else near
        nearest = shapely.get_coordinates(nearest_line(mine, target))[0]
        area = shapely.buffer(shapely.Point(nearest), 1.0)

    def unproject(coords: np.ndarray) -> np.ndarray:
        lon, lat = plane.inverse(coords[:, 0], coords[:, 1])
        return np.column_stack([np.round(lon, 7), np.round(lat, 7)])

    return Region(
        footprint=mapping(shapely.transform(area, unproject)),
        altitude_lower_m=max(proposed.altitude_lower_m, other.altitude_lower_m - vertical_m),
        altitude_upper_m=min(proposed.altitude_upper_m, other.altitude_upper_m + vertical_m),
        time_start=max(proposed.time_start, other.time_start),
        time_end=min(proposed.time_end, other.time_end),
    )


def _clear(
    conflicts: Sequence[Proximity],
    blockers: Sequence[Blocker],
    short_notice: bool,
) -> bool:
    return all(blockers[p.other] is Blocker.LOWER and not short_notice for p in conflicts)


def suggest_shifts(
    proposed: Sequence[Volume],
    others: Sequence[Volume],
    blockers: Sequence[Blocker],
    close: Sequence[Proximity],
    *,
    vertical_m: Metres,
    is_short_notice: Callable[[float], bool],
    time_range_s: tuple[float, float],
    altitude_floor_m: Metres = 0.0,
) -> list[Suggestion]:
    """The smallest earlier and later time shifts and the nearest lower and higher bands that
    clear every blocking conflict.

    A pair forbids the open interval of shifts in which it conflicts, so the smallest clear
    shift in each direction is 0, an end of one of those intervals, or the shift from which the
    plan is no longer short notice (found by bisection: later is never shorter notice); ends
    are rounded outward to whole
    seconds and metres (less the 1 cm tolerance). ``is_short_notice(shift_s)`` says whether the
    plan moved by ``shift_s`` would start inside the notice period (then every conflict blocks);
    ``time_range_s`` bounds the time shifts, ``altitude_floor_m`` the lowest band.
    """
    time_ends: set[float] = set()
    if is_short_notice(0.0) and not is_short_notice(time_range_s[1]):
        lo, hi = 0, math.floor(time_range_s[1])  # short notice at lo, not at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if is_short_notice(mid) else (lo, mid)
        time_ends.add(hi)
    alt_ends: set[float] = set()
    for p in close:
        a, b = proposed[p.proposed], others[p.other]
        if vertically_close(a, b, vertical_m):
            time_ends.add(math.floor(b.time_start - a.time_end))
            time_ends.add(math.ceil(b.time_end - a.time_start))
        if overlap_in_time(a, b):
            slack = vertical_m - TOLERANCE_M
            alt_ends.add(math.floor(b.altitude_lower_m - slack - a.altitude_upper_m))
            alt_ends.add(math.ceil(b.altitude_upper_m + slack - a.altitude_lower_m))

    def time_ok(shift: float) -> tuple[int, ...] | None:
        found = conflicting(proposed, others, close, vertical_m=vertical_m, shift_s=shift)
        if _clear(found, blockers, is_short_notice(shift)):
            return tuple(sorted({p.other for p in found}))
        return None

    def altitude_ok(shift: float) -> tuple[int, ...] | None:
        found = conflicting(proposed, others, close, vertical_m=vertical_m, shift_m=shift)
        if _clear(found, blockers, is_short_notice(0.0)):
            return tuple(sorted({p.other for p in found}))
        return None

    lowest = min(v.altitude_lower_m for v in proposed)
    earliest, latest = time_range_s
    suggestions: list[Suggestion] = []
    searches: list[tuple[str, list[float], Callable[[float], tuple[int, ...] | None]]] = [
        ("time_shift", sorted(s for s in time_ends if earliest <= s < 0), time_ok),
        ("time_shift", sorted(s for s in time_ends if 0 < s <= latest), time_ok),
        (
            "altitude_shift",
            sorted(s for s in alt_ends if s < 0 and lowest + s >= altitude_floor_m),
            altitude_ok,
        ),
        ("altitude_shift", sorted(s for s in alt_ends if s > 0), altitude_ok),
    ]
    for kind, shifts, check in searches:
        ordered = sorted(shifts, key=abs)
        for shift in ordered:
            remaining = check(shift)
            if remaining is not None:
                moved = tuple(
                    v.shifted(seconds=shift) if kind == "time_shift" else v.shifted(metres=shift)
                    for v in proposed
                )
                suggestions.append(Suggestion(kind, float(shift), moved, remaining))
                break
    return suggestions
