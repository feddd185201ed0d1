"""Operations: create, read, list, replace and end; version tokens (ovn)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest


def test_create_returns_the_full_view(api, geo, area):
    v1 = geo.volume(geo.square(area, 1500), 500, 1500)
    v2 = geo.volume(geo.circle(geo.offset(area, 90, 5000), 2000), 1000, 2500, 9000, 12000)
    before = geo.now()
    op = api.create_op("blue", [v1, v2], priority=3, state="activated",
                       callsigns=["BLUE11", "BLUE12"], notes="recce, two ships")
    after = geo.now() + timedelta(seconds=1)
    assert set(op) == geo.FULL_VIEW_KEYS | {"receipt"}  # a write's view carries its receipt
    assert isinstance(op["id"], str) and op["id"]
    assert op["owner"] == "blue"
    assert op["priority"] == 3
    assert op["state"] == "activated"
    assert isinstance(op["ovn"], str) and op["ovn"]
    assert op["short_notice"] is False
    assert op["callsigns"] == ["BLUE11", "BLUE12"]
    assert op["notes"] == "recce, two ships"
    assert len(op["volumes"]) == 2
    geo.same_volume(v1, op["volumes"][0])
    geo.same_volume(v2, op["volumes"][1])
    created = geo.parse_time(op["created_at"])
    assert before - timedelta(seconds=5) <= created <= after + timedelta(seconds=5)
    assert geo.parse_time(op["updated_at"]) >= created


def test_get_and_list(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v], callsigns=["B1"], notes="n")
    got = api.get_op("blue", op["id"])
    assert got == {k: v for k, v in op.items() if k != "receipt"}  # the write's view, less its
    assert op["receipt"]["leaf_index"] >= 0  # ledger receipt (tests/e2e/test_e2e_ledger.py)
    listed = {o["id"]: o for o in api.list_ops("blue")}
    assert op["id"] in listed
    assert listed[op["id"]]["ovn"] == op["ovn"]
    assert listed[op["id"]]["owner"] == "blue"


def test_ids_are_unique(api, geo, area):
    a = api.create_op("blue", [geo.volume(geo.square(area))])
    b = api.create_op("blue", [geo.volume(geo.square(area))])
    assert a["id"] != b["id"]


def test_unknown_operation_is_404(api):
    for party in ("blue", "watch"):
        api.problem(api.as_(party).get(f"/v1/operations/{uuid.uuid4()}"), 404, "not_found")
        api.problem(api.as_(party).get("/v1/operations/no-such-operation"), 404, "not_found")


def test_unknown_operation_put_and_delete_are_404(api, geo, area):
    body = api.op_body([geo.volume(geo.square(area))], callsigns=[], notes="")
    body["ovn"] = "whatever"
    api.problem(api.blue.put(f"/v1/operations/{uuid.uuid4()}", json=body), 404, "not_found")
    api.problem(api.blue.delete(f"/v1/operations/{uuid.uuid4()}", params={"ovn": "x"}),
                404, "not_found")


def test_replace_with_current_ovn(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v], priority=1, callsigns=["A"], notes="first")
    v2 = geo.volume(geo.square(geo.offset(area, 0, 3000)), 2000, 3000, 14400, 18000)
    r = api.put_op("blue", op["id"], op["ovn"], [v2], priority=2, state="activated",
                   callsigns=["A", "B"], notes="second")
    new = api.expect(r, 200)
    assert set(new) == geo.FULL_VIEW_KEYS | {"receipt"}
    assert new["id"] == op["id"]
    assert new["ovn"] != op["ovn"]
    assert new["priority"] == 2 and new["state"] == "activated"
    assert new["callsigns"] == ["A", "B"] and new["notes"] == "second"
    assert len(new["volumes"]) == 1
    geo.same_volume(v2, new["volumes"][0])
    assert geo.parse_time(new["created_at"]) == geo.parse_time(op["created_at"])
    assert geo.parse_time(new["updated_at"]) >= geo.parse_time(op["updated_at"])
    # What we read back is the new version.
    assert api.get_op("blue", op["id"]) == {k: v for k, v in new.items() if k != "receipt"}
    # The old place is free, the new one is taken (as seen by the query).
    assert op["id"] not in {o["id"] for o in api.query("watch", geo.area4d(geo.square(area, 500)))}
    assert op["id"] in {o["id"] for o in api.query(
        "watch", geo.area4d(geo.square(geo.offset(area, 0, 3000), 500)))}


def test_replace_with_stale_ovn_is_409(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v])
    new = api.expect(api.put_op("blue", op["id"], op["ovn"], [v], priority=1), 200)
    stale = api.put_op("blue", op["id"], op["ovn"], [v], priority=7)
    api.problem(stale, 409, "ovn_mismatch")
    api.problem(api.put_op("blue", op["id"], "not-an-ovn", [v], priority=7), 409, "ovn_mismatch")
    got = api.get_op("blue", op["id"])
    assert got["ovn"] == new["ovn"] and got["priority"] == 1


def test_replace_without_ovn_is_refused(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v])
    r = api.blue.put(f"/v1/operations/{op['id']}", json=api.op_body([v], priority=5))
    assert r.status_code in (400, 409), r.text
    api.problem(r, r.status_code)
    assert api.get_op("blue", op["id"])["ovn"] == op["ovn"]


def test_end_an_operation(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v])
    ended = api.expect(api.blue.delete(f"/v1/operations/{op['id']}", params={"ovn": op["ovn"]}),
                       200)
    assert ended["id"] == op["id"]
    assert ended["state"] == "ended"
    assert op["id"] not in api.op_ids("blue")
    assert op["id"] not in api.op_ids("watch")
    assert op["id"] not in {o["id"] for o in api.query("watch", geo.area4d(geo.square(area)))}
    # An ended operation no longer blocks anyone.
    api.create_op("red", [v])


def test_end_with_stale_or_missing_ovn(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v])
    new = api.expect(api.put_op("blue", op["id"], op["ovn"], [v], priority=1), 200)
    api.problem(api.blue.delete(f"/v1/operations/{op['id']}", params={"ovn": op["ovn"]}),
                409, "ovn_mismatch")
    api.problem(api.blue.delete(f"/v1/operations/{op['id']}"), 400)
    got = api.get_op("blue", op["id"])
    assert got["state"] == "accepted" and got["ovn"] == new["ovn"]
    assert op["id"] in api.op_ids()


def test_ended_operation_cannot_be_replaced(api, geo, area):
    v = geo.volume(geo.square(area))
    op = api.create_op("blue", [v])
    ended = api.expect(api.blue.delete(f"/v1/operations/{op['id']}", params={"ovn": op["ovn"]}),
                       200)
    r = api.put_op("blue", op["id"], ended["ovn"], [v])
    assert r.status_code in (404, 409), f"{r.status_code} {r.text}"
    api.problem(r, r.status_code)
    assert op["id"] not in api.op_ids()


@pytest.mark.parametrize("state", ["accepted", "activated"])
def test_created_states(api, geo, area, state):
    op = api.create_op("blue", [geo.volume(geo.square(area))], state=state)
    assert op["state"] == state
    assert api.get_op("watch", op["id"])["state"] == state


@pytest.mark.parametrize("state", ["ended", "nonconforming", "bogus"])
def test_create_in_other_states_is_refused(api, geo, area, state):
    before = api.op_ids()
    r = api.post_op("blue", [geo.volume(geo.square(area))], state=state)
    api.problem(r, 400, "validation_error")
    assert api.op_ids() == before


def test_owner_cannot_change_via_body(api, geo, area):
    v = geo.volume(geo.square(area))
    r = api.blue.post("/v1/operations", json={**api.op_body([v]), "owner": "red"})
    api.problem(r, 400, "validation_error")


def test_circle_footprint_roundtrip(api, geo, area):
    v = geo.volume(geo.circle(area, 3500), 0, 120)
    op = api.create_op("blue", [v])
    geo.same_volume(v, api.get_op("watch", op["id"])["volumes"][0])
