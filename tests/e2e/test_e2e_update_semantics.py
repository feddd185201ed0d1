"""Updates that cannot surprise (issue 17): PUT replaces the whole record and refuses a body
that leaves any field out (400 naming it, nothing changed); PATCH is a JSON Merge Patch
(RFC 7396) that changes only what it names, through the same checks, ledger leaf and events
as PUT. Operations and constraints, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
OP_FIELDS = ("volumes", "priority", "state", "callsigns", "notes", "ovn")
CONSTRAINT_FIELDS = ("kind", "volumes", "name", "applies_to", "exempt", "ovn")
STORED_OP = ("volumes", "priority", "state", "callsigns", "notes", "ovn", "updated_at")
STORED_CONSTRAINT = ("kind", "volumes", "name", "applies_to", "exempt", "ovn", "updated_at")


def _named(problem: dict) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def _op(api, geo, area) -> tuple[dict, dict[str, Any]]:
    """An operation with every field away from its default, and its full PUT body."""
    volume = geo.volume(geo.square(area))
    op = api.create_op("blue", [volume], priority=5, state="activated",
                       callsigns=["BLUE11"], notes="two ships")
    body = {"volumes": [volume], "priority": 5, "state": "activated",
            "callsigns": ["BLUE11"], "notes": "two ships", "ovn": op["ovn"]}
    return op, body


def _patch(api, party: str, path: str, body: dict, headers: dict | None = None):
    return api.as_(party).patch(path, json=body, headers=headers or MERGE_PATCH)


@pytest.mark.parametrize("field", OP_FIELDS)
def test_operation_put_without_a_field_is_400_naming_it(api, geo, area, field):
    op, body = _op(api, geo, area)
    del body[field]
    problem = api.problem(api.blue.put(f"/v1/operations/{op['id']}", json=body), 400,
                          "validation_error")
    assert _named(problem) == {field}, problem
    got = api.get_op("blue", op["id"])
    assert {k: got[k] for k in STORED_OP} == {k: op[k] for k in STORED_OP}


def test_operation_put_leaving_out_everything_names_every_field(api, geo, area):
    op, _body = _op(api, geo, area)
    problem = api.problem(api.blue.put(f"/v1/operations/{op['id']}", json={}), 400)
    assert _named(problem) == set(OP_FIELDS)


def test_operation_put_with_every_field_replaces(api, geo, area):
    op, body = _op(api, geo, area)
    body.update(priority=2, state="accepted", callsigns=[], notes="")
    new = api.expect(api.blue.put(f"/v1/operations/{op['id']}", json=body), 200)
    assert (new["priority"], new["state"], new["callsigns"], new["notes"]) == (
        2, "accepted", [], "")
    assert new["ovn"] != op["ovn"] and new["receipt"]["leaf_index"] > op["receipt"]["leaf_index"]


@pytest.mark.parametrize(("field", "value"), [
    ("priority", 9), ("state", "accepted"), ("callsigns", ["BLUE12", "BLUE13"]),
    ("notes", "one ship"), ("volumes", "moved"),
])
def test_operation_patch_of_one_field_keeps_the_others(api, geo, area, field, value):
    op, _body = _op(api, geo, area)
    if value == "moved":
        value = [geo.volume(geo.square(area, 800), 1200, 1800)]
    new = api.expect(_patch(api, "blue", f"/v1/operations/{op['id']}",
                            {"ovn": op["ovn"], field: value}), 200)
    assert new["ovn"] != op["ovn"]
    assert new["receipt"]["leaf_index"] > op["receipt"]["leaf_index"]  # its ledger leaf
    for other in ("volumes", "priority", "state", "callsigns", "notes"):
        if other == field == "volumes":
            geo.same_volume(value[0], new["volumes"][0])
        elif other == field:
            assert new[other] == value
        else:
            assert new[other] == op[other], other
    assert api.get_op("blue", op["id"]) == {k: v for k, v in new.items() if k != "receipt"}


def test_operation_patch_refusals_change_nothing(api, geo, area):
    op, _body = _op(api, geo, area)
    path = f"/v1/operations/{op['id']}"
    problem = api.problem(_patch(api, "blue", path, {"ovn": op["ovn"], "priority": None}), 400)
    assert _named(problem) == {"priority"}  # null would remove a required member
    problem = api.problem(_patch(api, "blue", path, {"priority": 1}), 400)
    assert _named(problem) == {"ovn"}
    api.problem(_patch(api, "blue", path, {"ovn": "stale", "priority": 1}), 409, "ovn_mismatch")
    api.problem(_patch(api, "blue", path, {"ovn": op["ovn"], "priority": 1},
                       {"Content-Type": "application/json"}), 415, "unsupported_media_type")
    api.problem(_patch(api, "red", path, {"ovn": op["ovn"], "priority": 1}), 403)
    api.problem(_patch(api, "blue", path, {"ovn": op["ovn"], "colour": "red"}), 400)
    got = api.get_op("blue", op["id"])
    assert {k: got[k] for k in STORED_OP} == {k: op[k] for k in STORED_OP}


def test_operation_patch_meets_the_strategic_rules_and_tells_the_overridden(api, geo, area):
    """A patch is decided as a replace is: moving into red's operation at equal priority is
    refused; raising the priority over it goes through and red is told."""
    red = api.create_op("red", [geo.volume(geo.square(geo.offset(area, 90, 30_000)))])
    op, _body = _op(api, geo, area)
    path = f"/v1/operations/{op['id']}"
    onto_red = [geo.volume(geo.square(geo.offset(area, 90, 30_000)))]
    api.problem(_patch(api, "blue", path, {"ovn": op["ovn"], "volumes": onto_red,
                                           "priority": 0}), 409, "conflict")
    new = api.expect(_patch(api, "blue", path, {"ovn": op["ovn"], "volumes": onto_red,
                                                "key": [red["ovn"]]}), 200)
    assert new["priority"] == 5 and new["callsigns"] == ["BLUE11"]
    told = api.wait_for_event("red", lambda e: e["kind"] == "operation.conflict"
                              and e["data"]["operation_id"] == op["id"])
    assert told is not None and red["id"] in told["data"]["conflicts_with"]


def _constraint(api, geo, area) -> tuple[dict, dict[str, Any]]:
    volume = geo.volume(geo.square(area))
    body = {"kind": "restricted", "volumes": [volume], "name": "Aleppo",
            "applies_to": ["blue", "red"], "exempt": ["red"]}
    con = api.expect(api.mission.post("/v1/constraints", json=body), 201)
    return con, {**body, "ovn": con["ovn"]}


@pytest.mark.parametrize("field", CONSTRAINT_FIELDS)
def test_constraint_put_without_a_field_is_400_naming_it(api, geo, area, field):
    con, body = _constraint(api, geo, area)
    del body[field]
    problem = api.problem(api.mission.put(f"/v1/constraints/{con['id']}", json=body), 400,
                          "validation_error")
    assert _named(problem) == {field}, problem
    got = api.expect(api.mission.get(f"/v1/constraints/{con['id']}"), 200)
    assert {k: got[k] for k in STORED_CONSTRAINT} == {k: con[k] for k in STORED_CONSTRAINT}


@pytest.mark.parametrize(("field", "value"), [
    ("kind", "no_fly"), ("name", "Aleppo north"), ("applies_to", "all"),
    ("applies_to", ["red"]), ("exempt", []), ("volumes", "moved"),
])
def test_constraint_patch_of_one_field_keeps_the_others(api, geo, area, field, value):
    con, _body = _constraint(api, geo, area)
    if value == "moved":
        value = [geo.volume(geo.square(area, 700), 1100, 1900)]
    new = api.expect(_patch(api, "mission", f"/v1/constraints/{con['id']}",
                            {"ovn": con["ovn"], field: value}), 200)
    assert new["ovn"] != con["ovn"]
    assert new["receipt"]["leaf_index"] > con["receipt"]["leaf_index"]
    for other in ("kind", "volumes", "name", "applies_to", "exempt"):
        if other == field == "volumes":
            geo.same_volume(value[0], new["volumes"][0])
        elif other == field:
            assert new[other] == value
        else:
            assert new[other] == con[other], other
    told = api.wait_for_event("blue", lambda e: e["kind"] == "constraint.changed"
                              and e["data"]["constraint_id"] == con["id"])
    assert told is not None


def test_constraint_patch_refusals_change_nothing(api, geo, area):
    con, _body = _constraint(api, geo, area)
    path = f"/v1/constraints/{con['id']}"
    problem = api.problem(_patch(api, "mission", path, {"ovn": con["ovn"], "name": None}), 400)
    assert _named(problem) == {"name"}
    problem = api.problem(_patch(api, "mission", path,
                                 {"ovn": con["ovn"], "exempt": ["nobody-here"]}), 400)
    assert _named(problem) == {"exempt[0]"}  # the same name checks as a replace
    api.problem(_patch(api, "mission", path, {"ovn": "stale", "name": "x"}), 409,
                "ovn_mismatch")
    api.problem(_patch(api, "mission", path, {"ovn": con["ovn"], "name": "x"},
                       {"Content-Type": "application/json"}), 415, "unsupported_media_type")
    api.problem(_patch(api, "blue", path, {"ovn": con["ovn"], "name": "x"}), 403)
    got = api.expect(api.mission.get(path), 200)
    assert {k: got[k] for k in STORED_CONSTRAINT} == {k: con[k] for k in STORED_CONSTRAINT}
