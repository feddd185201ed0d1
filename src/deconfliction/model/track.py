"""Aircraft and tracks: the live picture the tactical layer watches, and its array form."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deconfliction.model.units import Degrees, Metres, MetresPerSecond, Seconds

UNIDENTIFIED = "unidentified"
"""The pseudo-party of aircraft no party claims — still deconflicted against, each on its own."""


def aircraft_key(party: str, aircraft_id: str) -> str:
    """The line's name for one aircraft: ``party/aircraft_id``.

    Aircraft ids are each party's own: the same id reported by two parties names two aircraft,
    and neither party learns that the other uses it. Party names hold no ``/``, so the key is
    unambiguous. It is the detectors' and the alert book's name, shown to observers only.

    >>> aircraft_key("blue", "AB123"), aircraft_key("red", "AB123")
    ('blue/AB123', 'red/AB123')
    """
    return f"{party}/{aircraft_id}"


@dataclass(frozen=True, slots=True)
class Aircraft:
    """A registry entry: ties an aircraft to its party and, optionally, to an operation."""

    id: str
    party: str
    icao24: str | None = None  # ICAO 24-bit address, lowercase hex
    callsign: str | None = None
    operation_id: str | None = None

    @property
    def key(self) -> str:
        """`aircraft_key`: ``id`` is the party's own name for it."""
        return aircraft_key(self.party, self.id)


@dataclass(frozen=True, slots=True)
class StateReport:
    """One reported state of one aircraft (SI units; time in UTC seconds)."""

    aircraft_id: str
    time: Seconds
    lat: Degrees
    lon: Degrees
    altitude_m: Metres
    ground_speed_mps: MetresPerSecond
    track_deg: Degrees
    vertical_rate_mps: MetresPerSecond


@dataclass(frozen=True, slots=True)
class Track:
    """The latest state of one aircraft, with whose it is."""

    party: str
    state: StateReport
    received_at: Seconds

    @property
    def key(self) -> str:
        """`aircraft_key` of the tracked aircraft."""
        return aircraft_key(self.party, self.state.aircraft_id)


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Sanity bounds on a track's state: faster or higher than anything that flies in the atmosphere;
# they keep the detectors' arithmetic far from overflow.
MAX_SPEED_MPS = 1.0e4
MAX_ABS_ALTITUDE_M = 1.0e6

_FLOAT_FIELDS = ("lat_deg", "lon_deg", "alt_m", "gs_mps", "track_deg", "vs_mps")


@dataclass(frozen=True, slots=True, eq=False)
class TrackArrays:
    """The picture the detectors read: N aircraft's states at one instant, one array per field.

    The constructor is the one place the detectors' input is checked: equal lengths, finite
    numbers in range, integer parties, distinct non-empty aircraft ids. It keeps contiguous
    read-only float64/int64 views (no copy when the caller's arrays already are), so a record,
    once built, cannot change under a detector.

    Attributes
    ----------
    ids : tuple of str
        Aircraft ids, distinct; row ``k`` of every array is aircraft ``ids[k]``.
    lat_deg, lon_deg : ndarray of float64
        WGS-84 latitude in [-90, 90] and longitude (°).
    alt_m : ndarray of float64
        Altitude (m, above the WGS-84 ellipsoid as volumes' bands are).
    gs_mps, track_deg, vs_mps : ndarray of float64
        Ground speed (m/s, >= 0), track over the ground (° true), vertical rate (m/s, up).
    party : ndarray of int64
        A code per party: aircraft with equal codes belong to one party (the caller gives each
        unidentified aircraft a code of its own).
    time_s : float
        UTC seconds of every state.

    Examples
    --------
    >>> t = TrackArrays(("a", "b"), [35.0, 35.1], [36.0, 36.0], [3000.0, 3000.0],
    ...                 [100.0, 100.0], [90.0, 270.0], [0.0, 0.0], [0, 1], time_s=0.0)
    >>> len(t), t.alt_m.dtype.name, t.party.tolist()
    (2, 'float64', [0, 1])
    >>> TrackArrays(("a", "a"), [0.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2, [0.0] * 2,
    ...             [0.0] * 2, [0, 1], time_s=0.0)
    Traceback (most recent call last):
    ...
    ValueError: aircraft ids must be distinct: 'a' appears twice
    """

    ids: tuple[str, ...]
    lat_deg: FloatArray
    lon_deg: FloatArray
    alt_m: FloatArray
    gs_mps: FloatArray
    track_deg: FloatArray
    vs_mps: FloatArray
    party: IntArray
    time_s: Seconds

    def __init__(
        self,
        ids: Sequence[str],
        lat_deg: npt.ArrayLike,
        lon_deg: npt.ArrayLike,
        alt_m: npt.ArrayLike,
        gs_mps: npt.ArrayLike,
        track_deg: npt.ArrayLike,
        vs_mps: npt.ArrayLike,
        party: npt.ArrayLike,
        *,
        time_s: Seconds,
    ) -> None:
        columns = dict(zip(_FLOAT_FIELDS,
                           (lat_deg, lon_deg, alt_m, gs_mps, track_deg, vs_mps), strict=True))
        floats = {name: _float_column(name, value) for name, value in columns.items()}
        codes = _party_column(party)
        names = tuple(ids)
        lengths = {name: arr.shape[0] for name, arr in floats.items()}
        lengths |= {"party": codes.shape[0], "ids": len(names)}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"track arrays must have equal lengths, got {lengths}")
        _check_ids(names)
        if (np.abs(floats["lat_deg"]) > 90.0).any():
            raise ValueError("lat_deg must be in [-90, 90]")
        gs = floats["gs_mps"]
        if ((gs < 0.0) | (gs > MAX_SPEED_MPS)).any():
            raise ValueError(f"gs_mps must be in [0, {MAX_SPEED_MPS:g}] m/s")
        if (np.abs(floats["vs_mps"]) > MAX_SPEED_MPS).any():
            raise ValueError(f"|vs_mps| must be at most {MAX_SPEED_MPS:g} m/s")
        if (np.abs(floats["alt_m"]) > MAX_ABS_ALTITUDE_M).any():
            raise ValueError(f"|alt_m| must be at most {MAX_ABS_ALTITUDE_M:g} m")
        time = float(time_s)
        if not math.isfinite(time):
            raise ValueError(f"time_s must be finite, got {time_s!r}")
        object.__setattr__(self, "ids", names)
        for name, arr in floats.items():
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "party", codes)
        object.__setattr__(self, "time_s", time)

    def __len__(self) -> int:
        return len(self.ids)


def _read_only(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view = arr.view()
    view.flags.writeable = False
    return view


def _float_column(name: str, value: npt.ArrayLike) -> FloatArray:
    try:
        arr = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return _read_only(arr)


def _party_column(value: npt.ArrayLike) -> IntArray:
    par = np.asarray(value)
    if par.ndim != 1:
        raise ValueError(f"party must be one-dimensional, got shape {par.shape}")
    if par.size and not (np.issubdtype(par.dtype, np.integer) or par.dtype == np.bool_):
        raise ValueError(f"party must be an array of integers, got dtype {par.dtype}")
    return _read_only(np.ascontiguousarray(par, dtype=np.int64))


def _check_ids(ids: tuple[str, ...]) -> None:
    # set-based (C loops): a per-id Python check cost as much as the detector at 1,000 aircraft
    if not all(issubclass(kind, str) for kind in set(map(type, ids))):
        wrong = next(i for i in ids if not isinstance(i, str))
        raise ValueError(f"aircraft ids must be non-empty strings, got {wrong!r}")
    unique = set(ids)
    if "" in unique:
        raise ValueError("aircraft ids must be non-empty strings, got ''")
    if len(unique) != len(ids):
        seen: set[str] = set()
        twice = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"aircraft ids must be distinct: {twice!r} appears twice")
