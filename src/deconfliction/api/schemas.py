"""Request bodies: strict (unknown fields, NaN and naive times are errors), SI units."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.operation import OperationState
from deconfliction.model.track import StateReport
from deconfliction.model.volume import CircleFootprint, Footprint, PolygonFootprint, Volume

Position = tuple[float, float]

# Structural ceilings, checked while parsing (a list's length before its items, and a list
# stops at its first wrong item: ``fail_fast``), so no body can make validation or its error
# list expensive. The line's configured limits (`model.limits.Limits`, lower by default) are
# checked by the service and refused naming the limit.
MAX_RING_POSITIONS = 10_001  # ASTM F3548-21: at most 10,000 vertices per polygon, + closing
MAX_RINGS = 1_000
MAX_VOLUMES = 1_000
MAX_REPORTS = 10_000
MAX_PARTIES_NAMED = 1_000


def _text_time(value: Any) -> Any:
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an RFC 3339 time string with an offset, e.g. 2026-11-28T06:00:00Z")


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far past any plan, and any shift of one stays
# within the years 1-9999 that times can be written in (a view of it can never fail)


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)  # an offset like -23:59 may carry 9999-12-31 past 9999
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_text_time), AfterValidator(_in_range)]
"""An RFC 3339 time with an offset, as a JSON string (not a number: no epoch guessing),
between 1970 and 9000 UTC."""
INT32 = 2**31 - 1


NUL_MESSAGE = "must not contain the NUL character (U+0000)"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False  # numbers, times, nested models (checked by their own validator)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """No text with U+0000 reaches a store: PostgreSQL cannot hold it (SQLite could, and
        the backends must answer alike)."""
        if _holds_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value


class PolygonIn(Strict):
    """GeoJSON Polygon (RFC 7946): closed rings of [lon, lat], exterior first."""

    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Annotated[list[Position], Field(max_length=MAX_RING_POSITIONS, fail_fast=True)]],
        Field(min_length=1, max_length=MAX_RINGS, fail_fast=True)]

    def to_model(self) -> PolygonFootprint:
        return PolygonFootprint(tuple(tuple(p for p in ring) for ring in self.coordinates))


class CircleIn(Strict):
    """Every point within ``radius_m`` of ``center`` ([lon, lat])."""

    type: Literal["Circle"]
    center: Position
    radius_m: float

    def to_model(self) -> CircleFootprint:
        return CircleFootprint(self.center, self.radius_m)


FootprintIn = Annotated[PolygonIn | CircleIn, Field(discriminator="type")]


def _seconds(t: datetime) -> float:
    return t.timestamp()


class VolumeIn(Strict):
    """Footprint × altitude band (m, WGS84) × time window (RFC 3339)."""

    footprint: FootprintIn
    altitude_lower_m: float
    altitude_upper_m: float
    time_start: Rfc3339
    time_end: Rfc3339

    def to_model(self) -> Volume:
        return Volume(self.footprint.to_model(), self.altitude_lower_m, self.altitude_upper_m,
                      _seconds(self.time_start), _seconds(self.time_end))


Priority = Annotated[int, Field(ge=-INT32, le=INT32)]
OperationStateIn = Literal["accepted", "activated", "nonconforming", "contingent"]
VolumesIn = Annotated[list[VolumeIn], Field(max_length=MAX_VOLUMES, fail_fast=True)]
KeyIn = Annotated[list[Annotated[str, Field(max_length=64)]],
                  Field(max_length=10_000, fail_fast=True)]
CallsignsIn = Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=100)]
NotesIn = Annotated[str, Field(max_length=10_000)]
OvnIn = Annotated[str, Field(max_length=64)]


class OperationIn(Strict):
    """A declaration: where and when (never why), with priority and awareness key."""

    volumes: VolumesIn
    priority: Priority = 0
    state: OperationStateIn = "accepted"
    key: KeyIn = []
    callsigns: CallsignsIn = []
    notes: NotesIn = ""

    def volumes_model(self) -> tuple[Volume, ...]:
        return tuple(v.to_model() for v in self.volumes)

    def state_model(self) -> OperationState:
        return OperationState(self.state)


class OperationReplaceIn(OperationIn):
    """A full replacement (PUT): every field is required, so nothing changes that the body
    does not say — a missing field is a 400 naming it, never a silent default (issue 17)."""

    ovn: OvnIn
    priority: Priority
    state: OperationStateIn
    callsigns: CallsignsIn
    notes: NotesIn
    # ``key`` stays optional: the awareness key is this request's, not a field of the
    # operation, so leaving it out changes nothing stored


class MergePatch(Strict):
    """A JSON Merge Patch (RFC 7396) of a record whose members are all required: a member
    absent is left as it is; ``null`` (remove it) is refused, since none may be removed."""

    @field_validator("*", mode="before")
    @classmethod
    def _not_removed(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("null would remove this member (RFC 7396), and it is required: "
                             "give its new value, or leave it out to keep it")
        return value


class OperationPatchIn(MergePatch):
    """PATCH (``application/merge-patch+json``): the current ``ovn`` and only the fields to
    change; the others keep their values."""

    ovn: OvnIn
    volumes: VolumesIn | None = None
    priority: Priority | None = None
    state: OperationStateIn | None = None
    key: KeyIn | None = None
    callsigns: CallsignsIn | None = None
    notes: NotesIn | None = None


class AreaIn(Strict):
    """A 4D area of interest; a missing band or window means any."""

    footprint: FootprintIn
    altitude_lower_m: float | None = None
    altitude_upper_m: float | None = None
    time_start: Rfc3339 | None = None
    time_end: Rfc3339 | None = None

    def footprint_model(self) -> Footprint:
        return self.footprint.to_model()


class QueryIn(Strict):
    area: AreaIn

    @model_validator(mode="before")
    @classmethod
    def _bare_area(cls, data: Any) -> Any:
        """Accept the area's fields at the top level too."""
        if isinstance(data, dict) and "area" not in data and "footprint" in data:
            return {"area": data}
        return data


ConstraintKindIn = Literal["no_fly", "restricted"]
ConstraintNameIn = Annotated[str, Field(max_length=200)]
AppliesToIn = Literal["all"] | Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(min_length=1, max_length=MAX_PARTIES_NAMED, fail_fast=True)]
ExemptIn = Annotated[list[Annotated[str, Field(max_length=64)]],
                     Field(max_length=MAX_PARTIES_NAMED, fail_fast=True)]


class ConstraintIn(Strict):
    """Closed airspace: for every operator (``"all"``) or the named parties, less exemptions."""

    kind: ConstraintKindIn = "no_fly"
    volumes: VolumesIn
    name: ConstraintNameIn = ""
    applies_to: AppliesToIn = "all"
    exempt: ExemptIn = []

    def kind_model(self) -> ConstraintKind:
        return ConstraintKind(self.kind)

    def applies_to_model(self) -> tuple[str, ...] | None:
        return None if self.applies_to == "all" else tuple(self.applies_to)


class ConstraintReplaceIn(ConstraintIn):
    """A full replacement (PUT): every field is required (a missing one is a 400 naming it)."""

    ovn: OvnIn
    kind: ConstraintKindIn
    name: ConstraintNameIn
    applies_to: AppliesToIn
    exempt: ExemptIn


class ConstraintPatchIn(MergePatch):
    """PATCH (``application/merge-patch+json``): the current ``ovn`` and only the fields to
    change."""

    ovn: OvnIn
    kind: ConstraintKindIn | None = None
    volumes: VolumesIn | None = None
    name: ConstraintNameIn | None = None
    applies_to: AppliesToIn | None = None
    exempt: ExemptIn | None = None


class AircraftIn(Strict):
    """Register one of your aircraft: its id, ICAO address, callsign and operation."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    icao24: Annotated[str, Field(min_length=6, max_length=6)] | None = None
    callsign: Annotated[str, Field(max_length=16)] | None = None
    operation_id: Annotated[str, Field(max_length=36)] | None = None


class StateReportIn(Strict):
    """One state of one aircraft: position (WGS84), altitude (m), velocity (m/s, ° true)."""

    aircraft_id: Annotated[str, Field(min_length=1, max_length=64)]
    time: Rfc3339
    lat: float
    lon: float
    altitude_m: float
    ground_speed_mps: float
    track_deg: float
    vertical_rate_mps: float = 0.0

    def to_model(self) -> StateReport:
        return StateReport(self.aircraft_id, self.time.timestamp(), self.lat, self.lon,
                           self.altitude_m, self.ground_speed_mps, self.track_deg,
                           self.vertical_rate_mps)


class TrackBatchIn(Strict):
    reports: Annotated[list[StateReportIn],
                       Field(min_length=1, max_length=MAX_REPORTS, fail_fast=True)]


class MessageIn(Strict):
    """A hotline message to one party or to ``"all"``; ``refs`` name operations, constraints
    or alerts."""

    to: Annotated[str, Field(min_length=1, max_length=64)]
    urgency: Literal["routine", "urgent", "distress"]
    subject: Annotated[str, Field(min_length=1, max_length=200)]
    body: Annotated[str, Field(max_length=10_000)] = ""
    refs: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                    Field(max_length=100)] = []


class ReplyIn(Strict):
    reply: Literal["acknowledged", "will_comply", "unable", "standby"]
    text: Annotated[str, Field(max_length=10_000)] | None = None


class ContactsIn(Strict):
    contacts: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                        Field(max_length=100)]


class StatusIn(Strict):
    status: Literal["normal", "talks_suspended"]


class WebhookIn(Strict):
    """Your webhook: where your events are POSTed, and the secret that signs them."""

    url: Annotated[str, Field(min_length=1, max_length=2048)]
    secret: Annotated[str, Field(min_length=16, max_length=256)]
