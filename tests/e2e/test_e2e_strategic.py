"""Strategic deconfliction: conflicts, suggestions, priorities and OVN keys, notifications,
short notice; the same rules on replace (PUT)."""

from __future__ import annotations

from datetime import timedelta

import pytest

HOUR = timedelta(hours=1)


def _conflict_ids(problem: dict) -> set[str]:
    assert isinstance(problem.get("conflicts"), list) and problem["conflicts"], problem
    return {c["operation_id"] for c in problem["conflicts"]}


def _is_conflict_event_about(op_id: str):
    return lambda ev: ev.get("kind") == "operation.conflict" and op_id in str(ev.get("data"))


# ---------------------------------------------------------------------------------------------
# Equal or higher priority: refused with the conflicts and suggestions
# ---------------------------------------------------------------------------------------------


def test_equal_priority_conflict_is_refused_with_details(api, geo, area):
    t0 = geo.now() + 5 * HOUR
    fp = geo.square(area, 1000)
    a_vol = geo.volume(fp, 3000, 4000, t0, t0 + HOUR)
    a = api.create_op("blue", [a_vol], priority=0)
    before = api.op_ids()

    b_vol = geo.volume(geo.square(area, 800), 3000, 4000, t0, t0 + HOUR)
    p = api.problem(api.post_op("red", [b_vol], priority=0), 409, "conflict")
    assert before == api.op_ids(), "a refused operation must not be stored"

    assert len(p["conflicts"]) == 1, p["conflicts"]
    c = p["conflicts"][0]
    assert c["operation_id"] == a["id"]
    assert c["owner"] == "blue"
    assert c["priority"] == 0
    region = c["region"]
    assert {"footprint", "altitude_lower_m", "altitude_upper_m", "time_start",
            "time_end"} <= set(region)
    assert region["footprint"]["type"] in ("Polygon", "Circle")
    rs, re_ = geo.parse_time(region["time_start"]), geo.parse_time(region["time_end"])
    assert rs < re_
    assert rs < t0 + HOUR and re_ > t0, "the region must lie in the time the two overlap"
    assert region["altitude_lower_m"] <= region["altitude_upper_m"]
    assert region["altitude_lower_m"] < 4000 + geo.V and region["altitude_upper_m"] > 3000 - geo.V
    # Private fields of the other party's operation never leak through a conflict.
    assert "notes" not in c and "callsigns" not in c


def test_higher_priority_existing_operation_refuses(api, geo, area):
    vol = geo.volume(geo.square(area))
    a = api.create_op("blue", [vol], priority=5)
    p = api.problem(api.post_op("red", [vol], priority=2, key=[a["ovn"]]), 409, "conflict")
    c = next(c for c in p["conflicts"] if c["operation_id"] == a["id"])
    assert c["owner"] == "blue" and c["priority"] == 5


def test_conflict_in_any_volume_counts(api, geo, area, fresh_area):
    elsewhere = fresh_area()
    a = api.create_op("blue", [geo.volume(geo.square(area))])
    vols = [geo.volume(geo.square(elsewhere)), geo.volume(geo.square(area), 1500, 2500)]
    p = api.problem(api.post_op("red", vols), 409, "conflict")
    assert a["id"] in _conflict_ids(p)


def _shifted_times(sent: dict, got: dict, geo) -> float:
    ds = (geo.parse_time(got["time_start"]) - geo.parse_time(sent["time_start"])).total_seconds()
    de = (geo.parse_time(got["time_end"]) - geo.parse_time(sent["time_end"])).total_seconds()
    assert ds == pytest.approx(de, abs=1.0), "a time shift moves start and end together"
    return ds


def test_suggestions_clear_the_conflict_and_are_accepted(api, geo, area):
    t0 = geo.now() + 5 * HOUR
    a = api.create_op("blue", [geo.volume(geo.square(area, 1000), 3000, 4000, t0, t0 + HOUR)])
    b_vol = geo.volume(geo.square(area, 1000), 3000, 4000, t0, t0 + HOUR)
    p = api.problem(api.post_op("red", [b_vol], priority=0), 409, "conflict")
    assert a["id"] in _conflict_ids(p)
    sugg = p.get("suggestions")
    assert isinstance(sugg, list) and sugg, p

    by_kind: dict[str, list[dict]] = {}
    for s in sugg:
        assert s["kind"] in ("time_shift", "altitude_shift"), s
        assert isinstance(s["volumes"], list) and len(s["volumes"]) == 1, s
        by_kind.setdefault(s["kind"], []).append(s)

    # Time: the smallest earlier and later shifts are exactly one hour (strict overlap).
    shifts = {}
    for s in by_kind.get("time_shift", []):
        shift = float(s["shift_s"])
        got = s["volumes"][0]
        assert _shifted_times(b_vol, got, geo) == pytest.approx(shift, abs=1.0)
        assert got["altitude_lower_m"] == pytest.approx(3000)
        assert got["altitude_upper_m"] == pytest.approx(4000)
        shifts["earlier" if shift < 0 else "later"] = shift
    assert set(shifts) == {"earlier", "later"}, f"want an earlier and a later time shift: {sugg}"
    assert shifts["earlier"] == pytest.approx(-3600, abs=1.0)
    assert shifts["later"] == pytest.approx(3600, abs=1.0)

    # Altitude: nearest clear bands are V (1000 ft) above A's top and below A's bottom.
    alts = {}
    for s in by_kind.get("altitude_shift", []):
        shift = float(s["shift_m"])
        got = s["volumes"][0]
        assert got["altitude_lower_m"] == pytest.approx(3000 + shift, abs=1e-3)
        assert got["altitude_upper_m"] == pytest.approx(4000 + shift, abs=1e-3)
        assert geo.parse_time(got["time_start"]) == t0
        alts["up" if shift > 0 else "down"] = shift
    assert set(alts) == {"up", "down"}, f"want altitude shifts up and down: {sugg}"
    assert alts["up"] == pytest.approx(1000 + geo.V, abs=1.0)
    assert alts["down"] == pytest.approx(-(1000 + geo.V), abs=1.0)

    # Every suggestion, submitted as is, is accepted (red's own operations never conflict).
    for s in sugg:
        op = api.create_op("red", s["volumes"], priority=0)
        assert op["short_notice"] is False


def test_suggestions_skip_every_conflict(api, geo, area):
    """Two blue operations back to back: the later shift must clear both."""
    t0 = geo.now() + 5 * HOUR
    fp = geo.square(area, 1000)
    api.create_op("blue", [geo.volume(fp, 3000, 4000, t0, t0 + HOUR)])
    api.create_op("red", [geo.volume(fp, 3000, 4000, t0 + HOUR, t0 + 2 * HOUR)])
    vol = geo.volume(fp, 3000, 4000, t0, t0 + HOUR)
    p = api.problem(api.post_op("spare", [vol]), 409, "conflict")
    later = [float(s["shift_s"]) for s in p["suggestions"]
             if s["kind"] == "time_shift" and float(s["shift_s"]) > 0]
    assert later and min(later) == pytest.approx(7200, abs=1.0), p["suggestions"]
    s = next(s for s in p["suggestions"] if s["kind"] == "time_shift" and float(s["shift_s"]) > 0)
    api.create_op("spare", s["volumes"])


# ---------------------------------------------------------------------------------------------
# Lower priority only: accepted with the OVN key; lower-priority owners are told
# ---------------------------------------------------------------------------------------------


def test_missing_ovns_then_success_and_notification(api, geo, area):
    vol = geo.volume(geo.square(area))
    a = api.create_op("blue", [vol], priority=0)
    before = api.op_ids()

    p = api.problem(api.post_op("red", [vol], priority=1), 409, "missing_ovns")
    assert p["missing_ovns"] == [{"operation_id": a["id"], "owner": "blue", "ovn": a["ovn"]}]
    p = api.problem(api.post_op("red", [vol], priority=1, key=["stale-ovn"]), 409, "missing_ovns")
    assert [m["operation_id"] for m in p["missing_ovns"]] == [a["id"]]
    assert api.op_ids() == before

    b = api.create_op("red", [vol], priority=1, key=[a["ovn"]], callsigns=["REDSECRET1"],
                      notes="red-private-notes")
    assert b["priority"] == 1
    assert b["id"] in api.op_ids()
    # The lower-priority operation stays as it was.
    assert api.get_op("blue", a["id"])["ovn"] == a["ovn"]

    ev = api.wait_for_event("blue", _is_conflict_event_about(b["id"]))
    assert ev is not None, f"blue was not told about {b['id']}: {api.events('blue')[-10:]}"
    assert isinstance(ev["seq"], int)
    geo.parse_time(ev["time"])
    assert isinstance(ev["data"], dict)
    assert geo.mentions(ev["data"], b["id"])
    # Need-to-know holds in events too.
    assert "REDSECRET1" not in str(ev) and "red-private-notes" not in str(ev)
    # The new operation's owner does not get it.
    assert not any(_is_conflict_event_about(b["id"])(e) for e in api.events("red"))
    # Paging: limit and after are honoured.
    first = api.expect(api.blue.get("/v1/events", params={"after": 0, "limit": 1}), 200)["events"]
    assert len(first) == 1
    nxt = api.expect(api.blue.get("/v1/events", params={"after": first[0]["seq"], "limit": 100}),
                     200)["events"]
    assert all(e["seq"] > first[0]["seq"] for e in nxt)
    assert any(e["seq"] == ev["seq"] for e in first + nxt)


def test_missing_ovns_lists_every_lower_priority_operation(api, geo, area):
    vol = geo.volume(geo.square(area))
    a1 = api.create_op("blue", [vol], priority=0)
    a2 = api.create_op("blue", [geo.volume(geo.square(area), 1500, 2500)], priority=1)
    far = api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 0, 30_000)))], priority=0)
    p = api.problem(api.post_op("red", [vol], priority=2), 409, "missing_ovns")
    got = {m["operation_id"]: m for m in p["missing_ovns"]}
    assert set(got) == {a1["id"], a2["id"]}
    assert got[a1["id"]]["ovn"] == a1["ovn"] and got[a2["id"]]["ovn"] == a2["ovn"]
    assert far["id"] not in got

    p = api.problem(api.post_op("red", [vol], priority=2, key=[a1["ovn"]]), 409, "missing_ovns")
    assert {m["operation_id"] for m in p["missing_ovns"]} == {a2["id"]}
    api.create_op("red", [vol], priority=2, key=[a1["ovn"], a2["ovn"]])


def test_key_must_be_the_current_ovn(api, geo, area):
    vol = geo.volume(geo.square(area))
    a = api.create_op("blue", [vol], priority=0)
    a2 = api.expect(api.put_op("blue", a["id"], a["ovn"], [vol], priority=0), 200)
    p = api.problem(api.post_op("red", [vol], priority=1, key=[a["ovn"]]), 409, "missing_ovns")
    assert p["missing_ovns"][0]["ovn"] == a2["ovn"]
    api.create_op("red", [vol], priority=1, key=[a2["ovn"]])


def test_higher_and_lower_conflicts_together_are_refused(api, geo, area):
    vol = geo.volume(geo.square(area))
    low = api.create_op("blue", [vol], priority=0)
    high = api.create_op("spare", [vol], priority=9, key=[low["ovn"]])
    p = api.problem(api.post_op("red", [vol], priority=5, key=[low["ovn"], high["ovn"]]),
                    409, "conflict")
    assert high["id"] in _conflict_ids(p)


def test_same_party_never_conflicts(api, geo, area):
    vol = geo.volume(geo.square(area))
    a = api.create_op("blue", [vol], priority=5)
    b = api.create_op("blue", [vol], priority=0)
    c = api.create_op("blue", [vol], priority=9)
    assert len({a["id"], b["id"], c["id"]}) == 3
    # But another party does conflict there.
    api.problem(api.post_op("red", [vol], priority=0), 409, "conflict")


# ---------------------------------------------------------------------------------------------
# Short notice
# ---------------------------------------------------------------------------------------------


def test_short_notice_without_conflict_is_accepted_and_flagged(api, geo, area):
    vol = geo.volume(geo.square(area), 1000, 2000, 600, 4200)
    op = api.create_op("blue", [vol])
    assert op["short_notice"] is True
    for party in ("red", "mission", "watch", "blue"):
        assert api.get_op(party, op["id"])["short_notice"] is True
        listed = {o["id"]: o for o in api.list_ops(party)}
        assert listed[op["id"]]["short_notice"] is True


def test_short_notice_uses_the_earliest_volume(api, geo, area):
    vols = [geo.volume(geo.square(area), 1000, 2000, 7200, 10800),
            geo.volume(geo.square(area), 1000, 2000, 900, 1800)]
    assert api.create_op("blue", vols)["short_notice"] is True


def test_notice_period_boundary(api, geo, area):
    ok = api.create_op("blue", [geo.volume(geo.square(area), 1000, 2000, 3700, 7200)])
    assert ok["short_notice"] is False
    short = api.create_op("blue", [geo.volume(geo.square(area), 3000, 4000, 3400, 7200)])
    assert short["short_notice"] is True


def test_short_notice_with_a_conflict_is_refused(api, geo, area):
    vol = geo.volume(geo.square(area), 1000, 2000, 600, 4200)
    a = api.create_op("blue", [vol], priority=0)
    before = api.op_ids()
    # Even with a higher priority and the right key, a short-notice conflict is refused.
    api.problem(api.post_op("red", [vol], priority=5, key=[a["ovn"]]), 409, "short_notice")
    assert api.op_ids() == before
    # Conflicting with a normal-notice operation later on is refused as well.
    b = api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 0, 40_000)))], priority=0)
    vol2 = geo.volume(geo.square(geo.offset(area, 0, 40_000)), 1000, 2000, 600, 9000)
    api.problem(api.post_op("red", [vol2], priority=5, key=[b["ovn"]]), 409, "short_notice")
    assert api.op_ids() == before | {b["id"]}


# ---------------------------------------------------------------------------------------------
# Replace (PUT) follows the same rules
# ---------------------------------------------------------------------------------------------


def test_replace_into_a_conflict_is_refused(api, geo, area):
    a = api.create_op("blue", [geo.volume(geo.square(area))], priority=0)
    away = geo.volume(geo.square(geo.offset(area, 180, 40_000)))
    b = api.create_op("red", [away], priority=0)
    into = geo.volume(geo.square(area))
    p = api.problem(api.put_op("red", b["id"], b["ovn"], [into], priority=0), 409, "conflict")
    assert a["id"] in _conflict_ids(p)
    assert p.get("suggestions"), p
    got = api.get_op("red", b["id"])
    assert got["ovn"] == b["ovn"]
    geo.same_volume(away, got["volumes"][0])

    # With a higher priority: the key is needed, then it is accepted and blue is told.
    p = api.problem(api.put_op("red", b["id"], b["ovn"], [into], priority=1), 409, "missing_ovns")
    assert [m["operation_id"] for m in p["missing_ovns"]] == [a["id"]]
    new = api.expect(api.put_op("red", b["id"], b["ovn"], [into], priority=1, key=[a["ovn"]]), 200)
    assert new["ovn"] != b["ovn"]
    assert api.wait_for_event("blue", _is_conflict_event_about(b["id"])) is not None


def test_replace_into_short_notice(api, geo, area):
    a = api.create_op("blue", [geo.volume(geo.square(area))])
    assert a["short_notice"] is False
    soon = geo.volume(geo.square(area), 1000, 2000, 600, 3000)
    new = api.expect(api.put_op("blue", a["id"], a["ovn"], [soon]), 200)
    assert new["short_notice"] is True
    assert api.get_op("red", a["id"])["short_notice"] is True

    # A conflicting short-notice replacement is refused.
    b = api.create_op("red", [geo.volume(geo.square(geo.offset(area, 0, 40_000)))])
    r = api.put_op("red", b["id"], b["ovn"], [soon], priority=5, key=[new["ovn"]])
    api.problem(r, 409, "short_notice")
    assert api.get_op("red", b["id"])["ovn"] == b["ovn"]


def test_replacing_own_operation_in_place_is_not_a_conflict(api, geo, area):
    vol = geo.volume(geo.square(area))
    a = api.create_op("blue", [vol])
    new = api.expect(api.put_op("blue", a["id"], a["ovn"], [vol], notes="same place"), 200)
    assert new["notes"] == "same place"


# ---------------------------------------------------------------------------------------------
# Suggestions are always usable; concurrent writers cannot both win
# ---------------------------------------------------------------------------------------------


def test_every_suggestion_is_accepted_near_the_notice_period(api, geo, area):
    """An earlier shift that lands inside the notice period is still a usable suggestion."""
    t0 = geo.now() + timedelta(minutes=70)
    fp = geo.square(area)
    api.create_op("blue", [geo.volume(fp, 3000, 4000, t0, t0 + HOUR)])
    vol = geo.volume(fp, 3000, 4000, t0, t0 + HOUR)
    p = api.problem(api.post_op("red", [vol]), 409, "conflict")
    assert p["suggestions"], p
    for s in p["suggestions"]:
        got = s["volumes"][0]
        assert geo.parse_time(got["time_end"]) > geo.now(), f"a suggestion in the past: {s}"
        r = api.post_op("red", s["volumes"])
        assert r.status_code == 201, f"suggestion {s['kind']} refused: {r.status_code} {r.text}"


def test_suggestion_with_the_needed_key_is_accepted(api, geo, area):
    """A later shift clears the higher-priority operation but meets a lower-priority one:
    with that one's ovn in the key it is accepted."""
    t0 = geo.now() + 5 * HOUR
    fp = geo.square(area)
    api.create_op("spare", [geo.volume(fp, 3000, 4000, t0, t0 + HOUR)], priority=5)
    low = api.create_op("blue", [geo.volume(fp, 3000, 4000, t0 + HOUR, t0 + 2 * HOUR)],
                        priority=0)
    vol = geo.volume(fp, 3000, 4000, t0, t0 + HOUR)
    p = api.problem(api.post_op("red", [vol], priority=3), 409, "conflict")
    later = [s for s in p["suggestions"] if s["kind"] == "time_shift" and float(s["shift_s"]) > 0]
    assert later, p["suggestions"]
    for s in p["suggestions"]:
        r = api.post_op("red", s["volumes"], priority=3, key=[low["ovn"]])
        assert r.status_code == 201, f"suggestion {s['kind']} refused: {r.status_code} {r.text}"


def test_concurrent_conflicting_creates_cannot_both_succeed(api, geo, fresh_area):
    import threading

    outcomes = []
    for _ in range(6):
        vol = geo.volume(geo.square(fresh_area()))
        barrier = threading.Barrier(2)
        results: dict[str, int] = {}

        def create(party, vol=vol, barrier=barrier, results=results):
            barrier.wait()
            results[party] = api.post_op(party, [vol], priority=0).status_code

        threads = [threading.Thread(target=create, args=(p,)) for p in ("blue", "red")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        outcomes.append(results)
    for results in outcomes:
        assert sorted(results.values()) == [201, 409], (
            f"two equal-priority conflicting operations raced: {outcomes}")
