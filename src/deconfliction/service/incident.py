"""An incident package: what a joint review of an incident needs, taken from the ledger.

The ledger holds every version of what the line accepted, so the picture at any past time can be
rebuilt from it and proven: the operations and constraints in force during the window (their
latest versions by then), the alerts raised, updated and cleared in it (each update carries the
involved aircraft's states, so they trace where the aircraft were), the hotline traffic with its
receipts, replies and escalations, and the track batches reported. Each entry comes with its
inclusion proof under the latest signed head, so every party can check the package against the
heads it kept. An ``area`` keeps only what lies in it (aircraft positions, footprints) and the
traffic that refers to those.

A package is made for one reader (``service.access``): for the line's own review (no reader, or
an observer) it holds the whole truth — each alert's observers' entry; for a party, only the
entries that party may read in full — its own records, the public ones and its own view of each
alert (never another party's aircraft identity).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deconfliction.engine.strategic import footprints_intersecting
from deconfliction.engine.tree_head import SignedTreeHead, key_id, public_key_to_raw_b64
from deconfliction.model.ledger import Leaf
from deconfliction.model.party import Party
from deconfliction.model.time import rfc3339
from deconfliction.model.volume import CircleFootprint, Footprint, footprint_from_geojson
from deconfliction.service import access, ledger
from deconfliction.service.errors import FieldError, ValidationFailed
from deconfliction.service.line import Line
from deconfliction.store.base import Repository

PAGE = 10_000  # leaves read per query
_ENDED = {"operation": "ended", "constraint": "withdrawn"}


@dataclass
class Incident:
    """The contents of a package (see the module docstring); entries as the ledger holds them."""

    start: float
    end: float
    area: dict[str, Any] | None
    head: SignedTreeHead
    key: dict[str, str]
    operations: list[dict[str, Any]] = field(default_factory=list)  # latest versions by `end`
    constraints: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # every alert entry in the window
    messages: list[dict[str, Any]] = field(default_factory=list)  # message.sent in the window
    traffic: list[dict[str, Any]] = field(default_factory=list)  # receipts, replies, escalations
    tracks: list[dict[str, Any]] = field(default_factory=list)  # track batch digests
    leaves: list[dict[str, Any]] = field(default_factory=list)  # each kept entry with its proof

    def to_json(self) -> dict[str, Any]:
        return {"format": "deconfliction-incident/v1", "from": rfc3339(self.start),
                "to": rfc3339(self.end), "area": self.area, "key": self.key,
                "tree_head": self.head.to_dict(), "operations": self.operations,
                "constraints": self.constraints, "alerts": self.alerts,
                "messages": self.messages, "traffic": self.traffic, "tracks": self.tracks,
                "ledger": self.leaves}


def parse_area(data: Any) -> Footprint:
    """An area as GeoJSON: a Polygon, the line's Circle, or a Feature holding one."""
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or data.get("type") not in ("Polygon", "Circle"):
        raise ValidationFailed([FieldError("area", "a GeoJSON Polygon or Circle (or a Feature "
                                                   "with one)")])
    try:
        return footprint_from_geojson(data)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ValidationFailed([FieldError("area", f"not a valid footprint: {error}")]) from None


def _positions(alert: dict[str, Any]) -> Iterator[tuple[float, float]]:
    for aircraft in alert.get("details", {}).get("aircraft", []):
        state = aircraft.get("state") or {}
        if isinstance(state.get("lon"), int | float) and isinstance(state.get("lat"), int | float):
            yield float(state["lon"]), float(state["lat"])


def _in_window(record: dict[str, Any], start: float, end: float) -> bool:
    times = [datetime.fromisoformat(v["time_start"]).timestamp() for v in record["volumes"]]
    ends = [datetime.fromisoformat(v["time_end"]).timestamp() for v in record["volumes"]]
    return any(t0 < end and t1 > start for t0, t1 in zip(times, ends, strict=True))


def _reported(entry: dict[str, Any]) -> set[tuple[str, str]]:
    """The (party, aircraft id) pairs a ``tracks.reported`` entry records: its aircraft, each of
    the party it names (a feed batch recorded before one entry per party named several: each
    of its ids is taken as any of theirs)."""
    return {(party, aircraft_id) for party in entry["parties"]
            for aircraft_id in entry["body"]["aircraft"]}


def _touches(area: Footprint | None, footprints: Sequence[Footprint]) -> bool:
    return area is None or bool(footprints and footprints_intersecting(area, footprints).any())


async def collect(line: Line, start: float, end: float,
                  area_geojson: dict[str, Any] | None = None, *,
                  reader: Party | None = None) -> Incident:
    """Everything of the window ``[start, end]`` (UTC seconds) in ``area`` that ``reader`` may
    read (None: the line's own review, as observers read it), with proofs."""
    if end <= start:
        raise ValidationFailed([FieldError("to", "the window must end after it starts")])
    area = parse_area(area_geojson) if area_geojson is not None else None
    key = await ledger.signing_key(line)
    while await ledger.sign_pending(line, key) is not None:
        pass
    head = await ledger.latest_head(line)
    public = key.public_key()
    incident = Incident(start, end, area_geojson, head,
                        {"algorithm": "Ed25519", "key_id": key_id(public),
                         "public_key": public_key_to_raw_b64(public)})

    latest: dict[tuple[str, str], tuple[Leaf, dict[str, Any]]] = {}
    window: list[tuple[Leaf, dict[str, Any]]] = []
    for first in range(0, head.tree_size, PAGE):
        last = min(head.tree_size, first + PAGE)

        async def read(repo: Repository, a: int = first, b: int = last) -> list[Leaf]:
            return await repo.ledger_leaves(a, b)

        for leaf in await line.store.interact(read):
            if leaf.time > end or (reader is not None and not access.leaf_readable(leaf, reader)):
                continue
            entry = leaf.content()
            if leaf.kind.startswith("alert.") and (reader is None or reader.sees_everything) and (
                    entry["body"].get("view") == access.PARTY_VIEW):
                continue  # a party's view of an alert whose whole truth is in its own entry
            subject = leaf.kind.split(".")[0]
            if subject in _ENDED:
                latest[(subject, entry["body"]["id"])] = (leaf, entry)
            elif leaf.time >= start:
                window.append((leaf, entry))

    kept: list[Leaf] = []
    for (subject, _id), (leaf, entry) in sorted(latest.items(), key=lambda i: i[1][0].index):
        body = entry["body"]
        ended = body["state"] == _ENDED[subject] and leaf.time < start
        footprints = [footprint_from_geojson(v["footprint"]) for v in body["volumes"]]
        if not ended and _in_window(body, start, end) and _touches(area, footprints):
            (incident.operations if subject == "operation" else incident.constraints).append(
                body)
            kept.append(leaf)
    ids = {b["id"] for b in incident.operations + incident.constraints}
    aircraft: set[tuple[str, str]] = set()  # (party, id): ids are each party's own
    for leaf, entry in window:
        if leaf.kind.startswith("alert."):
            points: list[Footprint] = [CircleFootprint(p, 1.0) for p in _positions(entry["body"])]
            if _touches(area, points) or entry["body"]["details"].get("operation_id") in ids or (
                    entry["body"]["details"].get("constraint", {}).get("id") in ids):
                incident.alerts.append({"time": entry["time"], "transition": leaf.kind,
                                        **entry["body"]})
                ids.add(entry["body"]["id"])
                sides = entry["body"]["details"].get("aircraft", [])
                aircraft |= {(a["party"], a["aircraft_id"]) for a in sides
                             if "aircraft_id" in a and "party" in a}
                kept.append(leaf)
    messages: set[str] = set()
    for leaf, entry in window:
        body = entry["body"]
        if leaf.kind == "message.sent" and (area is None or set(body["refs"]) & ids):
            incident.messages.append(body)
            messages.add(body["id"])
            kept.append(leaf)
        elif leaf.kind in ("message.delivered", "message.replied", "message.escalated") and (
                body["message_id"] in messages):
            incident.traffic.append({"kind": leaf.kind, "time": entry["time"], **body})
            kept.append(leaf)
        elif leaf.kind == "tracks.reported" and (area is None or _reported(entry) & aircraft):
            incident.tracks.append({"time": entry["time"], "parties": entry["parties"], **body})
            kept.append(leaf)
    kept.sort(key=lambda leaf: leaf.index)

    async def proofs(repo: Repository) -> dict[int, list[bytes]]:
        return await ledger.inclusion_proofs(repo, [leaf.index for leaf in kept], head.tree_size)

    paths = await line.store.interact(proofs)
    incident.leaves = [{"index": leaf.index, "leaf_hash": leaf.leaf_hash.hex(),
                        "entry": leaf.content(),
                        "inclusion_proof": [p.hex() for p in paths[leaf.index]]}
                       for leaf in kept]
    return incident
