"""The line's limits end to end (issue 13 items 1-4): a real server with small ``[limits]``,
each limit refused with the problem that names it (400 / 413 / 429 + Retry-After), nothing
stored; and on the default server, bodies built to amplify work answered with a small problem.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

LIMITS = """
[limits]
volumes_per_operation = 3
vertices_per_polygon = 50
vertices_per_operation = 80
area_km2 = 500
span_km = 100
altitude_range_m = 5000
duration_s = 86400
reports_per_batch = 20
new_aircraft_per_batch = 5
new_aircraft_per_minute = 8
messages_per_minute = 3
nesting_depth = 10
body_bytes = 65536
"""


@pytest.fixture
def small(server_factory, backend, api_for):
    """A server with small limits (own database), and its API: for the tests of per-party rates,
    which need a party's whole allowance."""
    srv = server_factory.start(backend, config=LIMITS)
    api = api_for(srv)
    yield api
    api.close()


@pytest.fixture(scope="module")
def limited(backend, _module_servers, api_for):
    """A server with small limits shared by this module's refusals of single requests (one
    server start per backend instead of one per test): they use no rate allowance and store
    nothing, or one operation in the test's own area."""
    srv = _module_servers.start(backend, config=LIMITS)
    api = api_for(srv)
    yield api
    api.close()
    srv.stop()
    _module_servers.databases.drop(srv.db)


def _limit(api: Any, resp: Any, status: int, limit: str, value: float,
           code: str = "limit_exceeded") -> dict:
    p = api.problem(resp, status, code)
    assert (p["limit"], p["value"]) == (limit, value), p
    assert limit.split("_")[0] in p["detail"] or str(value) in p["detail"], p
    return p


def _thin(geo, centre, length_m: float) -> dict:
    """A sliver ``length_m`` long (east-west) and 200 m wide: a small area, a long span."""
    west, east = geo.offset(centre, 270, length_m / 2), geo.offset(centre, 90, length_m / 2)
    return geo.polygon([geo.offset(west, 180, 100), geo.offset(east, 180, 100),
                        geo.offset(east, 0, 100), geo.offset(west, 0, 100)])


OPERATION_LIMITS = {
    "volumes_per_operation": lambda geo, a: [geo.volume(geo.square(a))] * 4,
    "vertices_per_polygon": lambda geo, a: [geo.volume(geo.ngon(a, 3000, 51))],
    "vertices_per_operation": lambda geo, a: [geo.volume(geo.ngon(a, 3000, 45))] * 2,
    "area_km2": lambda geo, a: [geo.volume(geo.circle(a, 13_000))],
    "span_km": lambda geo, a: [geo.volume(_thin(geo, a, 150_000))],
    "altitude_range_m": lambda geo, a: [geo.volume(geo.square(a), 0, 5001)],
    "duration_s": lambda geo, a: [geo.volume(geo.square(a), start=7200, end=7200 + 86401)],
}
VALUES = {"volumes_per_operation": 3, "vertices_per_polygon": 50, "vertices_per_operation": 80,
          "area_km2": 500, "span_km": 100, "altitude_range_m": 5000, "duration_s": 86400}


@pytest.mark.parametrize("limit", list(OPERATION_LIMITS))
def test_operation_over_a_limit_is_refused_naming_it(limited, geo, area, limit):
    small = limited
    ops_before, constraints_before = small.op_ids(), small.constraint_ids()
    volumes = OPERATION_LIMITS[limit](geo, area)
    for path in ("/v1/operations", "/v1/operations/check"):
        _limit(small, small.post_op("blue", volumes) if path == "/v1/operations" else
               small.blue.post(path, json=small.op_body(volumes)), 400, limit, VALUES[limit])
    # constraints are held to the same limits
    _limit(small, small.post_constraint(volumes), 400, limit, VALUES[limit])
    assert small.op_ids() == ops_before and small.constraint_ids() == constraints_before


def test_operation_just_inside_the_limits_is_accepted(limited, geo, area):
    small = limited
    volumes = [geo.volume(geo.ngon(area, 3000, 40), 0, 5000, start=7200, end=7200 + 86400),
               geo.volume(geo.ngon(area, 3000, 40))]
    op = small.create_op("blue", volumes)
    assert op["id"] in small.op_ids()


def _report(aircraft_id: str, area) -> dict:
    now = datetime.now(UTC) - timedelta(seconds=1)
    return {"aircraft_id": aircraft_id, "time": now.isoformat().replace("+00:00", "Z"),
            "lat": area[1], "lon": area[0], "altitude_m": 1000.0, "ground_speed_mps": 100.0,
            "track_deg": 90.0}


def _aircraft(api, party: str) -> set[str]:
    body = api.expect(api.as_(party).get("/v1/aircraft"), 200)
    return {a["id"] for a in body["aircraft"]}


def test_track_batches_are_bounded(small, area):
    before = _aircraft(small, "blue")
    many = [_report(f"a{k}", area) for k in range(21)]
    _limit(small, small.blue.post("/v1/tracks", json={"reports": many}), 400,
           "reports_per_batch", 20)
    six_new = [_report(f"n{k}", area) for k in range(6)]
    _limit(small, small.blue.post("/v1/tracks", json={"reports": six_new}), 400,
           "new_aircraft_per_batch", 5)
    assert _aircraft(small, "blue") == before, "a refused batch registers nothing"
    # 8 new aircraft a minute: 5 now, then 3 more, then the 9th waits
    small.expect(small.blue.post("/v1/tracks", json={"reports": six_new[:5]}), 200)
    small.expect(small.blue.post("/v1/tracks", json={
        "reports": [_report(f"m{k}", area) for k in range(3)]}), 200)
    refused = small.blue.post("/v1/tracks", json={"reports": [_report("late", area)]})
    _limit(small, refused, 429, "new_aircraft_per_minute", 8, code="rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert "late" not in _aircraft(small, "blue")
    # known aircraft report on; another party has its own allowance
    small.expect(small.blue.post("/v1/tracks", json={"reports": six_new[:5]}), 200)
    small.expect(small.red.post("/v1/tracks", json={"reports": [_report("r1", area)]}), 200)


def test_messages_per_minute_per_party(small):
    body = {"to": "red", "urgency": "routine", "subject": "crossing"}
    sent = [small.expect(small.blue.post("/v1/messages", json=body), 201) for _ in range(3)]
    refused = small.blue.post("/v1/messages", json=body)
    _limit(small, refused, 429, "messages_per_minute", 3, code="rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    # others may still talk, and replies are never limited
    small.expect(small.red.post("/v1/messages", json={**body, "to": "blue"}), 201)
    small.expect(small.red.post(f"/v1/messages/{sent[0]['id']}/replies",
                                json={"reply": "acknowledged"}), 201)
    threads = small.expect(small.watch.get("/v1/messages"), 200)
    assert sum(1 for t in threads["messages"] if t["from"] == "blue") == 3


HOTLINE_LIMITS = """
[limits]
messages_per_minute = 5
unanswered_per_recipient = 2
link_tests_per_minute = 1
settings_per_minute = 2
declarations_per_minute = 1
"""


def test_hotline_and_line_writes_are_bounded_per_party(server_factory, backend, api_for, geo,
                                                       area):
    """A broadcast counts once per recipient (refused whole); a sender's unanswered messages
    per recipient are bounded (a broadcast leaves that recipient out); link tests, changes of
    one's settings and declarations have a rate. Each refusal a 429 naming its limit, nothing
    stored."""
    api = api_for(server_factory.start(backend, config=HOTLINE_LIMITS))
    try:
        def threads() -> int:
            return len(api.expect(api.watch.get("/v1/messages"), 200)["messages"])

        def to_(party: str, sender: str = "blue") -> Any:
            return api.as_(sender).post("/v1/messages", json={
                "to": party, "urgency": "routine", "subject": "crossing"})

        # spare: a broadcast to its three takers spends 3 of 5; a second one is refused whole
        sent = api.expect(to_("all", "spare"), 201)
        assert sorted(r["party"] for r in sent["recipients"]) == ["blue", "mission", "red"]
        before = threads()
        refused = to_("all", "spare")
        _limit(api, refused, 429, "messages_per_minute", 5, code="rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert threads() == before, "a refused broadcast stores nothing"
        # blue: two unanswered to red, the third refused; a broadcast leaves red out
        for _ in range(2):
            api.expect(to_("red"), 201)
        refused = to_("red")
        _limit(api, refused, 429, "unanswered_per_recipient", 2, code="rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        sent = api.expect(to_("all"), 201)
        assert sorted(r["party"] for r in sent["recipients"]) == ["mission", "spare"]
        assert threads() == before + 3

        # link tests: one a minute; an acknowledgement again stores nothing
        test = api.expect(api.blue.post("/v1/line/test"), 201)
        refused = api.blue.post("/v1/line/test")
        _limit(api, refused, 429, "link_tests_per_minute", 1, code="rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert api.expect(api.red.get("/v1/line"), 200)["latest_test"]["id"] == test["id"]
        for _ in range(2):
            api.expect(api.red.post(f"/v1/line/test/{test['id']}/ack"), 200)

        # one's own settings: two changes a minute, whichever they are
        api.expect(api.red.put("/v1/parties/me/status", json={"status": "talks_suspended"}),
                   200)
        api.expect(api.red.put("/v1/parties/me/escalation", json={"contacts": ["mission"]}),
                   200)
        for refused in (api.red.put("/v1/parties/me/webhook", json={
                            "url": "https://hooks.example/x", "secret": "s" * 20}),
                        api.red.delete("/v1/parties/me/webhook"),
                        api.red.put("/v1/parties/me/status", json={"status": "normal"})):
            _limit(api, refused, 429, "settings_per_minute", 2, code="rate_limited")
            assert int(refused.headers["Retry-After"]) >= 1
        api.problem(api.red.get("/v1/parties/me/webhook"), 404, "not_found")
        line = {p["name"]: p for p in api.expect(api.red.get("/v1/line"), 200)["parties"]}
        assert line["red"]["status"] == "talks_suspended"

        # declarations: one a minute here (a dry run is not one)
        volumes = [geo.volume(geo.square(area))]
        op = api.create_op("blue", volumes)
        api.expect(api.blue.post("/v1/operations/check", json=api.op_body(volumes)), 200)
        refused = api.post_op("blue", volumes)
        _limit(api, refused, 429, "declarations_per_minute", 1, code="rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert api.op_ids() == {op["id"]}
    finally:
        api.close()


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/operations", "/v1/tracks",
                                  "/v1/messages/x/replies", "/v1/constraints"])
def test_deep_nesting_is_a_400_naming_the_limit(limited, path):
    small = limited
    deep = {"to": json.loads("[" * 11 + "]" * 11)}
    _limit(small, small.blue.post(path, json=deep), 400, "nesting_depth", 10)
    # 10 deep is parsed (then refused as the wrong shape, not as too deep)
    shallow = small.blue.post(path, json={"to": json.loads("[" * 9 + "]" * 9)})
    assert shallow.status_code in (400, 404) and shallow.json()["code"] != "limit_exceeded"


def test_body_over_body_bytes_is_413(limited, geo, area):
    small = limited
    body = small.op_body([geo.volume(geo.square(area))], notes="x" * 70_000)
    _limit(small, small.blue.post("/v1/operations", json=body), 413, "body_bytes", 65536,
           code="body_too_large")
    _limit(small, small.blue.post("/v1/messages", content=b"{" + b" " * 70_000 + b"}",
                                  headers={"Content-Type": "application/json"}),
           413, "body_bytes", 65536, code="body_too_large")


# -- on the default server --------------------------------------------------------------------


@pytest.mark.parametrize("party", ["watch", "blue"])
def test_half_a_million_wrong_elements_get_a_small_problem(api, party):
    """Issue 13: {"reports": [0, 0, ...]} of 1 MB once took 9-14 s and answered 97 MB."""
    raw = b'{"reports":[' + b",".join([b"0"] * 500_000) + b"]}"
    assert len(raw) < 1 << 20
    r = api.as_(party).post("/v1/tracks", content=raw,
                            headers={"Content-Type": "application/json"})
    p = api.problem(r, 400 if party == "blue" else r.status_code)
    assert len(r.content) < 4096, len(r.content)
    assert len(p.get("errors", [])) <= 20
    api.expect(api.watch.get("/v1/health"), 200)


def test_many_wrong_volumes_list_at_most_20_errors(api, geo, area):
    bad = geo.volume(geo.square(area), 2000, 1000)  # lower above upper
    r = api.post_op("blue", [bad] * 60)
    p = api.problem(r, 400)
    assert p["code"] in ("validation_error", "limit_exceeded")
    assert len(p.get("errors", [])) <= 20


@pytest.mark.parametrize("time", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                  "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z"])
def test_times_outside_the_line_are_400(api, geo, area, time):
    v = geo.volume(geo.square(area))
    for volume in ({**v, "time_start": time}, {**v, "time_end": time}):
        for path in ("/v1/operations", "/v1/operations/check", "/v1/operations/query"):
            body = ({"area": {"footprint": volume["footprint"], "time_start": time}}
                    if path.endswith("query") else api.op_body([volume]))
            api.problem(api.blue.post(path, json=body), 400)
    r = api.blue.post("/v1/tracks", json={"reports": [{**_report("t1", area), "time": time}]})
    api.problem(r, 400)


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1" + "0" * 400, "-0"])
def test_numeric_extremes_are_400_or_taken(api, geo, area, value):
    """Huge numbers are refused; -0 is a number like any other."""
    volume = geo.volume(geo.square(area))
    text = json.dumps(api.op_body([volume])).replace('"altitude_lower_m": 1000.0',
                                                     f'"altitude_lower_m": {value}')
    r = api.blue.post("/v1/operations/check", content=text.encode(),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == (200 if value == "-0" else 400), r.text


@pytest.mark.parametrize("tail", [b"", b',"x": NaN}', b',"x": 1' + b"0" * 400 + b"}"],
                         ids=["truncated", "nan", "huge-int"])
def test_large_bodies_parsed_off_the_loop_refuse_alike(api, tail):
    """Bodies over 64 KiB are parsed by orjson off the event loop: malformed ones are still a
    400 problem, never a 500."""
    raw = b'{"notes": "' + b"x" * 70_000 + b'"' + (tail or b',"volumes": [')
    for path in ("/v1/operations", "/v1/tracks", "/v1/constraints"):
        r = api.blue.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
