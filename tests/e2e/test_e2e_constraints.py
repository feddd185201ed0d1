"""Constraints published by authorities: CRUD with ovn, refusal of operations within the minima,
applicability, exemptions, withdrawal; suggestions that avoid constraints."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

HOUR = timedelta(hours=1)


def _constraint_ids(problem: dict) -> set[str]:
    assert isinstance(problem.get("constraints"), list) and problem["constraints"], problem
    return {c["constraint_id"] for c in problem["constraints"]}


def test_create_read_list(api, geo, area):
    vol = geo.volume(geo.square(area, 3000), 0, 3000)
    con = api.create_constraint([vol], kind="restricted", applies_to=["blue", "red"],
                                exempt=["red"], name="Aleppo no-fly")
    assert {"id", "authority", "kind", "volumes", "applies_to", "exempt", "name", "state",
            "ovn"} <= set(con)
    assert con["authority"] == "mission"
    assert con["kind"] == "restricted"
    assert sorted(con["applies_to"]) == ["blue", "red"]
    assert con["exempt"] == ["red"]
    assert con["name"] == "Aleppo no-fly"
    assert con["state"] == "active"
    assert isinstance(con["ovn"], str) and con["ovn"]
    geo.same_volume(vol, con["volumes"][0])
    for party in ("blue", "red", "mission", "watch"):
        got = api.expect(api.as_(party).get(f"/v1/constraints/{con['id']}"), 200)
        assert got["id"] == con["id"] and got["ovn"] == con["ovn"]
        assert got["name"] == "Aleppo no-fly" and got["applies_to"] == con["applies_to"]
        assert con["id"] in api.constraint_ids(party)


def test_unknown_constraint_is_404(api):
    api.problem(api.watch.get(f"/v1/constraints/{uuid.uuid4()}"), 404, "not_found")


def test_replace_with_ovn(api, geo, area):
    con = api.create_constraint([geo.volume(geo.square(area))])
    moved = geo.volume(geo.square(geo.offset(area, 0, 40_000)))
    body = {"kind": "no_fly", "volumes": [moved], "applies_to": "all", "exempt": [],
            "name": "moved", "ovn": con["ovn"]}
    new = api.expect(api.mission.put(f"/v1/constraints/{con['id']}", json=body), 200)
    assert new["ovn"] != con["ovn"] and new["name"] == "moved" and new["state"] == "active"
    geo.same_volume(moved, new["volumes"][0])
    api.problem(api.mission.put(f"/v1/constraints/{con['id']}", json=body), 409, "ovn_mismatch")
    # The old place is open, the new one is closed.
    api.create_op("blue", [geo.volume(geo.square(area))])
    p = api.problem(api.post_op("blue", [moved]), 409, "constraint")
    assert con["id"] in _constraint_ids(p)


def test_withdraw(api, geo, area):
    vol = geo.volume(geo.square(area))
    con = api.create_constraint([vol])
    api.problem(api.post_op("blue", [vol]), 409, "constraint")
    again = api.expect(api.mission.put(f"/v1/constraints/{con['id']}", json={
        "kind": "no_fly", "volumes": [vol], "applies_to": "all", "exempt": [], "name": "v2",
        "ovn": con["ovn"]}), 200)
    api.problem(api.mission.delete(f"/v1/constraints/{con['id']}", params={"ovn": con["ovn"]}),
                409, "ovn_mismatch")
    api.problem(api.mission.delete(f"/v1/constraints/{con['id']}"), 400)
    api.problem(api.post_op("blue", [vol]), 409, "constraint")
    w = api.expect(api.mission.delete(f"/v1/constraints/{con['id']}",
                                      params={"ovn": again["ovn"]}), 200)
    assert w["state"] == "withdrawn"
    assert api.expect(api.watch.get(f"/v1/constraints/{con['id']}"), 200)["state"] == "withdrawn"
    # A withdrawn constraint refuses nothing.
    api.create_op("blue", [vol])


@pytest.mark.parametrize("kind", ["no_fly", "restricted"])
def test_operation_inside_is_refused(api, geo, area, kind):
    vol = geo.volume(geo.square(area, 3000), 0, 3000)
    con = api.create_constraint([vol], kind=kind)
    before = api.op_ids()
    for party in ("blue", "red"):
        p = api.problem(api.post_op(party, [geo.volume(geo.square(area, 500), 500, 1000)],
                                    priority=100), 409, "constraint")
        assert con["id"] in _constraint_ids(p)
    assert api.op_ids() == before


def test_minima_apply_to_constraints(api, geo, area):
    t0 = geo.now() + 3 * HOUR
    fc = geo.diamond(area, 90.0)  # tip at the area centre, body to the west

    def facing(gap_m):
        tip = geo.offset(area, 90.0, gap_m)
        return geo.diamond(tip, geo.azimuth(tip, area))

    api.create_constraint([geo.volume(fc, 0, 1000, t0, t0 + HOUR)])
    # Horizontally 9.0 km away: refused.
    api.problem(api.post_op("blue", [geo.volume(facing(9000.0), 0, 1000, t0, t0 + HOUR)]),
                409, "constraint")
    # 9.5 km away: accepted.
    api.create_op("blue", [geo.volume(facing(9500.0), 0, 1000, t0, t0 + HOUR)])
    # Directly above, 300 m gap: refused; 400 m gap: accepted.
    api.problem(api.post_op("blue", [geo.volume(fc, 1300, 2000, t0, t0 + HOUR)]),
                409, "constraint")
    api.create_op("blue", [geo.volume(fc, 1400, 2000, t0, t0 + HOUR)])
    # Right after it in time: accepted.
    api.create_op("blue", [geo.volume(fc, 0, 1000, t0 + HOUR, t0 + 2 * HOUR)])


def test_exempt_party_is_not_refused(api, geo, area):
    vol = geo.volume(geo.square(area))
    con = api.create_constraint([vol], exempt=["red"])
    api.create_op("red", [vol])
    p = api.problem(api.post_op("blue", [geo.volume(geo.square(area))]), 409, "constraint")
    assert con["id"] in _constraint_ids(p)


def test_applies_to_some_parties(api, geo, area):
    vol = geo.volume(geo.square(area))
    con = api.create_constraint([vol], applies_to=["blue"])
    api.create_op("red", [vol])
    p = api.problem(api.post_op("blue", [vol]), 409, "constraint")
    assert con["id"] in _constraint_ids(p)


def test_replace_operation_into_constraint_is_refused(api, geo, area):
    op = api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 0, 40_000)))])
    vol = geo.volume(geo.square(area))
    con = api.create_constraint([vol])
    p = api.problem(api.put_op("blue", op["id"], op["ovn"], [vol]), 409, "constraint")
    assert con["id"] in _constraint_ids(p)
    assert api.get_op("blue", op["id"])["ovn"] == op["ovn"]


def test_suggestions_avoid_constraints(api, geo, area):
    t0 = geo.now() + 5 * HOUR
    fp = geo.square(area, 1000)
    api.create_op("blue", [geo.volume(fp, 3000, 4000, t0, t0 + HOUR)])
    api.create_constraint([geo.volume(fp, 3000, 4000, t0 + HOUR, t0 + 2 * HOUR)])
    vol = geo.volume(fp, 3000, 4000, t0, t0 + HOUR)
    p = api.problem(api.post_op("red", [vol]), 409, "conflict")
    later = [s for s in p["suggestions"] if s["kind"] == "time_shift" and float(s["shift_s"]) > 0]
    assert later, p["suggestions"]
    assert min(float(s["shift_s"]) for s in later) == pytest.approx(7200, abs=1.0)
    for s in p["suggestions"]:
        api.create_op("red", s["volumes"])


def test_constraint_validation(api, geo, area):
    before = api.constraint_ids()
    huge = geo.volume(geo.circle(area, 60_000))  # ~11,300 km2 > 10,000 km2
    p = api.problem(api.post_constraint([huge]), 400, "limit_exceeded")
    assert (p["limit"], p["value"], p["field"]) == ("area_km2", 10_000, "volumes[0].footprint")
    p = api.problem(api.post_constraint([geo.volume(geo.square(area))], kind="closed"),
                    400, "validation_error")
    assert any(e["field"] == "kind" for e in p["errors"]), p
    p = api.problem(api.post_constraint([]), 400, "validation_error")
    assert any(e["field"] == "volumes" for e in p["errors"]), p
    assert api.constraint_ids() == before
    api.create_op("blue", [geo.volume(geo.square(area))])
