"""JSON views of model objects: formatting only. What each reader may read of them is the
access policy's (``service.access``): each view is cut to its reader's fields there."""

from __future__ import annotations

import dataclasses
from typing import Any

from deconfliction.model.constraint import Constraint
from deconfliction.model.event import Event
from deconfliction.model.ledger import Leaf, SignedTreeHead
from deconfliction.model.link import LinkTest, PartyLink
from deconfliction.model.message import Message, Recipient
from deconfliction.model.operation import Operation
from deconfliction.model.party import Party
from deconfliction.model.time import rfc3339
from deconfliction.model.track import Aircraft, StateReport, Track
from deconfliction.model.volume import Region, Volume, footprint_to_geojson
from deconfliction.model.webhook import Webhook
from deconfliction.service import access
from deconfliction.service.access import Kind, Relation


def volume_view(v: Volume) -> dict[str, Any]:
    return {
        "footprint": footprint_to_geojson(v.footprint),
        "altitude_lower_m": v.altitude_lower_m,
        "altitude_upper_m": v.altitude_upper_m,
        "time_start": rfc3339(v.time_start),
        "time_end": rfc3339(v.time_end),
    }


def region_view(r: Region) -> dict[str, Any]:
    return {
        "footprint": r.footprint,
        "altitude_lower_m": r.altitude_lower_m,
        "altitude_upper_m": r.altitude_upper_m,
        "time_start": rfc3339(r.time_start),
        "time_end": rfc3339(r.time_end),
    }


def operation_view(o: Operation, reader: Party) -> dict[str, Any]:
    """An operation as ``reader`` may read it: in full to its owner and observers, else its
    public part (where, when, priority, state, version)."""
    return access.cut(Kind.OPERATION, access.relation_to(reader, owner=o.owner), {
        "id": o.id, "owner": o.owner, "volumes": [volume_view(v) for v in o.volumes],
        "priority": o.priority, "state": o.state.value, "ovn": o.ovn,
        "short_notice": o.short_notice, "callsigns": list(o.callsigns), "notes": o.notes,
        "created_at": rfc3339(o.created_at), "updated_at": rfc3339(o.updated_at)})


def override_view(o: Operation) -> dict[str, Any]:
    """A lower-priority operation a plan would override: who is told, and its version (as a
    refusal's ``missing_ovns`` names it; never private fields)."""
    return {"operation_id": o.id, "owner": o.owner, "priority": o.priority, "ovn": o.ovn}


def constraint_view(c: Constraint) -> dict[str, Any]:
    """A constraint (public: every party must know where it may not fly)."""
    return access.cut(Kind.CONSTRAINT, Relation.OTHER_OPERATOR, {
        "id": c.id, "authority": c.authority, "kind": c.kind.value, "name": c.name,
        "volumes": [volume_view(v) for v in c.volumes],
        "applies_to": "all" if c.applies_to is None else list(c.applies_to),
        "exempt": list(c.exempt), "state": c.state.value, "ovn": c.ovn, "version": c.version,
        "created_at": rfc3339(c.created_at), "updated_at": rfc3339(c.updated_at),
    })


def party_view(p: Party) -> dict[str, Any]:
    return {"name": p.name, "role": p.role.value, "active": p.active}


def event_view(e: Event) -> dict[str, Any]:
    return {"seq": e.seq, "kind": e.kind, "time": rfc3339(e.time), "data": e.data}


def _when(t: float | None) -> str | None:
    return rfc3339(t) if t is not None else None


_RECIPIENT = (Kind.RECEIPT, Kind.REPLY, Kind.ESCALATION)


def recipient_view(r: Recipient, relation: Relation = Relation.OWNER) -> dict[str, Any]:
    """One recipient's status of a message: its receipt, reply and escalations, as a reader
    in ``relation`` to it may read them (its sender and itself: all; a fellow addressee: only
    that it is one)."""
    return access.cut(_RECIPIENT, relation, {
        "party": r.party, "status": r.status, "delivered_at": _when(r.delivered_at),
        "reply": r.reply.value if r.reply else None, "reply_text": r.reply_text,
        "replied_at": _when(r.replied_at), "escalations": r.escalations,
        "next_escalation_at": _when(r.escalate_at)})


def message_view(m: Message, recipients: list[Recipient], reader: Party) -> dict[str, Any]:
    """A thread as ``reader`` (its sender, an addressee or an observer) may read it: the
    message and each recipient's status (sent → delivered → replied)."""
    relation = access.relation_to(reader, owner=m.sender,
                                  concerned=[r.party for r in recipients])
    return access.cut(Kind.MESSAGE, relation, {
        "id": m.id, "from": m.sender, "to": m.to, "urgency": m.urgency.value,
        "subject": m.subject, "body": m.body, "refs": list(m.refs), "time": rfc3339(m.time),
        "recipients": [recipient_view(r, access.recipient_relation(reader, m.sender, r.party))
                       for r in recipients]})


def party_link_view(link: PartyLink) -> dict[str, Any]:
    """A party's link status (every party's to read)."""
    return access.cut(Kind.LINK_STATUS, Relation.OTHER_OPERATOR, {
        "party": link.party, "status": link.status.value,
        "status_since": _when(link.status_at), "contacts": list(link.contacts)})


def webhook_view(hook: Webhook, pending: int) -> dict[str, Any]:
    """A party's webhook and its delivery state, for that party; never its secret (the policy
    gives it to nobody)."""
    return access.cut(Kind.WEBHOOK, Relation.OWNER, {
        "url": hook.url, "created_at": rfc3339(hook.created_at),
        "updated_at": rfc3339(hook.updated_at), "delivered_seq": hook.delivered_seq,
        "delivered_at": _when(hook.delivered_at), "pending": pending,
        "failures": hook.failures, "last_error": hook.last_error,
        "last_attempt_at": _when(hook.last_attempt_at),
        "next_attempt_at": _when(hook.next_attempt_at)})


def link_test_view(t: LinkTest) -> dict[str, Any]:
    return {"id": t.id, "from": t.sender, "time": rfc3339(t.time),
            "acks": {p: {"acked_at": rfc3339(at), "round_trip_s": at - t.time}
                     for p, at in sorted(t.acks.items())}}


def jsonable(value: Any) -> Any:
    """Problem-detail extensions to JSON: volumes and regions get RFC 3339 times."""
    if isinstance(value, Volume):
        return volume_view(value)
    if isinstance(value, Region):
        return region_view(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return value


def aircraft_view(a: Aircraft, reader: Party) -> dict[str, Any]:
    """A registry entry, to its party and observers."""
    return access.cut(Kind.AIRCRAFT, access.relation_to(reader, owner=a.party), {
        "id": a.id, "party": a.party, "icao24": a.icao24, "callsign": a.callsign,
        "operation_id": a.operation_id})


def state_view(s: StateReport) -> dict[str, Any]:
    return {"time": rfc3339(s.time), "lat": s.lat, "lon": s.lon, "altitude_m": s.altitude_m,
            "ground_speed_mps": s.ground_speed_mps, "track_deg": s.track_deg,
            "vertical_rate_mps": s.vertical_rate_mps}


def track_view(t: Track, now: float, coast_s: float, reader: Party) -> dict[str, Any]:
    """A track, to its party and observers."""
    return access.cut(Kind.TRACK, access.relation_to(reader, owner=t.party), {
        "aircraft_id": t.state.aircraft_id, "party": t.party,
        "coasting": now - t.state.time > coast_s, **state_view(t.state)})


def head_view(h: SignedTreeHead) -> dict[str, Any]:
    """A signed tree head: ``SignedTreeHead.to_dict`` (hashes hex, signature base64) and its
    time in RFC 3339."""
    return {**h.to_dict(), "timestamp": rfc3339(h.timestamp_ms / 1000)}


def leaf_view(leaf: Leaf, reader: Party) -> dict[str, Any]:
    """A ledger leaf as ``reader`` may read it (``service.access.entry_view``): its hash always,
    its entry only with need-to-know."""
    return access.entry_view(leaf, reader)


def receipt_view(leaf: Leaf | None) -> dict[str, Any] | None:
    """A write's receipt: its leaf, and where to fetch the signed head and proof that will
    include it (within about a second); None if the request changed nothing."""
    if leaf is None:
        return None
    return {"leaf_index": leaf.index, "leaf_hash": leaf.leaf_hash.hex(), "tree_head": None,
            "url": f"/v1/ledger/receipts/{leaf.index}"}


def with_receipt(view: dict[str, Any], receipt: Leaf | None) -> dict[str, Any]:
    """``view`` with the ``receipt`` of the write that produced it (the service's result
    carries it)."""
    return {**view, "receipt": receipt_view(receipt)}
