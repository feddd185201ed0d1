"""The dry run, POST /v1/operations/check, on SQLite and PostgreSQL: it answers what declaring
the same body would meet — acceptable (short notice? whom it overrides) or the very refusal
problem — and stores nothing, tells nobody, records nothing in the ledger."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

HOUR = timedelta(hours=1)
ACCEPTABLE_KEYS = {"acceptable", "short_notice", "overrides"}


def post_check(api, party: str, volumes: list[dict], **kw: Any) -> httpx.Response:
    return api.as_(party).post("/v1/operations/check", json=api.op_body(volumes, **kw))


def check(api, party: str, volumes: list[dict], **kw: Any) -> dict:
    """A dry run that must answer 200 as JSON (either verdict)."""
    resp = post_check(api, party, volumes, **kw)
    body = api.expect(resp, 200)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    assert isinstance(body.get("acceptable"), bool), body
    return body


def acceptable(api, party: str, volumes: list[dict], **kw: Any) -> dict:
    body = check(api, party, volumes, **kw)
    assert body["acceptable"] is True, body
    assert set(body) == ACCEPTABLE_KEYS, body
    return body


def refusal(api, party: str, volumes: list[dict], code: str, **kw: Any) -> dict:
    """The refusal a dry run reports, checked as a 409 problem object with ``code``."""
    body = check(api, party, volumes, **kw)
    assert body["acceptable"] is False and set(body) == {"acceptable", "refusal"}, body
    p = body["refusal"]
    assert p["status"] == 409 and p["code"] == code, p
    assert p["type"] == f"urn:deconfliction:problem:{code}", p
    assert isinstance(p["title"], str) and p["title"] and isinstance(p["detail"], str), p
    return p


def declared_problem(api, party: str, volumes: list[dict], code: str, **kw: Any) -> dict:
    return api.problem(api.post_op(party, volumes, **kw), 409, code)


def same_refusal(checked: dict, declared: dict) -> None:
    """The dry run's refusal is the problem declaring answers with, member for member."""
    assert checked == declared, f"dry run:\n{checked}\ndeclaring:\n{declared}"


def same_refusal_later(checked: dict, declared: dict, elapsed_s: float) -> None:
    """The same refusal, asked ``elapsed_s`` later: time shifts measured from "now" (leaving
    the notice period) may have grown by that much; everything else is the same. (Exact, with
    a fixed clock: tests/service/test_dry_run_matches_declaring.py.)"""
    def without_time_shifts(p: dict) -> dict:
        return {**p, "suggestions": [
            {**s, "shift_s": None, "volumes": [{**v, "time_start": None, "time_end": None}
                                               for v in s["volumes"]]}
            if s["kind"] == "time_shift" else s for s in p["suggestions"]]}

    def at(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    same_refusal(without_time_shifts(checked), without_time_shifts(declared))
    for a, b in zip(checked["suggestions"], declared["suggestions"], strict=True):
        if a["kind"] == "time_shift":
            grown = b["shift_s"] - a["shift_s"]
            assert 0 <= grown <= math.ceil(elapsed_s) + 1, (a, b, elapsed_s)
            for va, vb in zip(a["volumes"], b["volumes"], strict=True):  # moved by as much
                assert at(vb["time_start"]) - at(va["time_start"]) == grown, (va, vb, grown)
                assert at(vb["time_end"]) - at(va["time_end"]) == grown, (va, vb, grown)


def ledger_size(api) -> int:
    page = api.expect(api.watch.get("/v1/ledger/entries", params={"start": 0, "end": 1}), 200)
    assert isinstance(page["size"], int), page
    return page["size"]


def last_seq(api, party: str) -> int:
    return max((e["seq"] for e in api.events(party)), default=0)


def _is_conflict_event_about(op_id: str):
    return lambda ev: ev.get("kind") == "operation.conflict" and op_id in str(ev.get("data"))


# ---------------------------------------------------------------------------------------------


def test_acceptable_plan(api, geo, area):
    vol = geo.volume(geo.square(area), 3000, 4000, 5 * 3600, 6 * 3600)
    body = acceptable(api, "blue", [vol], priority=3)
    assert body == {"acceptable": True, "short_notice": False, "overrides": []}
    op = api.create_op("blue", [vol], priority=3)
    assert op["short_notice"] is False and op["state"] == "accepted"


def test_conflict_is_the_declarations_refusal_and_a_suggestion_then_checks_clear(
        api, geo, area):
    t0 = geo.now() + 5 * HOUR
    a = api.create_op("blue", [geo.volume(geo.square(area, 1000), 3000, 4000, t0, t0 + HOUR)],
                      priority=4)
    vol = geo.volume(geo.square(area, 800), 3000, 4000, t0, t0 + HOUR)
    p = refusal(api, "red", [vol], "conflict", priority=4)
    same_refusal(p, declared_problem(api, "red", [vol], "conflict", priority=4))

    assert [c["operation_id"] for c in p["conflicts"]] == [a["id"]]
    c = p["conflicts"][0]
    assert (c["owner"], c["priority"], c["ovn"]) == ("blue", 4, a["ovn"])
    assert {"footprint", "altitude_lower_m", "altitude_upper_m",
            "time_start", "time_end"} <= set(c["region"])
    kinds = {(s["kind"], (s.get("shift_s") or s.get("shift_m")) > 0) for s in p["suggestions"]}
    assert kinds == {("time_shift", False), ("time_shift", True),
                     ("altitude_shift", False), ("altitude_shift", True)}, p["suggestions"]

    # Every suggestion, applied as it is (volumes and key), checks acceptable ...
    for s in p["suggestions"]:
        assert acceptable(api, "red", s["volumes"], priority=4, key=s["key"])["overrides"] == []
    # ... and declaring the later one is accepted.
    later = next(s for s in p["suggestions"]
                 if s["kind"] == "time_shift" and s["shift_s"] > 0)
    op = api.create_op("red", later["volumes"], priority=4, key=later["key"])
    assert op["state"] == "accepted"
    geo.same_volume(later["volumes"][0], op["volumes"][0])


def test_constraint(api, geo, area):
    closed = api.create_constraint([geo.volume(geo.square(area, 3000), 0, 6000, 60, 86400)],
                                   name="check-zone")
    vol = geo.volume(geo.square(area, 500), 1000, 2000)
    p = refusal(api, "blue", [vol], "constraint", priority=9)
    same_refusal(p, declared_problem(api, "blue", [vol], "constraint", priority=9))
    assert [(k["constraint_id"], k["name"]) for k in p["constraints"]] == [
        (closed["id"], "check-zone")]
    assert "region" in p["constraints"][0]
    assert isinstance(p["suggestions"], list)
    # an exempt party's plan there is acceptable
    api.create_constraint([geo.volume(geo.square(geo.offset(area, 0, 60_000), 3000),
                                      0, 6000, 60, 86400)], exempt=["red"])
    there = geo.volume(geo.square(geo.offset(area, 0, 60_000), 500), 1000, 2000)
    assert acceptable(api, "red", [there])["overrides"] == []
    refusal(api, "blue", [there], "constraint")


def test_short_notice(api, geo, area):
    soon = geo.volume(geo.square(area), 1000, 2000, 600, 4200)
    assert acceptable(api, "blue", [soon]) == {
        "acceptable": True, "short_notice": True, "overrides": []}
    a = api.create_op("blue", [soon], priority=0)
    assert a["short_notice"] is True

    # even with a higher priority and the right key, a conflict at short notice is refused
    asked = time.monotonic()
    p = refusal(api, "red", [soon], "short_notice", priority=5, key=[a["ovn"]])
    declared = declared_problem(api, "red", [soon], "short_notice", priority=5, key=[a["ovn"]])
    same_refusal_later(p, declared, time.monotonic() - asked)
    assert [c["operation_id"] for c in p["conflicts"]] == [a["id"]]
    assert "suggestions" in p


def test_missing_ovns_then_acceptable_with_the_key_overriding(api, geo, area):
    vol = geo.volume(geo.square(area))
    a = api.create_op("blue", [vol], priority=0)
    p = refusal(api, "red", [vol], "missing_ovns", priority=1)
    same_refusal(p, declared_problem(api, "red", [vol], "missing_ovns", priority=1))
    assert p["missing_ovns"] == [{"operation_id": a["id"], "owner": "blue", "ovn": a["ovn"]}]
    refusal(api, "red", [vol], "missing_ovns", priority=1, key=["stale-ovn"])

    blue_seen = last_seq(api, "blue")
    body = acceptable(api, "red", [vol], priority=1, key=[a["ovn"]])
    assert body == {"acceptable": True, "short_notice": False, "overrides": [
        {"operation_id": a["id"], "owner": "blue", "priority": 0, "ovn": a["ovn"]}]}
    assert last_seq(api, "blue") == blue_seen, "a dry run tells nobody"

    b = api.create_op("red", [vol], priority=1, key=[a["ovn"]])
    assert api.wait_for_event("blue", _is_conflict_event_about(b["id"])) is not None


def test_replace(api, geo, area):
    a = api.create_op("blue", [geo.volume(geo.square(area))], priority=0)
    away = geo.volume(geo.square(geo.offset(area, 180, 40_000)))
    b = api.create_op("red", [away], priority=0)
    into = geo.volume(geo.square(area))

    def check_put(party: str, op_id: str, ovn: str, volumes: list[dict],
                  **kw: Any) -> httpx.Response:
        body = {"callsigns": [], "notes": "", **api.op_body(volumes, **kw)}  # the PUT body
        body["ovn"] = ovn
        return api.as_(party).post(f"/v1/operations/{op_id}/check", json=body)

    body = api.expect(check_put("red", b["id"], b["ovn"], [into]), 200)
    assert body["acceptable"] is False
    same_refusal(body["refusal"], api.problem(api.put_op("red", b["id"], b["ovn"], [into]),
                                              409, "conflict"))
    assert [c["operation_id"] for c in body["refusal"]["conflicts"]] == [a["id"]]
    # its own old version never conflicts with the new one
    assert api.expect(check_put("red", b["id"], b["ovn"], [away]), 200) == {
        "acceptable": True, "short_notice": False, "overrides": []}
    # errors of the request itself are the replace's own problems, not a verdict
    api.problem(check_put("red", b["id"], "stale", [away]), 409, "ovn_mismatch")
    api.problem(check_put("blue", b["id"], b["ovn"], [away]), 403, "forbidden")
    api.problem(check_put("red", "no-such-operation", "x", [away]), 404, "not_found")
    assert api.get_op("red", b["id"])["ovn"] == b["ovn"]


def test_bad_input_is_the_declarations_400(api, geo, area):
    vol = geo.volume(geo.square(area))
    bowtie = {"type": "Polygon", "coordinates": [[
        list(geo.offset(area, 45, 1000)), list(geo.offset(area, 225, 1000)),
        list(geo.offset(area, 135, 1000)), list(geo.offset(area, 315, 1000)),
        list(geo.offset(area, 45, 1000))]]}
    bodies: list[Any] = [
        api.op_body([geo.volume(bowtie)]),                              # self-intersecting
        api.op_body([geo.volume(geo.square(area), 2000, 1000)]),         # band upside down
        api.op_body([geo.volume(geo.square(area), 1000, 2000, 7200, 3600)]),  # window reversed
        api.op_body([geo.volume(geo.square(area), start=40 * 86400, end=40 * 86400 + 600)]),
        api.op_body([vol], state="contingent"),                          # new but off-nominal
        api.op_body([vol], state="ended"),
        api.op_body([vol], why="secret"),                                # unknown field
        api.op_body([{**vol, "time_start": vol["time_start"].rstrip("Z")}]),  # naive time
        api.op_body([]),
        [vol],
    ]
    for body in bodies:
        got = api.problem(api.blue.post("/v1/operations/check", json=body), 400,
                          "validation_error")
        want = api.problem(api.blue.post("/v1/operations", json=body), 400, "validation_error")
        assert got == want, (body, got, want)
        assert got["errors"] and all(e["field"] for e in got["errors"]), got
    api.problem(api.blue.post("/v1/operations/check", content=b"{not json",
                              headers={"Content-Type": "application/json"}),
                400, "validation_error")


def test_only_operators_may_check(api, geo, area):
    vol = geo.volume(geo.square(area))
    for party in ("watch", "mission"):
        got = api.problem(post_check(api, party, [vol]), 403, "forbidden")
        assert got == api.problem(api.post_op(party, [vol]), 403, "forbidden")
    api.problem(post_check(api, "anon", [vol]), 401, "unauthorized")


def test_nothing_is_stored(api, geo, area, fresh_area):
    vol = geo.volume(geo.square(area))
    low = api.create_op("blue", [vol], priority=0)
    high = api.create_op("spare", [geo.volume(geo.square(area), 3000, 4000)], priority=8)
    api.create_constraint([geo.volume(geo.square(fresh_area(), 3000), 0, 6000, 60, 86400)])
    ops = {o["id"]: o for o in api.list_ops("watch")}
    seqs = {p: last_seq(api, p) for p in ("blue", "red", "spare", "mission", "watch")}
    size = ledger_size(api)

    refusal(api, "red", [vol], "missing_ovns", priority=1)
    acceptable(api, "red", [vol], priority=1, key=[low["ovn"]])          # would override blue
    refusal(api, "red", [geo.volume(geo.square(area), 3000, 4000)], "conflict", priority=1)
    acceptable(api, "red", [geo.volume(geo.square(fresh_area()))])
    acceptable(api, "blue", [geo.volume(geo.square(area), 1000, 2000, 600, 4200)])
    api.expect(api.red.post("/v1/operations/check",
                            json=api.op_body([vol], priority=1, key=[low["ovn"]])), 200)

    assert {o["id"]: o for o in api.list_ops("watch")} == ops, "a dry run stores no operation"
    assert api.get_op("blue", low["id"])["ovn"] == low["ovn"]
    assert api.get_op("spare", high["id"])["ovn"] == high["ovn"]
    assert {p: last_seq(api, p) for p in seqs} == seqs, "a dry run tells nobody"
    assert ledger_size(api) == size, "a dry run records nothing in the ledger"
