"""Authentication (bearer tokens) and role checks on every endpoint."""

from __future__ import annotations

import pytest

READ_ENDPOINTS = [
    ("GET", "/v1/operations", None),
    ("GET", "/v1/constraints", None),
    ("GET", "/v1/events?after=0&limit=100", None),
]


def _query_body(geo, area):
    return {"area": geo.area4d(geo.square(area, 1000))}


def test_health_needs_no_token(api):
    r = api.anon.get("/v1/health")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize("method,path,_", READ_ENDPOINTS)
def test_reads_without_token_are_401(api, method, path, _):
    api.problem(api.anon.request(method, path), 401)


def test_every_endpoint_without_token_is_401(api, geo, area):
    vol = geo.volume(geo.square(area))
    op = api.create_op("blue", [vol])
    con = api.create_constraint([geo.volume(geo.square(geo.offset(area, 0, 40_000)))])
    calls = [
        ("POST", "/v1/operations", {"volumes": [vol], "priority": 0, "state": "accepted"}),
        ("GET", f"/v1/operations/{op['id']}", None),
        ("PUT", f"/v1/operations/{op['id']}",
         {"volumes": [vol], "priority": 0, "state": "accepted", "callsigns": [], "notes": "",
          "ovn": op["ovn"]}),
        ("DELETE", f"/v1/operations/{op['id']}?ovn={op['ovn']}", None),
        ("POST", "/v1/operations/query", _query_body(geo, area)),
        ("POST", "/v1/constraints", {"kind": "no_fly", "volumes": [vol], "applies_to": "all",
                                     "exempt": [], "name": "x"}),
        ("GET", f"/v1/constraints/{con['id']}", None),
        ("PUT", f"/v1/constraints/{con['id']}", {"kind": "no_fly", "volumes": [vol],
                                                 "applies_to": "all", "exempt": [], "name": "x",
                                                 "ovn": con["ovn"]}),
        ("DELETE", f"/v1/constraints/{con['id']}?ovn={con['ovn']}", None),
        ("GET", "/v1/events?after=0&limit=100", None),
    ]
    for method, path, body in calls:
        api.problem(api.anon.request(method, path, json=body), 401)
    # Nothing changed.
    assert api.get_op("blue", op["id"])["ovn"] == op["ovn"]
    assert api.get_op("blue", op["id"])["state"] == "accepted"
    got = api.expect(api.watch.get(f"/v1/constraints/{con['id']}"), 200)
    assert got["ovn"] == con["ovn"] and got["state"] == "active"


@pytest.mark.parametrize("header", [
    "Bearer not-a-real-token",
    "Bearer",
    "Basic Ymx1ZTpibHVl",
    "bearer",
])
def test_bad_tokens_are_401(api, geo, area, header):
    c = api.anon
    r = c.get("/v1/operations", headers={"Authorization": header})
    api.problem(r, 401)
    before = api.op_ids()
    r = c.post("/v1/operations", headers={"Authorization": header},
               json=api.op_body([geo.volume(geo.square(area))]))
    api.problem(r, 401)
    assert api.op_ids() == before


def test_altered_tokens_are_401(api):
    token = api.tokens["blue"]
    for bad in (token + "x", token[:-1], token.upper() if token.upper() != token else token + "Z"):
        api.problem(api.with_token(bad).get("/v1/operations"), 401)


def test_every_party_can_read(api, geo, area):
    op = api.create_op("blue", [geo.volume(geo.square(area))])
    con = api.create_constraint([geo.volume(geo.square(geo.offset(area, 0, 40_000)))])
    for party in ("blue", "red", "mission", "watch"):
        c = api.as_(party)
        assert op["id"] in {o["id"] for o in api.expect(c.get("/v1/operations"), 200)["operations"]}
        assert api.expect(c.get(f"/v1/operations/{op['id']}"), 200)["id"] == op["id"]
        found = api.expect(c.post("/v1/operations/query", json=_query_body(geo, area)), 200)
        assert op["id"] in {o["id"] for o in found["operations"]}
        cons = api.expect(c.get("/v1/constraints"), 200)["constraints"]
        assert con["id"] in {x["id"] for x in cons}
        assert api.expect(c.get(f"/v1/constraints/{con['id']}"), 200)["id"] == con["id"]
        assert isinstance(api.expect(c.get("/v1/events", params={"after": 0, "limit": 100}),
                                     200)["events"], list)


@pytest.mark.parametrize("party", ["mission", "watch"])
def test_only_operators_create_operations(api, geo, area, party):
    before = api.op_ids()
    api.problem(api.post_op(party, [geo.volume(geo.square(area))]), 403)
    assert api.op_ids() == before
    assert api.query("watch", geo.area4d(geo.square(area, 3000))) == []


@pytest.mark.parametrize("party", ["mission", "watch", "red"])
def test_only_the_owner_replaces_or_ends_an_operation(api, geo, area, party):
    vol = geo.volume(geo.square(area))
    op = api.create_op("blue", [vol], notes="blue's")
    moved = geo.volume(geo.square(area), lower=3000, upper=4000)
    api.problem(api.put_op(party, op["id"], op["ovn"], [moved]), 403)
    api.problem(api.as_(party).delete(f"/v1/operations/{op['id']}",
                                      params={"ovn": op["ovn"]}), 403)
    after = api.get_op("blue", op["id"])
    assert after["ovn"] == op["ovn"]
    assert after["state"] == "accepted"
    geo.same_volume(vol, after["volumes"][0])


def _constraint_body(geo, area, **kw):
    body = {"kind": "no_fly", "volumes": [geo.volume(geo.square(area))], "applies_to": "all",
            "exempt": [], "name": "closed"}
    body.update(kw)
    return body


@pytest.mark.parametrize("party", ["blue", "red", "watch"])
def test_only_authorities_create_constraints(api, geo, area, party):
    before = api.constraint_ids()
    api.problem(api.as_(party).post("/v1/constraints", json=_constraint_body(geo, area)), 403)
    assert api.constraint_ids() == before
    # And an operation there is not refused by a phantom constraint.
    api.create_op("blue", [geo.volume(geo.square(area))])


@pytest.mark.parametrize("party", ["blue", "red", "watch"])
def test_only_authorities_replace_or_withdraw_constraints(api, geo, area, party):
    con = api.create_constraint([geo.volume(geo.square(area))])
    body = _constraint_body(geo, geo.offset(area, 0, 30_000), ovn=con["ovn"])
    api.problem(api.as_(party).put(f"/v1/constraints/{con['id']}", json=body), 403)
    api.problem(api.as_(party).delete(f"/v1/constraints/{con['id']}",
                                      params={"ovn": con["ovn"]}), 403)
    after = api.expect(api.watch.get(f"/v1/constraints/{con['id']}"), 200)
    assert after["ovn"] == con["ovn"]
    assert after["state"] == "active"
    # Still enforced.
    api.problem(api.post_op("blue", [geo.volume(geo.square(area))]), 409, "constraint")


def test_revoked_token_stops_working(api, server, geo, area, cli):
    c = api.spare
    assert api.expect(c.get("/v1/operations"), 200)["operations"] is not None
    api.create_op("spare", [geo.volume(geo.square(area))])

    proc = cli.run(server.db, "party", "revoke", "spare")
    assert proc.returncode == 0, f"revoke failed: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"

    # The running server stops accepting the token at once: it reads the party on every
    # request (no cache to wait for), and the revocation has committed when the CLI returns.
    api.problem(c.get("/v1/operations"), 401)
    before = api.op_ids()
    api.problem(api.post_op("spare", [geo.volume(geo.square(geo.offset(area, 0, 50_000)))]), 401)
    assert api.op_ids() == before
    # Other parties are unaffected.
    api.expect(api.blue.get("/v1/operations"), 200)
