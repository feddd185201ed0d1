"""Conformance monitoring: is an aircraft inside its operation's declared volumes?

ASTM F3548-21 (DESIGN.md, Numbers): an excursion outside all of an operation's volumes that
lasts longer than 10 s makes the operation *nonconforming*; nonconforming for longer than 60 s
makes it *contingent*. Returning inside any volume makes it conforming again and resets both
timers.

Three parts: :func:`outside_volumes`, a pure 4D containment test on arrays;
:func:`detect_excursions`, the detector: which tracks of a :class:`TrackArrays` are outside their
operation's volumes; and :class:`ConformanceMonitor`, a small state machine fed once per
detection cycle with, for each operation, whether its aircraft is outside (time passed in,
nothing global). States are :class:`OperationState` values: ``ACTIVATED`` is conforming.

Examples
--------
>>> from deconfliction.model.volume import CircleFootprint, Volume
>>> area = Volume(CircleFootprint((36.2, 37.1), 2_000.0), 0.0, 500.0, 0.0, 3600.0)
>>> outside_volumes([37.1, 37.2], [36.2, 36.2], [100.0, 100.0], 60.0, [area]).tolist()
[False, True]
>>> monitor = ConformanceMonitor()
>>> [monitor.step(t, {"op-1": True}) for t in (0.0, 5.0, 10.0)]
[[], [], []]
>>> [(c.operation_id, c.new_state.value, c.since) for c in monitor.step(11.0, {"op-1": True})]
[('op-1', 'nonconforming', 10.0)]
>>> [(c.operation_id, c.new_state.value, c.since) for c in monitor.step(12.0, {"op-1": False})]
[('op-1', 'activated', 12.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from deconfliction.engine.footprint import footprint_centre, planarize
from deconfliction.engine.geodesy import WGS84, LocalPlane
from deconfliction.model.operation import OperationState
from deconfliction.model.track import TrackArrays
from deconfliction.model.units import Seconds
from deconfliction.model.volume import CircleFootprint, Volume

__all__ = [
    "NONCONFORMING_AFTER_S",
    "CONTINGENT_AFTER_S",
    "ConformanceChange",
    "ConformanceMonitor",
    "detect_excursions",
    "outside_volumes",
]

# ASTM F3548-21: outside all volumes for longer than 10 s → nonconforming; nonconforming for
# longer than 60 s → contingent.
NONCONFORMING_AFTER_S: Seconds = 10.0
CONTINGENT_AFTER_S: Seconds = 60.0

# "Longer than 10 s" on float seconds: an elapsed time within this of the threshold is not longer.
_TIME_EPS_S = 1e-9

_CONFORMING = OperationState.ACTIVATED


def outside_volumes(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    alt_m: npt.ArrayLike,
    t: npt.ArrayLike,
    volumes: Sequence[Volume],
) -> npt.NDArray[np.bool_]:
    """Whether each position is outside every one of ``volumes`` in 4D.

    A position (lat, lon, alt_m) at time ``t`` is inside a volume when it is over the footprint
    (boundary included), within ``[altitude_lower_m, altitude_upper_m]`` and
    ``time_start <= t < time_end``; it conforms when inside at least one volume.

    Parameters
    ----------
    lat, lon : array_like
        WGS84 latitude and longitude (°).
    alt_m : array_like
        Altitude above the WGS84 ellipsoid (m).
    t : array_like
        UTC seconds; broadcast with the positions (one time for all is fine).
    volumes : sequence of Volume
        The operation's volumes; with none, everything is outside.

    Returns
    -------
    ndarray of bool
        True where the position is outside all volumes (nonconforming at that instant).
    """
    arrays = np.broadcast_arrays(*(np.asarray(x, float) for x in (lat, lon, alt_m, t)))
    lat_a, lon_a, alt_a, t_a = (np.ravel(a) for a in arrays)
    outside = np.ones(lat_a.shape, dtype=np.bool_)
    for volume in volumes:
        candidates = np.flatnonzero(
            outside
            & (volume.time_start <= t_a)
            & (t_a < volume.time_end)
            & (volume.altitude_lower_m <= alt_a)
            & (alt_a <= volume.altitude_upper_m)
        )
        if candidates.size == 0:
            continue
        over = _over_footprint(volume, lat_a[candidates], lon_a[candidates])
        outside[candidates[over]] = False
    return outside


def detect_excursions(
    tracks: TrackArrays,
    operation: npt.ArrayLike,
    volumes: Sequence[Sequence[Volume]],
) -> npt.NDArray[np.bool_]:
    """Which tracks are outside all their operation's volumes at ``tracks.time_s``.

    Parameters
    ----------
    tracks : TrackArrays
        The aircraft's states.
    operation : array_like of int, shape (N,)
        Per track, the index in ``volumes`` of the operation it flies, or -1 for none.
    volumes : sequence of sequences of Volume
        Each operation's volumes.

    Returns
    -------
    ndarray of bool, shape (N,)
        True for a track tied to an operation and outside every one of its volumes; False for
        the others. Each operation's tracks are tested together, once.

    Examples
    --------
    >>> from deconfliction.model.volume import CircleFootprint, Volume
    >>> area = Volume(CircleFootprint((36.2, 37.1), 2_000.0), 0.0, 500.0, 0.0, 3600.0)
    >>> tracks = TrackArrays(("a", "b", "c"), [37.1, 37.2, 37.2], [36.2] * 3, [100.0] * 3,
    ...                      [0.0] * 3, [0.0] * 3, [0.0] * 3, [0, 0, 1], time_s=60.0)
    >>> detect_excursions(tracks, [0, 0, -1], [[area]]).tolist()
    [False, True, False]
    """
    op = np.asarray(operation)
    if op.shape != (len(tracks),) or not (op.size == 0 or np.issubdtype(op.dtype, np.integer)):
        raise ValueError(f"operation must be {len(tracks)} integers, got {op.dtype} {op.shape}")
    if op.size and (op.min() < -1 or op.max() >= len(volumes)):
        raise ValueError(f"operation indices must be in [-1, {len(volumes)})")
    outside = np.zeros(len(tracks), dtype=np.bool_)
    for k in np.unique(op[op >= 0]):
        rows = np.flatnonzero(op == k)
        outside[rows] = outside_volumes(tracks.lat_deg[rows], tracks.lon_deg[rows],
                                        tracks.alt_m[rows], tracks.time_s, volumes[int(k)])
    return outside


def _over_footprint(volume: Volume, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    footprint = volume.footprint
    if isinstance(footprint, CircleFootprint):
        c_lon, c_lat = footprint.center
        _, _, d = WGS84.inv(np.full(lat.size, c_lon), np.full(lat.size, c_lat), lon, lat)
        return np.asarray(d) <= footprint.radius_m
    plane = LocalPlane(*footprint_centre(footprint))
    x, y = plane.forward(lon, lat)
    return np.asarray(shapely.covers(planarize(footprint, plane).core, shapely.points(x, y)))


@dataclass(frozen=True, slots=True)
class ConformanceChange:
    """Operation ``operation_id`` entered ``new_state`` at ``since`` (UTC seconds).

    ``new_state`` is ``NONCONFORMING``, ``CONTINGENT`` or ``ACTIVATED`` (conforming again). For
    the first two, ``since`` is the instant the timer ran out (the excursion's first outside
    cycle + 10 s; the nonconforming ``since`` + 60 s), which may be before the cycle that noticed
    it; for ``ACTIVATED`` it is the cycle that saw the aircraft back inside.
    """

    operation_id: str
    new_state: OperationState
    since: Seconds


class _Excursion:
    __slots__ = ("started", "state", "since")

    def __init__(self, started: float) -> None:
        self.started = started  # first cycle seen outside
        self.state = _CONFORMING
        self.since = started


class ConformanceMonitor:
    """Nonconforming and contingent timers per operation, advanced once per cycle.

    Parameters
    ----------
    nonconforming_after_s : float, default 10
        Outside all volumes for longer than this → nonconforming (ASTM F3548-21: 10 s).
    contingent_after_s : float, default 60
        Nonconforming for longer than this → contingent (ASTM F3548-21: 60 s).

    Only operations currently outside or off-nominal are held; an operation missing from a
    cycle's mapping is forgotten (its timers restart if it comes back).
    """

    __slots__ = ("_nonconforming_after_s", "_contingent_after_s", "_excursions", "_now")

    def __init__(
        self,
        *,
        nonconforming_after_s: Seconds = NONCONFORMING_AFTER_S,
        contingent_after_s: Seconds = CONTINGENT_AFTER_S,
    ) -> None:
        if not (nonconforming_after_s >= 0 and contingent_after_s >= 0):
            raise ValueError("conformance thresholds must be >= 0")
        self._nonconforming_after_s = float(nonconforming_after_s)
        self._contingent_after_s = float(contingent_after_s)
        self._excursions: dict[str, _Excursion] = {}
        self._now: float | None = None

    @property
    def tracked(self) -> int:
        """How many operations the monitor holds (outside now, or not yet back to conforming)."""
        return len(self._excursions)

    def state(self, operation_id: str) -> OperationState:
        """The operation's state as this monitor sees it (``ACTIVATED`` when conforming)."""
        excursion = self._excursions.get(operation_id)
        return _CONFORMING if excursion is None else excursion.state

    def step(self, now: Seconds, outside: Mapping[str, bool]) -> list[ConformanceChange]:
        """Advance one cycle at ``now`` with, per monitored operation, whether it is outside.

        Returns the state changes in the order of ``outside``; one step may move an operation
        through nonconforming to contingent when cycles are far apart.
        """
        now = float(now)
        if self._now is not None and now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        for gone in [op for op in self._excursions if op not in outside]:
            del self._excursions[gone]

        changes: list[ConformanceChange] = []
        for op, is_outside in outside.items():
            excursion = self._excursions.get(op)
            if not is_outside:
                if excursion is not None:
                    if excursion.state is not _CONFORMING:
                        changes.append(ConformanceChange(op, _CONFORMING, now))
                    del self._excursions[op]
                continue
            if excursion is None:
                excursion = self._excursions[op] = _Excursion(now)
            if (
                excursion.state is _CONFORMING
                and now - excursion.started > self._nonconforming_after_s + _TIME_EPS_S
            ):
                excursion.state = OperationState.NONCONFORMING
                excursion.since = excursion.started + self._nonconforming_after_s
                changes.append(ConformanceChange(op, excursion.state, excursion.since))
            if (
                excursion.state is OperationState.NONCONFORMING
                and now - excursion.since > self._contingent_after_s + _TIME_EPS_S
            ):
                excursion.state = OperationState.CONTINGENT
                excursion.since = excursion.since + self._contingent_after_s
                changes.append(ConformanceChange(op, excursion.state, excursion.since))
        return changes
