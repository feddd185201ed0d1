"""Response bodies, for the OpenAPI document only (`api.openapi` puts them in /openapi.json).

The routes answer with the views of `api.views`, cut by the access policy; a field a reader may
not read is left out, so such fields are optional here. Nothing validates answers against these
at run time: tests/e2e/test_e2e_openapi_fuzz.py checks that the server keeps to them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An RFC 3339 UTC time, as the line writes it."""


def _undefaulted(schema: dict[str, Any]) -> None:
    """A field some readers are not shown is optional, with no default: absent means "not
    yours to read", never a value."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class Out(BaseModel):
    """A response body (extra fields may be added in later versions: clients ignore them)."""

    model_config = ConfigDict(json_schema_extra=_undefaulted)


class ProblemOut(Out):
    """An RFC 9457 problem: ``code`` is stable and machine-readable; extensions (``errors``,
    ``limit``, ``value``, ``field``, ``missing_ovns``…) depend on the code."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str


class ReceiptOut(Out):
    """A write's receipt: its ledger leaf, and where its signed head and proof will be."""

    leaf_index: int
    leaf_hash: str
    tree_head: dict[str, Any] | None = None
    url: str


class Paged(Out):
    """One page of a list: pass ``next`` as ``cursor`` for the following one."""

    next: str | None = Field(description="the cursor of the next page; null on the last")


class Written(Out):
    receipt: ReceiptOut | None = Field(
        description="the ledger receipt of this write (null if it changed nothing)")


class SeparationProfileOut(Out):
    name: str
    horizontal_m: float
    vertical_m: float
    look_ahead_s: float


class HealthOut(Out):
    status: Literal["ok"]
    version: str
    backend: str
    separation_profile: SeparationProfileOut
    notice_period_s: float


class PartyOut(Out):
    name: str
    role: Literal["operator", "authority", "observer"]
    active: bool


class PartiesOut(Out):
    parties: list[PartyOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class EventOut(Out):
    seq: int
    kind: str
    time: Time
    data: dict[str, Any]


class EventsOut(Out):
    events: list[EventOut]
    next: str | None = Field(None, description=(
        "The `after` of the next page (null: no more events yet)."))


class PolygonOut(Out):
    type: Literal["Polygon"]
    coordinates: list[list[list[float]]]


class CircleOut(Out):
    type: Literal["Circle"]
    center: list[float]
    radius_m: float


class VolumeOut(Out):
    footprint: Annotated[PolygonOut | CircleOut, Field(discriminator="type")]
    altitude_lower_m: float
    altitude_upper_m: float
    time_start: Time
    time_end: Time


class OperationOut(Out):
    """An operation: in full to its owner and observers; to others its public part (where,
    when, priority, state, version)."""

    id: str
    owner: str
    volumes: list[VolumeOut]
    priority: int
    state: str
    ovn: str
    short_notice: bool
    version: int = Field(default=0, description="owner and observers only")
    callsigns: list[str] = Field(default=[], description="owner and observers only")
    notes: str = Field(default="", description="owner and observers only")
    created_at: Time = Field(default="", description="owner and observers only")
    updated_at: Time = Field(default="", description="owner and observers only")


class OperationWrittenOut(OperationOut, Written):
    pass


class OperationsOut(Paged):
    operations: list[OperationOut]


class OperationsFoundOut(Out):
    """Every live operation in the area asked about (not paged)."""

    operations: list[OperationOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class OverrideOut(Out):
    operation_id: str
    owner: str
    priority: int
    ovn: str


class CheckOut(Out):
    """A dry run: acceptable (short notice? whose operations it overrides), or the refusal
    declaring would meet, as its problem object."""

    acceptable: bool
    short_notice: bool = False
    overrides: list[OverrideOut] = []
    refusal: ProblemOut | None = None


class ConstraintOut(Out):
    id: str
    authority: str
    kind: Literal["no_fly", "restricted"]
    name: str
    volumes: list[VolumeOut]
    applies_to: Literal["all"] | list[str]
    exempt: list[str]
    state: str
    ovn: str
    version: int
    created_at: Time
    updated_at: Time


class ConstraintWrittenOut(ConstraintOut, Written):
    pass


class ConstraintsOut(Paged):
    constraints: list[ConstraintOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class AircraftOut(Out):
    id: str
    party: str
    icao24: str | None = None
    callsign: str | None = None
    operation_id: str | None = None


class AircraftListOut(Paged):
    aircraft: list[AircraftOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class IgnoredOut(Out):
    """A state report the line did not take, and why (stale, duplicate, future…)."""

    model_config = ConfigDict(extra="allow")

    aircraft_id: str = ""
    time: Time = ""
    reason: str = ""


class TracksReportedOut(Written):
    accepted: int
    ignored: int | list[IgnoredOut] = Field(
        description="the reports not taken: their number, or each with its reason")


class TrackOut(Out):
    aircraft_id: str
    party: str
    coasting: bool
    time: Time
    lat: float
    lon: float
    altitude_m: float
    ground_speed_mps: float
    track_deg: float
    vertical_rate_mps: float


class TracksOut(Paged):
    tracks: list[TrackOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class AlertOut(Out):
    """An alert as its reader may read it: a party sees its own aircraft in full and every
    other one as its state only; observers also see ``key`` and ``parties``."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: Literal["conflict", "loss_of_separation", "constraint_incursion", "nonconformance"]
    state: str
    raised_at: Time
    updated_at: Time
    cleared_at: Time | None = None
    aircraft: list[dict[str, Any]] = []


class AlertsOut(Paged):
    alerts: list[AlertOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class RecipientOut(Out):
    """One recipient's status of a message (a fellow addressee sees only ``party``)."""

    party: str
    status: str = ""
    delivered_at: Time | None = None
    reply: Literal["acknowledged", "will_comply", "unable", "standby"] | None = None
    reply_text: str | None = None
    replied_at: Time | None = None
    escalations: int = 0
    next_escalation_at: Time | None = None


class MessageOut(Out):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    sender: str = Field(alias="from")
    to: str
    urgency: Literal["routine", "urgent", "distress"]
    subject: str
    body: str
    refs: list[str]
    time: Time
    recipients: list[RecipientOut]


class MessageWrittenOut(MessageOut, Written):
    pass


class MessagesOut(Paged):
    messages: list[MessageOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class ReplyWrittenOut(RecipientOut, Written):
    message_id: str


class PartyLinkOut(Out):
    party: str
    status: Literal["normal", "talks_suspended"]
    status_since: Time | None
    contacts: list[str]


class PartyLinkWrittenOut(PartyLinkOut, Written):
    pass


class AckOut(Out):
    acked_at: Time
    round_trip_s: float


class LinkTestOut(Out):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    sender: str = Field(alias="from")
    time: Time
    acks: dict[str, AckOut]


class LinkTestWrittenOut(LinkTestOut, Written):
    pass


class LinePartyOut(Out):
    name: str
    role: Literal["operator", "authority", "observer"]
    connected: bool
    streams: int
    last_seen: Time | None
    status: Literal["normal", "talks_suspended"]
    status_since: Time | None
    round_trip_s: float | None


class LineStateOut(Out):
    parties: list[LinePartyOut]
    latest_test: LinkTestOut | None


class WebhookOut(Out):
    """Your webhook and its delivery state (never its secret)."""

    url: str
    created_at: Time
    updated_at: Time
    delivered_seq: int
    delivered_at: Time | None
    pending: int
    failures: int
    last_error: str | None
    last_attempt_at: Time | None
    next_attempt_at: Time | None


class LedgerKeyOut(Out):
    algorithm: Literal["Ed25519"]
    key_id: str
    public_key: str = Field(description="raw Ed25519 public key, base64")
    public_key_pem: str


class TreeHeadOut(Out):
    """A signed tree head (RFC 9162 hashing): hashes hex, signature base64."""

    tree_size: int
    root_hash: str
    timestamp_ms: int
    timestamp: Time
    signature: str
    key_id: str


class InclusionOut(Out):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_proof: list[str]
    tree_head: TreeHeadOut | None


class ConsistencyOut(Out):
    first: int
    second: int
    consistency_proof: list[str]
    first_head: TreeHeadOut | None
    second_head: TreeHeadOut | None


class LedgerEntryOut(Out):
    """A leaf: its hash always; its entry (the JSON its hash covers) with need-to-know."""

    index: int
    leaf_hash: str
    entry: dict[str, Any] | None = None


class LedgerEntriesOut(Paged):
    size: int
    signed_size: int
    entries: list[LedgerEntryOut]
    next: str | None = Field(None, description=(
        "Cursor of the next page: pass it as `cursor` (null: this is the last page)."))


class LedgerReceiptOut(Out):
    leaf_index: int
    leaf_hash: str
    pending: bool
    tree_head: TreeHeadOut | None
    inclusion_proof: list[str] | None
