"""Aircraft ids are each party's own, over HTTP against a real server (SQLite and PostgreSQL):
blue and red both fly an aircraft they call by one id, head on. Both registrations and all
reports are accepted as each party's own; the line holds two aircraft and raises one conflict
between them; each party's view of it shows its own aircraft in full and the other as a state
only — never the other party's callsign, though both use the same id.

The registry and report cases (another party's id is a new aircraft of one's own, an ICAO
address is each party's claim) are in test_e2e_tactical.py; the detection cycle's keys and the
ledger views in tests/service/test_aircraft_per_party.py.
"""

from __future__ import annotations

import json

import pytest

pytest.register_assert_rewrite("conftest_tactical")

from conftest_tactical import Feeder, alert_by_id, alerts, head_on, uid, wait_for  # noqa: E402

pytest_plugins = ["conftest_tactical"]

RAISE_TIMEOUT_S = 20.0


def test_one_id_flown_by_two_parties_is_two_aircraft_in_one_alert(tactical, fresh_area):
    api = tactical
    shared = uid("shared")
    callsigns = {"blue": "BLU777", "red": "RED777"}
    for party, callsign in callsigns.items():
        got = api.expect(api.as_(party).post("/v1/aircraft", json={
            "id": shared, "callsign": callsign}), 200)
        assert (got["id"], got["party"], got["callsign"]) == (shared, party, callsign)

    def the_conflict():
        return next((a for a in alerts(api, "watch", "raised") if a["kind"] == "conflict"
                     and [e["aircraft_id"] for e in a["aircraft"]] == [shared, shared]), None)

    with Feeder(api, head_on(("blue", "red"), (shared, shared), fresh_area())) as feeder:
        conflict = wait_for(the_conflict, RAISE_TIMEOUT_S, "a conflict between the two")
        # observers: two aircraft of one id, each with its own party and callsign
        assert sorted((e["party"], e["callsign"]) for e in conflict["aircraft"]) == [
            ("blue", "BLU777"), ("red", "RED777")], conflict
        for party, other in (("blue", "red"), ("red", "blue")):
            view = alert_by_id(api, party, conflict["id"])
            assert view is not None, f"{party} is concerned"
            own = [e for e in view["aircraft"] if e["own"]]
            theirs = [e for e in view["aircraft"] if not e["own"]]
            assert [(e["aircraft_id"], e["party"], e["callsign"]) for e in own] == [
                (shared, party, callsigns[party])], view
            assert len(theirs) == 1 and set(theirs[0]) == {"own", "state"}, view
            assert callsigns[other] not in json.dumps(view), "the other's identity stays hidden"
            # each party's tracks and registry: its own aircraft of that id, nothing of the other
            body = api.expect(api.as_(party).get("/v1/tracks"), 200)
            assert [t["party"] for t in body["tracks"] if t["aircraft_id"] == shared] == [party]
            listed = api.expect(api.as_(party).get("/v1/aircraft"), 200)["aircraft"]
            assert [a["callsign"] for a in listed if a["id"] == shared] == [callsigns[party]]
        watched = api.expect(api.watch.get("/v1/tracks"), 200)["tracks"]
        assert sorted(t["party"] for t in watched if t["aircraft_id"] == shared) == [
            "blue", "red"]
        feeder.check()
