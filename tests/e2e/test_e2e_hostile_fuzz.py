"""Hostile input on every body field, query parameter and header the API reads (issue 13, item 6):
nesting, numeric extremes, odd unicode digits, odd time offsets and leap seconds, years 0 and
10000, odd cursors. Whatever is sent, the line answers a 2xx or a 4xx RFC 9457 problem — never a
5xx — on both backends.

Bodies start valid (a declaration, a track batch, a message…) and one value anywhere in them —
a leaf, a list, an object, or the whole body — is replaced by a hostile JSON fragment written as
raw text (so ``NaN``, ``1e999``, 400-digit integers and 5,000-deep nesting reach the server's
parser as a client would send them). The example count is bounded (``EXAMPLES``) to keep each
backend within about a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 400

#: Digits of other scripts, superscripts, numerals, full-width: ``str.isdigit`` says yes to some.
ODD_DIGITS = ["١٢٣", "٣", "۹", "߁", "१२", "๓", "²", "¹²", "Ⅻ", "𝟗", "１２", "0x10", "1e3",
              "+5", " 7", "-1", "", "99999999999999999999999", "9223372036854775808", "1_000"]
#: Times: offsets at and past their bounds, leap seconds, years 0 and 10000, odd spellings.
ODD_TIMES = ["2026-11-28T06:00:00+23:59", "2026-11-28T06:00:00-23:59", "2026-11-28T06:00:00-00:00",
             "2026-11-28T06:00:00+24:00", "2026-12-31T23:59:60Z", "2026-11-28T23:59:60+23:59",
             "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00Z",
             "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:60Z", "10000-01-01T00:00:00Z",
             "+002026-11-28T06:00:00Z", "٢٠٢٦-١١-٢٨T06:00:00Z",
             "2026-11-28T06:00:00.1234567890123Z",
             "2026-11-28t06:00:00z", "2026-11-28 06:00:00Z", "2026-11-28T06:00:00+05:30:15",
             "2026-11-28T06:00Z", "2026-W48-5T06:00:00Z", "2026-11-28T06:00:00+0000",
             "2026-02-30T00:00:00Z", "1e10", ""]
#: Raw JSON fragments: numeric extremes and what strict JSON forbids (Python's parser takes some).
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400,
               "-" + "9" * 400, "1e-400", "-0", "-0.0", "1.7976931348623157e308", "5e-324",
               "9223372036854775808", "-9223372036854775809", "2147483648", "0.1e1", "1E+2"]
DEEP = 5000
RAW_NESTED = ["[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP,
              "[" * 100 + "1" + "]" * 100, '{"a":' * 100 + "[]" + "}" * 100]


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


ODD_FRAGMENT = st.one_of(
    st.sampled_from(RAW_NUMBERS),
    st.sampled_from(RAW_NESTED),
    st.sampled_from(ODD_TIMES).map(_as_json),
    st.sampled_from(ODD_DIGITS).map(_as_json),
    st.sampled_from(["null", "true", "[]", "{}", '""', '"\\u0000"', '"\\ud800"', '"\\udfff"',
                     '{"type": "Polygon"}', '{"__proto__": 1}', '"' + "x" * 20000 + '"']),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(_as_json),
    st.text(max_size=30).map(_as_json),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda kids: st.lists(kids, max_size=4)
                 | st.dictionaries(st.text(max_size=5), kids, max_size=4),
                 max_leaves=12).map(_as_json),
)
SENTINEL = "\x01odd\x01"


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document: the whole, each object member and list item."""
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*at, i))


def _replaced(body: Any, path: tuple[Any, ...], fragment: str) -> bytes:
    """``body`` with the value at ``path`` replaced by a raw JSON ``fragment``."""
    if not path:
        return fragment.encode("utf-8", "surrogatepass")
    copy = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = SENTINEL
    text = json.dumps(copy, ensure_ascii=False)
    return text.replace(json.dumps(SENTINEL), fragment, 1).encode("utf-8", "surrogatepass")


def _assert_answer(r: httpx.Response, what: str) -> None:
    """2xx, or a 4xx RFC 9457 problem with its status and a code; never a 5xx."""
    assert r.status_code < 500, f"{what} → {r.status_code}: {r.text[:600]}"
    if r.status_code >= 400:
        assert r.headers.get("content-type", "").startswith("application/problem+json"), (
            f"{what} → {r.status_code} {r.headers.get('content-type')}: {r.text[:300]}")
        problem = r.json()
        assert problem.get("status") == r.status_code and problem.get("code"), (
            f"{what} → {r.status_code}: {r.text[:300]}")


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def targets(server: Any, geo: Any, fresh_area: Any) -> list[tuple[str, str, str, Any]]:
    """(method, path, party, a valid body) for every write the API reads a body for, with
    the operation, constraint and message their paths name made first."""
    area = fresh_area()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    volume = {"footprint": {"type": "Circle", "center": list(area), "radius_m": 800},
              "altitude_lower_m": 100, "altitude_upper_m": 300, "time_start": _iso(start),
              "time_end": _iso(start + timedelta(hours=1))}
    square = {**volume, "footprint": geo.square(area, 500)}
    h = {p: {"Authorization": f"Bearer {t}"} for p, t in server.tokens.items()}
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        op = c.post("/v1/operations", headers=h["blue"], json={"volumes": [volume]}).json()
        con = c.post("/v1/constraints", headers=h["mission"], json={
            "volumes": [{**volume, "time_start": _iso(start + timedelta(days=5)),
                         "time_end": _iso(start + timedelta(days=5, hours=1))}]}).json()
        msg = c.post("/v1/messages", headers=h["red"], json={
            "to": "blue", "urgency": "routine", "subject": "fuzz"}).json()
        test = c.post("/v1/line/test", headers=h["red"]).json()
    report = {"aircraft_id": "fz-1", "time": _iso(datetime.now(UTC)), "lat": area[1],
              "lon": area[0], "altitude_m": 1000.0, "ground_speed_mps": 100.0,
              "track_deg": 90.0, "vertical_rate_mps": 0.0}
    operation = {"volumes": [volume, square], "priority": 1, "state": "accepted", "key": [],
                 "callsigns": ["BLUE 9"], "notes": "n"}
    return [
        ("POST", "/v1/operations", "blue", operation),
        ("POST", "/v1/operations/check", "blue", operation),
        ("PUT", f"/v1/operations/{op['id']}", "blue", {**operation, "ovn": op["ovn"]}),
        ("POST", f"/v1/operations/{op['id']}/check", "blue", {**operation, "ovn": op["ovn"]}),
        ("POST", "/v1/operations/query", "watch", {"area": {
            "footprint": volume["footprint"], "altitude_lower_m": 0, "altitude_upper_m": 1000,
            "time_start": volume["time_start"], "time_end": volume["time_end"]}}),
        ("POST", "/v1/constraints", "mission", {"kind": "no_fly", "name": "z",
                                                "volumes": [volume], "applies_to": ["red"],
                                                "exempt": ["blue"]}),
        ("PUT", f"/v1/constraints/{con['id']}", "mission", {
            "kind": "no_fly", "name": "z", "volumes": [volume], "applies_to": "all",
            "exempt": [], "ovn": con["ovn"]}),
        ("POST", "/v1/aircraft", "blue", {"id": "fz-1", "icao24": "abc123",
                                          "callsign": "FZ1", "operation_id": op["id"]}),
        ("POST", "/v1/tracks", "blue", {"reports": [report, {**report,
                                                             "aircraft_id": "fz-2"}]}),
        ("POST", "/v1/messages", "blue", {"to": "red", "urgency": "urgent", "subject": "s",
                                          "body": "b", "refs": [op["id"]]}),
        ("POST", f"/v1/messages/{msg['id']}/replies", "blue", {"reply": "standby",
                                                               "text": "t"}),
        ("PUT", "/v1/parties/me/escalation", "red", {"contacts": ["mission"]}),
        ("PUT", "/v1/parties/me/status", "red", {"status": "normal"}),
        ("PUT", "/v1/parties/me/webhook", "red", {"url": "https://hooks.example/x",
                                                  "secret": "s" * 20}),
        ("POST", f"/v1/line/test/{test['id']}/ack", "blue", {}),
    ]


def test_hostile_values_in_bodies_are_4xx_problems(server: Any, targets: list[Any]) -> None:
    """One hostile value anywhere in a valid body: 2xx or a 4xx problem, never a 5xx."""
    with httpx.Client(base_url=server.base_url, timeout=60) as c:

        @given(data=st.data(), fragment=ODD_FRAGMENT)
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(data: st.DataObject, fragment: str) -> None:
            method, path, party, body = data.draw(st.sampled_from(targets))
            at = data.draw(st.sampled_from(list(_paths(body))))
            raw = _replaced(body, at, fragment)
            r = c.request(method, path, content=raw, headers={
                "Authorization": f"Bearer {server.tokens[party]}",
                "Content-Type": "application/json"})
            _assert_answer(r, f"{method} {path} with {at} = {fragment[:200]!r}")

        fuzz()


def test_every_odd_time_in_every_time_field(server: Any, targets: list[Any]) -> None:
    """Each odd time in each field holding a time, on every body that has one."""
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for method, path, party, body in targets:
            for at in _paths(body):
                if not at or at[-1] not in ("time", "time_start", "time_end"):
                    continue
                for t in ODD_TIMES:
                    r = c.request(method, path, content=_replaced(body, at, _as_json(t)),
                                  headers={"Authorization": f"Bearer {server.tokens[party]}",
                                           "Content-Type": "application/json"})
                    _assert_answer(r, f"{method} {path} with {at} = {t!r}")


QUERY_PATHS = [
    "/v1/events?after={v}", "/v1/events?limit={v}", "/v1/events?after=0&limit={v}",
    "/v1/alerts?state={v}", "/v1/alerts?since={v}", "/v1/messages?limit={v}",
    "/v1/messages?before={v}", "/v1/ledger/entries?start={v}&end=1",
    "/v1/ledger/entries?start=0&end={v}", "/v1/ledger/proofs/inclusion?index={v}&tree_size=1",
    "/v1/ledger/proofs/inclusion?index=0&tree_size={v}",
    "/v1/ledger/proofs/consistency?first={v}&second=1",
    "/v1/ledger/proofs/consistency?first=1&second={v}", "/v1/ledger/receipts/{v}",
    "/v1/operations/{v}", "/v1/constraints/{v}", "/v1/messages/{v}", "/v1/line/test/{v}",
    "/v1/operations/{v}?ovn={v}",
]


def test_odd_cursors_and_query_values(server: Any) -> None:
    """Odd digits, huge and negative numbers, odd times in every query parameter and path id."""
    h = {"Authorization": f"Bearer {server.tokens['watch']}"}
    values = [*ODD_DIGITS, *RAW_NUMBERS, *ODD_TIMES, "%00", "a" * 5000, "../../etc/passwd"]
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for template in QUERY_PATHS:
            for v in values:
                url = template.format(v=quote(v, safe=""))
                _assert_answer(c.get(url, headers=h), f"GET {url}")
        for v in values:
            url = f"/v1/operations/{quote(v, safe='')}?ovn={quote(v, safe='')}"
            _assert_answer(c.delete(url, headers={
                "Authorization": f"Bearer {server.tokens['blue']}"}), f"DELETE {url}")


#: uvicorn's answer to a request its HTTP parser cannot read (not the application's to shape).
HTTP_LAYER_REFUSAL = "Invalid HTTP request received."


def _sse_status(server: Any, headers: dict[str, Any], query: str = "") -> tuple[int, bytes]:
    """An SSE request's status and, when 200, its first bytes (the stream must open)."""
    with httpx.Client(base_url=server.base_url, timeout=10) as c, c.stream(
            "GET", f"/v1/events{query}", headers=headers) as r:
        first = b""
        if r.status_code == 200:
            for chunk in r.iter_raw():
                first += chunk
                if first:
                    break
        else:
            r.read()
            if r.text != HTTP_LAYER_REFUSAL:  # a byte the HTTP parser refuses (DEL…)
                _assert_answer(r, f"SSE {headers} {query}")
        return r.status_code, first


def test_odd_last_event_ids_open_a_stream_or_are_refused(server: Any) -> None:
    """``Last-Event-ID`` and ``?after=`` of every odd kind (as UTF-8 bytes on the wire): a
    stream that opens with its ``retry:`` frame, or a 4xx problem."""
    token = server.tokens["red"]
    for v in [*ODD_DIGITS, *RAW_NUMBERS, "1\t", "\x7f", "1,2", "1 2"]:
        for headers, query in (
            ({"Last-Event-ID": v.encode("utf-8")}, ""),
            ({}, f"?after={quote(v, safe='')}"),
        ):
            try:
                status, first = _sse_status(server, {
                    "Authorization": f"Bearer {token}", "Accept": "text/event-stream",
                    **headers}, query)
            except httpx.LocalProtocolError:
                continue  # a value the client itself will not send (leading space, tab)
            assert status < 500, f"Last-Event-ID/after {v!r} → {status}"
            if status == 200:
                assert first.startswith(b"retry:"), f"{v!r}: stream began {first[:80]!r}"


ODD_HEADERS: list[dict[str, Any]] = [
    {"Authorization": "Bearer ١٢٣".encode()}, {"Authorization": "Bearer é".encode()},
    {"Authorization": "bearer"}, {"Authorization": "Bearer"}, {"Authorization": "Basic Zm9v"},
    {"Authorization": "Bearer " + "x" * 8000},
    {"Content-Type": "application/json; charset=utf-16"}, {"Content-Type": "text/plain"},
    {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": "ü".encode()},
    {"Accept": "text/event-stream"}, {"Accept": "application/problem+json;q=0.1, */*"},
    {"Accept": "٣".encode()}, {"Last-Event-ID": "٣".encode()},
    {"Content-Encoding": "gzip"}, {"Transfer-Encoding": "chunked"},
]


@pytest.mark.parametrize("method,path,party", [
    ("POST", "/v1/messages", "blue"), ("POST", "/v1/operations/check", "blue"),
    ("POST", "/v1/tracks", "blue"), ("GET", "/v1/messages", "blue"),
    ("GET", "/v1/parties/me", "watch"), ("PUT", "/v1/parties/me/status", "red"),
])
def test_odd_headers(server: Any, method: str, path: str, party: str) -> None:
    body = {"POST /v1/messages": {"to": "red", "urgency": "routine", "subject": "h"},
            "POST /v1/operations/check": {"volumes": []},
            "POST /v1/tracks": {"reports": []},
            "PUT /v1/parties/me/status": {"status": "normal"}}.get(f"{method} {path}")
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        for odd in ODD_HEADERS:
            if "Accept" in odd and odd["Accept"] == "text/event-stream":
                continue  # the stream itself: test_odd_last_event_ids_…
            headers = {"Authorization": f"Bearer {server.tokens[party]}", **odd}
            content = None if body is None else json.dumps(body).encode()
            try:
                r = c.request(method, path, content=content, headers=headers)
            except (httpx.RemoteProtocolError, httpx.LocalProtocolError):
                continue  # a header one HTTP layer or the other refused outright
            if "Transfer-Encoding" in odd:  # with a Content-Length: refused by the HTTP layer
                assert r.status_code < 500, f"{method} {path} {odd}: {r.status_code}"
                continue
            _assert_answer(r, f"{method} {path} with {odd}")


# Regressions: each a request that met a 500 before issue 13 (found by the fuzzing above).

@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_times_shifting_outside_years_1_to_9999_are_400(server: Any, targets: list[Any],
                                                        when: str) -> None:
    """A time whose offset moves it to year 0 or 10000 (``0001-01-01T00:00:00+23:59`` is
    0000-12-31T00:01Z): constraints, declarations, dry runs, queries and tracks answered 500
    (``ValueError: year 0 is out of range`` when the ledger entry was written)."""
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for method, path, party, body in targets:
            for at in _paths(body):
                if at and at[-1] in ("time", "time_start", "time_end"):
                    r = c.request(method, path, content=_replaced(body, at, _as_json(when)),
                                  headers={"Authorization": f"Bearer {server.tokens[party]}",
                                           "Content-Type": "application/json"})
                    _assert_answer(r, f"{method} {path} with {at} = {when}")
                    assert r.status_code == 400, f"{method} {path} {at}: {r.status_code}"


@pytest.mark.parametrize("raw", RAW_NESTED[:2])
def test_deeply_nested_hotline_writes_are_4xx(server: Any, targets: list[Any],
                                              raw: str) -> None:
    """JSON nested 5,000 deep on the hotline's writes (the lean lane) answered 500."""
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for method, path, party, body in targets:
            if not path.startswith("/v1/messages"):
                continue
            for at in [(), *(p for p in _paths(body) if len(p) == 1)]:
                r = c.request(method, path, content=_replaced(body, at, raw), headers={
                    "Authorization": f"Bearer {server.tokens[party]}",
                    "Content-Type": "application/json"})
                _assert_answer(r, f"{method} {path} with {at} nested")
                assert 400 <= r.status_code < 500
