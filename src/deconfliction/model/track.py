"""Aircraft and tracks: the live picture the tactical layer watches."""

from __future__ import annotations

from dataclasses import dataclass

from deconfliction.model.units import Degrees, Metres, MetresPerSecond, Seconds

UNIDENTIFIED = "unidentified"
"""The pseudo-party of aircraft no party claims — still deconflicted against, each on its own."""


@dataclass(frozen=True, slots=True)
class Aircraft:
    """A registry entry: ties an aircraft to its party and, optionally, to an operation."""

    id: str
    party: str
    icao24: str | None = None  # ICAO 24-bit address, lowercase hex
    callsign: str | None = None
    operation_id: str | None = None


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
