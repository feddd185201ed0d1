"""The OpenAPI document at ``/openapi.json``, made to tell the truth.

FastAPI's own document says every operation may answer 422 (ours answer 400 problems), types
no success body (the routes return views as dicts) and has no security scheme. `describe`
rewrites it once, when it is first asked for:

* a bearer security scheme (``/docs`` then has "Authorize") on every operation that takes a
  token, in place of the ``Authorization`` header parameter;
* each operation's success body typed by a response model of `api.schemas` (`DOCS`);
* every problem each operation can answer, with the one RFC 9457 schema (`schemas.ProblemOut`)
  and an example; no 422 anywhere;
* stable, readable operation ids (the generated client's function names), tag descriptions,
  and an example on every request body (its times an hour or two after the document was made,
  so "Try it out" declares something the line takes).

The document is made once per process, on a worker thread at its first request, and kept as
JSON bytes: ``/openapi.json`` then costs one lookup per request.
tests/e2e/test_e2e_openapi_fuzz.py holds the server to it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from deconfliction.api import responses as s
from deconfliction.api.problems import PROBLEM_JSON, TITLES

__all__ = ["DOCS", "Doc", "describe", "install"]

BEARER = "bearer"
REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Doc:
    """What the document says of one operation beyond FastAPI's: its id, its success body and
    the problems it may answer besides those every operation of its kind may (`_statuses`)."""

    operation_id: str
    model: type[BaseModel] | None
    problems: frozenset[int] = frozenset()


def _doc(operation_id: str, model: type[BaseModel] | None, *problems: int) -> Doc:
    return Doc(operation_id, model, frozenset(problems))


# 403: the caller's role may not (observers write nothing; only authorities publish
# constraints) or the record is another party's; 404: the record named does not exist;
# 409: stale ovn, already ended, or refused (conflict, closed airspace, short notice,
# incomplete awareness key). 400, 413 (and, with a token, 401 and 429) apply to all.
DOCS: dict[tuple[str, str], Doc] = {
    ("GET", "/v1/health"): _doc("health", s.HealthOut),
    ("GET", "/v1/parties/me"): _doc("whoami", s.PartyOut),
    ("GET", "/v1/parties"): _doc("list_parties", s.PartiesOut),
    ("GET", "/v1/events"): _doc("read_events", s.EventsOut),
    ("POST", "/v1/operations"): _doc("declare_operation", s.OperationWrittenOut, 403, 409),
    ("GET", "/v1/operations"): _doc("list_operations", s.OperationsOut),
    ("POST", "/v1/operations/check"): _doc("check_declaration", s.CheckOut, 403),
    ("POST", "/v1/operations/query"): _doc("query_operations", s.OperationsFoundOut),
    ("GET", "/v1/operations/{operation_id}"): _doc("get_operation", s.OperationOut),
    ("PUT", "/v1/operations/{operation_id}"): _doc(
        "replace_operation", s.OperationWrittenOut, 403, 409),
    ("PATCH", "/v1/operations/{operation_id}"): _doc(
        "update_operation", s.OperationWrittenOut, 403, 409, 415),
    ("DELETE", "/v1/operations/{operation_id}"): _doc(
        "end_operation", s.OperationWrittenOut, 403, 409),
    ("POST", "/v1/operations/{operation_id}/check"): _doc(
        "check_replacement", s.CheckOut, 403, 409),
    ("POST", "/v1/constraints"): _doc("publish_constraint", s.ConstraintWrittenOut, 403, 409),
    ("GET", "/v1/constraints"): _doc("list_constraints", s.ConstraintsOut),
    ("GET", "/v1/constraints/{constraint_id}"): _doc("get_constraint", s.ConstraintOut),
    ("PUT", "/v1/constraints/{constraint_id}"): _doc(
        "replace_constraint", s.ConstraintWrittenOut, 403, 409),
    ("PATCH", "/v1/constraints/{constraint_id}"): _doc(
        "update_constraint", s.ConstraintWrittenOut, 403, 409, 415),
    ("DELETE", "/v1/constraints/{constraint_id}"): _doc(
        "withdraw_constraint", s.ConstraintWrittenOut, 403, 409),
    ("POST", "/v1/aircraft"): _doc("register_aircraft", s.AircraftOut, 403, 409),
    ("GET", "/v1/aircraft"): _doc("list_aircraft", s.AircraftListOut),
    ("POST", "/v1/tracks"): _doc("report_tracks", s.TracksReportedOut, 403),
    ("GET", "/v1/tracks"): _doc("list_tracks", s.TracksOut),
    ("GET", "/v1/alerts"): _doc("list_alerts", s.AlertsOut),
    ("POST", "/v1/messages"): _doc("send_message", s.MessageWrittenOut, 403),
    ("GET", "/v1/messages"): _doc("list_messages", s.MessagesOut),
    ("GET", "/v1/messages/{message_id}"): _doc("get_message", s.MessageOut),
    ("POST", "/v1/messages/{message_id}/replies"): _doc("reply", s.ReplyWrittenOut, 403),
    ("PUT", "/v1/parties/me/escalation"): _doc("set_escalation_contacts", s.PartyLinkOut, 403),
    ("GET", "/v1/parties/me/escalation"): _doc("get_escalation_contacts", s.PartyLinkOut),
    ("GET", "/v1/line"): _doc("line_state", s.LineStateOut),
    ("POST", "/v1/line/test"): _doc("send_link_test", s.LinkTestWrittenOut, 403),
    ("GET", "/v1/line/test/{test_id}"): _doc("get_link_test", s.LinkTestOut),
    ("POST", "/v1/line/test/{test_id}/ack"): _doc("ack_link_test", s.LinkTestWrittenOut, 403),
    ("PUT", "/v1/parties/me/status"): _doc("set_status", s.PartyLinkWrittenOut, 403),
    ("PUT", "/v1/parties/me/webhook"): _doc("set_webhook", s.WebhookOut),
    ("GET", "/v1/parties/me/webhook"): _doc("get_webhook", s.WebhookOut, 404),
    ("DELETE", "/v1/parties/me/webhook"): _doc("remove_webhook", None, 404),
    ("GET", "/v1/ledger/key"): _doc("ledger_key", s.LedgerKeyOut),
    ("GET", "/v1/ledger/head"): _doc("ledger_head", s.TreeHeadOut, 404),
    ("GET", "/v1/ledger/proofs/inclusion"): _doc("inclusion_proof", s.InclusionOut, 404),
    ("GET", "/v1/ledger/proofs/consistency"): _doc("consistency_proof", s.ConsistencyOut, 404),
    ("GET", "/v1/ledger/entries"): _doc("ledger_entries", s.LedgerEntriesOut),
    ("GET", "/v1/ledger/receipts/{index}"): _doc("ledger_receipt", s.LedgerReceiptOut),
}
"""Every operation's id, success body and own problems, by (method, path)."""

TAGS = [
    {"name": "line", "description": "Health, who you are, the parties, and the line itself: "
                                    "who is connected, link tests, each party's status."},
    {"name": "operations", "description": "Declare where and when you will operate (never "
                                          "why); dry runs; the live operations."},
    {"name": "constraints", "description": "Airspace an authority closes; every party reads."},
    {"name": "tactical", "description": "Your aircraft, their reported states, and the alerts "
                                        "that concern you."},
    {"name": "hotline", "description": "Messages between parties, receipts, replies and "
                                       "escalation."},
    {"name": "events", "description": "Your ordered, durable stream (SSE or JSON pages) and "
                                      "your webhook."},
    {"name": "ledger", "description": "The evidence ledger: signed tree heads, proofs "
                                      "(RFC 9162), entries by need-to-know, receipts."},
]

_EXAMPLE_PROBLEMS: dict[int, dict[str, Any]] = {
    400: {"code": "validation_error", "detail": "1 field is invalid",
          "errors": [{"field": "volumes[0].time_end", "message": "must be after time_start"}]},
    401: {"code": "unauthorized", "detail": "a valid bearer token is required"},
    403: {"code": "forbidden", "detail": "an observer may not declare operations"},
    404: {"code": "not_found", "detail": "no operation 0b7c6a2e-5d1f-4b8e-9a53-2f1d7c9e4a10"},
    409: {"code": "ovn_mismatch", "detail": "ovn 'a1b2' is not the current version"},
    413: {"code": "body_too_large", "detail": "request body exceeds 1048576 bytes",
          "limit": "body_bytes", "value": 1048576},
    415: {"code": "unsupported_media_type",
          "detail": "send the patch as Content-Type: application/merge-patch+json (RFC 7396); "
                    "got application/json"},
    429: {"code": "rate_limited",
          "detail": "over messages per minute: at most 600 a minute for one party",
          "limit": "messages_per_minute", "value": 600},
}
_DESCRIPTIONS = {
    400: "Invalid request (a field, a query parameter, or over one of the line's limits)",
    401: "No valid bearer token",
    403: "Not allowed for this party",
    404: "Not found",
    409: "Stale version (ovn), already ended, or refused (conflict, closed airspace, short "
         "notice, incomplete awareness key: see `code`)",
    413: "Request body too large",
    415: "The body is not a JSON Merge Patch (Content-Type: application/merge-patch+json)",
    429: "Too many requests (see Retry-After)",
}
# where an operation's most likely 409 is another than a stale ovn
_CONFLICT: dict[str, Any] = {
    "code": "conflict",
    "detail": "conflicts with 1 operation of another party of equal or higher priority",
    "conflicts": [{"operation_id": "5f0c9a7e-2b1d-4c3e-8f6a-9d8e7c6b5a41", "owner": "red",
                   "priority": 5}],
    "suggestions": []}
_EXAMPLES_409: dict[str, dict[str, Any]] = {
    "declare_operation": _CONFLICT, "replace_operation": _CONFLICT,
    "update_operation": _CONFLICT, "check_replacement": _CONFLICT,
    "register_aircraft": {"code": "already_exists",
                          "detail": "ICAO address 4b1805 is registered to another aircraft"},
}


def _problem_response(status: int, example: dict[str, Any] | None = None) -> dict[str, Any]:
    example = example or _EXAMPLE_PROBLEMS[status]
    body = {"type": f"urn:deconfliction:problem:{example['code']}",
            "title": TITLES[example["code"]], "status": status, **example}
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="ProblemOut")},
                                   "example": body}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                    "description": "Bearer"}}
    if status == 429:
        response["headers"] = {"Retry-After": {
            "schema": {"type": "integer"}, "description": "seconds to wait (RFC 9110)"}}
    return response


def _statuses(method: str, path: str, authenticated: bool, doc: Doc | None) -> list[int]:
    """The problem statuses an operation may answer: 400 (a NUL in its target, a body too
    deeply nested, a bad field or parameter), 413 (the guard's body limit, which reads a
    declared Content-Length on any method) and 429 (a party's share of the server, charged to
    any request that carries its token) for all; 401 where a token is needed; 404 with a path
    parameter; and the operation's own (`DOCS`)."""
    found = {400, 413, 429}
    if authenticated:
        found.add(401)
    if "{" in path:
        found.add(404)
    if doc is not None:
        found |= doc.problems
    return sorted(found)


def _in_hours(hours: float) -> str:
    when = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)
    return when.isoformat().replace("+00:00", "Z")


def _request_examples() -> dict[str, Any]:
    """An example body for each request model, by its schema name."""
    volume = {
        "footprint": {"type": "Circle", "center": [36.9, 36.6], "radius_m": 5000},
        "altitude_lower_m": 0, "altitude_upper_m": 3000,
        "time_start": _in_hours(2), "time_end": _in_hours(3)}
    polygon = {"type": "Polygon", "coordinates": [[[37.1, 36.15], [37.2, 36.15],
                                                   [37.2, 36.25], [37.1, 36.25],
                                                   [37.1, 36.15]]]}
    operation = {"volumes": [volume], "priority": 5, "state": "accepted",
                 "callsigns": ["BLUE11"], "notes": "training sortie"}
    constraint = {"kind": "no_fly", "name": "Aleppo no-fly",
                  "volumes": [{**volume, "footprint": polygon}], "applies_to": "all"}
    return {
        "OperationIn": operation,
        "OperationReplaceIn": {**operation, "ovn": "8a4f2c1e9b7d4e3f"},
        "QueryIn": {"area": {"footprint": polygon, "time_start": _in_hours(0),
                             "time_end": _in_hours(24)}},
        "ConstraintIn": constraint,
        "ConstraintReplaceIn": {**constraint, "ovn": "8a4f2c1e9b7d4e3f"},
        "OperationPatchIn": {"ovn": "8a4f2c1e9b7d4e3f", "priority": 7},
        "ConstraintPatchIn": {"ovn": "8a4f2c1e9b7d4e3f", "exempt": ["mission"]},
        "AircraftIn": {"id": "blue-1", "icao24": "4b1805", "callsign": "BLUE11"},
        "TrackBatchIn": {"reports": [{
            "aircraft_id": "blue-1", "time": _in_hours(0), "lat": 36.2, "lon": 37.16,
            "altitude_m": 1500, "ground_speed_mps": 120, "track_deg": 90,
            "vertical_rate_mps": 0}]},
        "MessageIn": {"to": "red", "urgency": "urgent", "subject": "Entering sector 4",
                      "body": "Two aircraft at FL100 from 06:00Z", "refs": []},
        "ReplyIn": {"reply": "acknowledged", "text": "copied"},
        "ContactsIn": {"contacts": ["red"]},
        "StatusIn": {"status": "normal"},
        "WebhookIn": {"url": "https://ops.example.org/deconfliction/events",
                      "secret": "a-long-random-secret-of-32-bytes"},
    }


def _component_schemas() -> dict[str, Any]:
    """The response models' JSON schemas (serialised form: ``from``, not ``sender``)."""
    models = {d.model for d in DOCS.values() if d.model is not None} | {s.ProblemOut}
    _, top = models_json_schema([(m, "serialization") for m in sorted(models, key=str)],
                                ref_template=REF)
    found: dict[str, Any] = top.get("$defs", {})
    return found


def describe(app: FastAPI) -> dict[str, Any]:
    """The whole document for ``app`` (made anew: `install` keeps it)."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes, tags=TAGS)
    components = doc.setdefault("components", {})
    defined = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        defined.pop(name, None)
    defined.update(_component_schemas())
    codes = ", ".join(f"`{code}`" for code in (*TITLES, "method_not_allowed",
                                               "headers_too_large"))
    defined["ProblemOut"]["properties"]["code"]["description"] = (
        f"What went wrong, for programs (stable): {codes}")
    components["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer",
        "description": "The party's token, from `deconfliction party add NAME --role ROLE`."}}
    examples = _request_examples()
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            entry = DOCS.get(key)
            parameters = operation.get("parameters", [])
            kept = [p for p in parameters
                    if not (p.get("in") == "header" and p.get("name", "").lower()
                            == "authorization")]
            authenticated = len(kept) != len(parameters)
            if kept:
                operation["parameters"] = kept
            else:
                operation.pop("parameters", None)
            if authenticated:
                operation["security"] = [{BEARER: []}]
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if entry is not None:
                operation["operationId"] = entry.operation_id
                success = [code for code in responses if code.startswith("2")]
                if entry.model is not None and success:
                    content = responses[success[0]].setdefault("content", {})
                    content["application/json"] = {
                        "schema": {"$ref": REF.format(model=entry.model.__name__)}}
            special = _EXAMPLES_409.get(entry.operation_id) if entry is not None else None
            for code in _statuses(key[0], path, authenticated, entry):
                responses[str(code)] = _problem_response(code, special if code == 409 else None)
            for body in operation.get("requestBody", {}).get("content", {}).values():
                name = body.get("schema", {}).get("$ref", "").rpartition("/")[2]
                if name in examples:  # JSON, or a JSON Merge Patch (RFC 7396)
                    body["example"] = examples[name]
    return doc


def install(app: FastAPI) -> None:
    """Serve `describe`'s document at ``/openapi.json``, made on first request and kept."""
    kept: dict[str, Any] = {}
    # FastAPI's own route renders the document anew on every request: this one replaces it
    app.router.routes[:] = [r for r in app.router.routes
                            if getattr(r, "path", None) != "/openapi.json"]

    def openapi() -> dict[str, Any]:
        if "doc" not in kept:
            kept["doc"] = describe(app)
        document: dict[str, Any] = kept["doc"]
        return document

    app.openapi = openapi  # type: ignore[method-assign]

    def render() -> bytes:
        if "bytes" not in kept:
            kept["bytes"] = json.dumps(openapi(), separators=(",", ":")).encode()
        document: bytes = kept["bytes"]
        return document

    async def openapi_json(_request: Request) -> Response:
        if "bytes" in kept:
            return Response(kept["bytes"], media_type="application/json")
        # made once, off the event loop: ~0.1-0.3 s of schema generation holds no one else
        return Response(await asyncio.to_thread(render), media_type="application/json")

    app.add_route("/openapi.json", openapi_json, include_in_schema=False)

