"""Restart: stop the server and start it again on the same database; everything is still there
and still enforced."""

from __future__ import annotations


def test_restart_keeps_parties_operations_and_constraints(backend, server_factory, api_for,
                                                          geo, area):
    srv = server_factory.start(backend)
    api = api_for(srv)
    try:
        vol = geo.volume(geo.square(area), 1000, 2000)
        a = api.create_op("blue", [vol], priority=0, callsigns=["B1"], notes="kept")
        b = api.create_op("red", [vol], priority=1, key=[a["ovn"]], notes="red kept")
        gone = api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 0, 30_000)))])
        api.expect(api.blue.delete(f"/v1/operations/{gone['id']}", params={"ovn": gone["ovn"]}),
                   200)
        closed = geo.volume(geo.square(geo.offset(area, 180, 40_000)))
        c = api.create_constraint([closed], name="kept closed", exempt=["red"])
        w = api.create_constraint([geo.volume(geo.square(geo.offset(area, 90, 40_000)))])
        w = api.expect(api.mission.delete(f"/v1/constraints/{w['id']}",
                                          params={"ovn": w["ovn"]}), 200)
        event = api.wait_for_event(
            "blue",
            lambda e: e.get("kind") == "operation.conflict" and geo.mentions(e["data"], b["id"]))
        views = {p: api.get_op(p, a["id"]) for p in ("blue", "red", "watch")}
        c_view = api.expect(api.watch.get(f"/v1/constraints/{c['id']}"), 200)
    finally:
        api.close()

    old_url = srv.base_url
    srv.restart()
    api = api_for(srv)
    try:
        assert srv.base_url != old_url or srv.starts > 1
        # Parties: every token still works, and for the same party.
        for party in ("blue", "red", "mission", "watch", "spare"):
            api.expect(api.as_(party).get("/v1/operations"), 200)
        api.problem(api.with_token("not-a-token").get("/v1/operations"), 401)
        # Operations: same views, same ovn; need-to-know still applies.
        for party, before in views.items():
            assert api.get_op(party, a["id"]) == before
        assert api.get_op("red", b["id"])["ovn"] == b["ovn"]
        assert api.get_op("red", b["id"])["notes"] == "red kept"
        ids = api.op_ids()
        assert {a["id"], b["id"]} <= ids and gone["id"] not in ids
        # Constraints.
        assert api.expect(api.watch.get(f"/v1/constraints/{c['id']}"), 200) == c_view
        assert api.expect(api.watch.get(f"/v1/constraints/{w['id']}"), 200)["state"] == "withdrawn"
        # Events stay in the durable stream.
        if event is not None:
            assert any(e["seq"] == event["seq"] and e["kind"] == event["kind"]
                       for e in api.events("blue"))
        # Rules are still enforced against what was stored before the restart.
        p = api.problem(api.post_op("spare", [vol], priority=0), 409, "conflict")
        assert a["id"] in {x["operation_id"] for x in p["conflicts"]}
        p = api.problem(api.post_op("blue", [closed]), 409, "constraint")
        assert c["id"] in {x["constraint_id"] for x in p["constraints"]}
        api.create_op("red", [closed])  # still exempt
        api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 90, 40_000)))])  # withdrawn
        # The stored ovn is the current one.
        # (A moves up, clear of red's higher-priority operation B.)
        higher = geo.volume(geo.square(area), 5000, 6000)
        new = api.expect(api.put_op("blue", a["id"], a["ovn"], [higher], priority=0,
                                    callsigns=["B1"], notes="after restart"), 200)
        assert new["ovn"] != a["ovn"]
        api.problem(api.put_op("blue", a["id"], a["ovn"], [higher]), 409, "ovn_mismatch")
    finally:
        api.close()
