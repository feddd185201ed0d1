"""Alerts: what the line tells parties about live traffic, and the typed picture behind each.

An alert's ``details`` is one of three records: an `Encounter` (two aircraft closer than the
minima, now or within the look-ahead), an `Incursion` (an aircraft in, or about to enter, a
constraint) or a `Nonconformance` (an aircraft outside every volume of its operation). Each holds
one `AircraftSide` per aircraft involved: whose it is, its identity and its state at the alert.
Who may read which part is the access policy's business (``service.access``), not this module's.

The JSON form (`details_to_json`, `details_from_json`) is the one the alert table and GET
/v1/alerts have always used, so rows written before the records were typed read back the same.

Examples
--------
>>> side = AircraftSide("blue", "b-1", "BLUE 1", "abc123",
...                     AircraftState(0.0, 36.2, 37.1, 7600.0, 230.0, 90.0, 0.0))
>>> n = Nonconformance(side, "op-1", "blue")
>>> details_from_json(AlertKind.NONCONFORMANCE, details_to_json(n)) == n
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from deconfliction.model.time import rfc3339
from deconfliction.model.units import Degrees, Metres, MetresPerSecond, Seconds


class AlertKind(StrEnum):
    CONFLICT = "conflict"  # predicted loss of separation within the look-ahead
    LOSS_OF_SEPARATION = "loss_of_separation"  # separation lost now
    CONSTRAINT_INCURSION = "constraint_incursion"  # inside, or about to enter, closed airspace
    NONCONFORMANCE = "nonconformance"  # outside every volume of its operation


class AlertState(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class AircraftState:
    """Where an aircraft was and how it moved at the alert (position extrapolated to the cycle
    time): what another party may learn of it — never whose it is."""

    time: Seconds
    lat: Degrees
    lon: Degrees
    altitude_m: Metres
    ground_speed_mps: MetresPerSecond
    track_deg: Degrees
    vertical_rate_mps: MetresPerSecond


@dataclass(frozen=True, slots=True)
class AircraftSide:
    """One aircraft in an alert: its party and identity (id, callsign, ICAO 24-bit address),
    and its state."""

    party: str
    aircraft_id: str
    callsign: str | None
    icao24: str | None
    state: AircraftState


@dataclass(frozen=True, slots=True)
class EncounterFigures:
    """A pair's predicted encounter: when separation is lost and regained, the closest point of
    approach (time, horizontal distance, vertical distance) and whether it is lost now."""

    t_in_s: Seconds
    t_out_s: Seconds
    tcpa_s: Seconds
    dcpa_m: Metres
    vertical_at_cpa_m: Metres
    lost_now: bool


@dataclass(frozen=True, slots=True)
class Encounter:
    """A conflict or loss of separation between two aircraft, under a separation profile."""

    aircraft: tuple[AircraftSide, AircraftSide]
    figures: EncounterFigures
    profile: str

    @property
    def sides(self) -> tuple[AircraftSide, ...]:
        return self.aircraft


@dataclass(frozen=True, slots=True)
class ConstraintRef:
    """The constraint an incursion is about (constraints are public)."""

    id: str
    name: str
    kind: str
    authority: str


@dataclass(frozen=True, slots=True)
class Incursion:
    """An aircraft inside a constraint, or predicted to enter it in ``time_to_entry_s``."""

    aircraft: AircraftSide
    constraint: ConstraintRef
    inside_now: bool
    time_to_entry_s: Seconds

    @property
    def sides(self) -> tuple[AircraftSide, ...]:
        return (self.aircraft,)


@dataclass(frozen=True, slots=True)
class Nonconformance:
    """An aircraft outside every volume of the operation it flies."""

    aircraft: AircraftSide
    operation_id: str
    operation_owner: str

    @property
    def sides(self) -> tuple[AircraftSide, ...]:
        return (self.aircraft,)


AlertDetails = Encounter | Incursion | Nonconformance


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert through its life; ``parties`` are those told, ``details`` the latest picture."""

    id: str
    kind: AlertKind
    key: tuple[str, ...]
    parties: tuple[str, ...]
    state: AlertState
    raised_at: float
    updated_at: float
    cleared_at: float | None
    details: AlertDetails


# --- JSON (the alert table's column, the API's wire format) ---------------------------------

def state_to_json(s: AircraftState) -> dict[str, Any]:
    return {"time": rfc3339(s.time), "lat": s.lat, "lon": s.lon, "altitude_m": s.altitude_m,
            "ground_speed_mps": s.ground_speed_mps, "track_deg": s.track_deg,
            "vertical_rate_mps": s.vertical_rate_mps}


def side_to_json(side: AircraftSide) -> dict[str, Any]:
    return {"aircraft_id": side.aircraft_id, "party": side.party, "callsign": side.callsign,
            "icao24": side.icao24, "state": state_to_json(side.state)}


def details_to_json(details: AlertDetails) -> dict[str, Any]:
    """The whole truth of ``details`` as JSON data (observers' view; what the table stores)."""
    if isinstance(details, Encounter):
        f = details.figures
        return {"aircraft": [side_to_json(s) for s in details.aircraft],
                "encounter": {"t_in_s": f.t_in_s, "t_out_s": f.t_out_s, "tcpa_s": f.tcpa_s,
                              "dcpa_m": f.dcpa_m, "vertical_at_cpa_m": f.vertical_at_cpa_m,
                              "lost_now": f.lost_now},
                "profile": details.profile}
    if isinstance(details, Incursion):
        c = details.constraint
        return {"aircraft": [side_to_json(details.aircraft)],
                "constraint": {"id": c.id, "name": c.name, "kind": c.kind,
                               "authority": c.authority},
                "incursion": {"inside_now": details.inside_now,
                              "time_to_entry_s": details.time_to_entry_s}}
    return {"aircraft": [side_to_json(details.aircraft)], "operation_id": details.operation_id,
            "operation_owner": details.operation_owner}


def _state(data: Mapping[str, Any]) -> AircraftState:
    return AircraftState(datetime.fromisoformat(data["time"]).timestamp(), data["lat"],
                         data["lon"], data["altitude_m"], data["ground_speed_mps"],
                         data["track_deg"], data["vertical_rate_mps"])


def _side(data: Mapping[str, Any]) -> AircraftSide:
    return AircraftSide(data["party"], data["aircraft_id"], data.get("callsign"),
                        data.get("icao24"), _state(data["state"]))


def details_from_json(kind: AlertKind, data: Mapping[str, Any]) -> AlertDetails:
    """``details`` of an alert of ``kind`` read back from `details_to_json`'s form (rows written
    before ``icao24`` was recorded read it as None)."""
    sides = [_side(a) for a in data["aircraft"]]
    if kind in (AlertKind.CONFLICT, AlertKind.LOSS_OF_SEPARATION):
        e = data["encounter"]
        return Encounter((sides[0], sides[1]), EncounterFigures(
            e["t_in_s"], e["t_out_s"], e["tcpa_s"], e["dcpa_m"], e["vertical_at_cpa_m"],
            bool(e["lost_now"])), data["profile"])
    if kind is AlertKind.CONSTRAINT_INCURSION:
        c, i = data["constraint"], data["incursion"]
        return Incursion(sides[0], ConstraintRef(c["id"], c["name"], c["kind"], c["authority"]),
                         bool(i["inside_now"]), i["time_to_entry_s"])
    return Nonconformance(sides[0], data["operation_id"], data["operation_owner"])
