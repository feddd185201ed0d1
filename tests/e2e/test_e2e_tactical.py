"""Tactical end to end: the aircraft registry, track reports, and alerts from the live
detection cycle, against a real server process on SQLite and on PostgreSQL.

Two servers per backend: the harness's module server (``api``: default configuration, for the
registry, validation and the default 20 s staleness), and ``tactical`` (conftest_tactical.py:
detection every 0.5 s, tracks dropped after 6 s) for everything that waits on the cycle.
Flights are fed by a thread that re-reports their extrapolated states every ~0.5 s with the
current time, exactly as an operator's tracker would.
"""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest

pytest.register_assert_rewrite("conftest_tactical")

from conftest_tactical import (  # noqa: E402
    DETECTION_INTERVAL_S,
    FAST_CONFIG,
    FT,
    STATE_KEYS,
    Feeder,
    Flight,
    aircraft_ids,
    alert_by_id,
    alerts,
    events_of,
    find_alert,
    head_on,
    iso,
    offset,
    parse,
    uid,
    wait_for,
)

pytest_plugins = ["conftest_tactical"]

RAISE_TIMEOUT_S = 20.0
CLEAR_TIMEOUT_S = 40.0  # drop (6 s) + hysteresis (5 s), with a wide margin for slow machines


def report(aircraft_id: str, t: float, centre: tuple[float, float], **over) -> dict:
    body = {"aircraft_id": aircraft_id, "time": iso(t), "lat": centre[1], "lon": centre[0],
            "altitude_m": 3000.0, "ground_speed_mps": 120.0, "track_deg": 45.0,
            "vertical_rate_mps": 0.0}
    body.update(over)
    return body


def post_tracks(api, party: str, reports: list[dict]):
    return api.as_(party).post("/v1/tracks", json={"reports": reports})


def tracks_of(api, party: str) -> dict[str, dict]:
    body = api.expect(api.as_(party).get("/v1/tracks"), 200)
    assert isinstance(body.get("tracks"), list), body
    return {t["aircraft_id"]: t for t in body["tracks"]}


def aircraft_of(api, party: str) -> dict[str, dict]:
    body = api.expect(api.as_(party).get("/v1/aircraft"), 200)
    assert isinstance(body.get("aircraft"), list), body
    return {a["id"]: a for a in body["aircraft"]}


def register(api, party: str, **body) -> dict:
    r = api.as_(party).post("/v1/aircraft", json=body)
    assert r.status_code in (200, 201), f"POST /v1/aircraft -> {r.status_code} {r.text}"
    return r.json()


def field_names(problem: dict) -> set[str]:
    errors = problem.get("errors")
    assert isinstance(errors, list) and errors, f"a validation problem lists its errors: {problem}"
    return {e["field"] for e in errors}


def icao() -> str:
    return uuid.uuid4().hex[:6]


# =============================================================================================
# Registry
# =============================================================================================


def test_register_aircraft_and_list_by_need_to_know(api):
    mine, address = uid("blue-reg"), icao()
    got = register(api, "blue", id=mine, icao24=address, callsign="BLU001")
    assert got["id"] == mine and got["icao24"] == address and got["callsign"] == "BLU001"
    assert got["party"] == "blue"

    assert aircraft_of(api, "blue")[mine]["icao24"] == address
    assert mine not in aircraft_of(api, "red"), "a party sees only its own aircraft"
    assert aircraft_of(api, "watch")[mine]["party"] == "blue", "observers see every aircraft"

    # The same id from another party is that party's own aircraft (ids are per party: no
    # refusal that would tell red blue flies it), and blue's entry is unchanged.
    theirs = register(api, "red", id=mine, callsign="RED999")
    assert (theirs["party"], theirs["callsign"]) == ("red", "RED999")
    assert aircraft_of(api, "blue")[mine]["callsign"] == "BLU001"
    # So is blue's ICAO address on one of red's aircraft; only blue's own registry can clash.
    register(api, "red", id=uid("red-reg"), icao24=address)
    assert aircraft_of(api, "blue")[mine]["icao24"] == address
    api.problem(api.blue.post("/v1/aircraft", json={"id": uid("blue-2"), "icao24": address}),
                409)

    # Observers and authorities have no aircraft.
    for party in ("watch", "mission"):
        api.problem(api.as_(party).post("/v1/aircraft", json={"id": uid(party)}), 403)

    # Validation names the field.
    p = api.problem(api.blue.post("/v1/aircraft", json={"id": uid("b"), "icao24": "XYZ12G"}),
                    400, "validation_error")
    assert "icao24" in field_names(p)
    p = api.problem(api.blue.post("/v1/aircraft", json={"id": uid("b"), "colour": "blue"}),
                    400, "validation_error")
    assert "colour" in field_names(p)


# =============================================================================================
# Track reports
# =============================================================================================


def counts(body: dict) -> dict:
    """A track batch's answer as counts, without its ledger receipt
    (tests/e2e/test_e2e_ledger.py); each ignored report carries its reason (`reasons`)."""
    assert ("receipt" in body) and (body["receipt"] is None) == (body["accepted"] == 0), body
    assert set(body) == {"accepted", "ignored", "receipt"}, body
    return {"accepted": body["accepted"], "ignored": len(body["ignored"])}


def reasons(body: dict) -> list[tuple[str, str]]:
    """Each ignored report's (aircraft id, reason)."""
    assert all(set(i) == {"aircraft_id", "time", "reason"} for i in body["ignored"]), body
    return [(i["aircraft_id"], i["reason"]) for i in body["ignored"]]


def test_reports_accepted_and_listed_by_need_to_know(api, area):
    a, b = uid("blue-t"), uid("blue-t")
    now = time.time()
    body = api.expect(post_tracks(api, "blue", [report(a, now - 1, area),
                                                report(b, now - 1, offset(area, 0, 5000))]), 200)
    assert counts(body) == {"accepted": 2, "ignored": 0}

    mine = tracks_of(api, "blue")
    assert {a, b} <= set(mine)
    t = mine[a]
    assert t["party"] == "blue"
    assert t["lat"] == pytest.approx(area[1]) and t["lon"] == pytest.approx(area[0])
    assert t["altitude_m"] == pytest.approx(3000.0)
    assert t["ground_speed_mps"] == pytest.approx(120.0)
    assert t["track_deg"] == pytest.approx(45.0)
    assert parse(t["time"]) == pytest.approx(now - 1, abs=0.002)

    assert not {a, b} & set(tracks_of(api, "red")), "a party sees only its own tracks"
    assert not {a, b} & set(tracks_of(api, "mission")), "an authority sees no operator's tracks"
    seen = tracks_of(api, "watch")
    assert {a, b} <= set(seen) and seen[a]["party"] == "blue", "observers see every track"
    # An unknown aircraft reported by an operator becomes that operator's.
    assert aircraft_of(api, "blue")[a]["party"] == "blue"


def test_reports_are_idempotent_and_out_of_order_ignored(api, area):
    a = uid("blue-io")
    now = time.time()
    first = report(a, now - 2, area)
    assert counts(api.expect(post_tracks(api, "blue", [first]), 200)) == {
        "accepted": 1, "ignored": 0}
    # The same report again: nothing new.
    body = api.expect(post_tracks(api, "blue", [first]), 200)
    assert counts(body) == {"accepted": 0, "ignored": 1}
    assert reasons(body) == [(a, "duplicate")]
    assert parse(body["ignored"][0]["time"]) == pytest.approx(now - 2, abs=0.002)
    # An older report (out of order) is ignored and does not overwrite the newer state.
    older = report(a, now - 3, offset(area, 90, 2000), altitude_m=1234.0)
    body = api.expect(post_tracks(api, "blue", [older]), 200)
    assert counts(body) == {"accepted": 0, "ignored": 1}
    assert reasons(body) == [(a, "out_of_order")]
    t = tracks_of(api, "blue")[a]
    assert parse(t["time"]) == pytest.approx(now - 2, abs=0.002)
    assert t["altitude_m"] == pytest.approx(3000.0)
    # Two states of one aircraft in one batch, newest first: the newest wins, one ignored.
    newest = report(a, now - 0.5, offset(area, 0, 1000), altitude_m=3100.0)
    middle = report(a, now - 1.0, offset(area, 0, 500), altitude_m=3050.0)
    body = api.expect(post_tracks(api, "blue", [newest, middle]), 200)
    assert counts(body) == {"accepted": 1, "ignored": 1}
    assert reasons(body) == [(a, "superseded")]
    t = tracks_of(api, "blue")[a]
    assert parse(t["time"]) == pytest.approx(now - 0.5, abs=0.002)
    assert t["altitude_m"] == pytest.approx(3100.0)


def test_ignored_reports_are_listed_up_to_twenty(api, area):
    """A batch of repeats answers with the first 20 ignored reports and the number left out,
    as a problem lists field errors."""
    a = uid("blue-many")
    again = report(a, time.time() - 2, area)
    body = api.expect(post_tracks(api, "blue", [again] * 31), 200)
    assert body["accepted"] == 1 and body["ignored_omitted"] == 10
    assert reasons(body) == [(a, "duplicate")] * 20


def test_concurrent_reports_keep_the_newest_state(api, area):
    """Batches racing for the same (new) aircraft: never a 500, the newest state wins, and the
    aircraft is registered once, to its party."""
    from concurrent.futures import ThreadPoolExecutor

    a = uid("blue-race")
    base = time.time() - 4.0
    times = [base + 0.1 * k for k in range(24)]
    bodies = [{"reports": [report(a, t, offset(area, 0, 100 * k), altitude_m=1000.0 + k)]}
              for k, t in enumerate(times)]
    clients = [api.client("blue") for _ in range(8)]

    def send(k: int):
        r = clients[k % len(clients)].post("/v1/tracks", json=bodies[k])
        return r.status_code, r.text

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, range(len(bodies))))
    assert all(code == 200 for code, _ in results), results
    accepted = sum(json.loads(text)["accepted"] for _, text in results)
    assert 1 <= accepted <= len(bodies)
    t = tracks_of(api, "blue")[a]
    assert parse(t["time"]) == pytest.approx(times[-1], abs=0.002), "the newest state wins"
    assert t["altitude_m"] == pytest.approx(1000.0 + len(times) - 1)
    assert [x for x in aircraft_of(api, "watch").values() if x["id"] == a] == [
        {"id": a, "party": "blue", "icao24": None, "callsign": None, "operation_id": None}]


def test_stale_reports_ignored_default_20_s(api, area):
    a, b = uid("blue-stale"), uid("blue-fresh")
    now = time.time()
    body = api.expect(post_tracks(api, "blue", [report(a, now - 25, area),
                                                report(b, now - 15, area)]), 200)
    assert counts(body) == {"accepted": 1, "ignored": 1}, "older than track_drop_s (20 s): ignored"
    assert reasons(body) == [(a, "stale")]
    mine = tracks_of(api, "blue")
    assert b in mine and a not in mine


def test_stale_reports_follow_configured_track_drop(tactical, area):
    api = tactical  # track_drop_s = 6
    a, b = uid("blue-stale6"), uid("blue-fresh6")
    now = time.time()
    body = api.expect(post_tracks(api, "blue", [report(a, now - 9, area),
                                                report(b, now - 3, area)]), 200)
    assert counts(body) == {"accepted": 1, "ignored": 1}, "older than track_drop_s (6 s): ignored"


def test_another_partys_id_is_a_different_aircraft_of_ones_own(api, area):
    """Reporting an id red uses is not refused (that would tell blue red flies it): it is a
    new aircraft of blue's, and red's aircraft is neither read nor moved by it."""
    theirs = uid("red-own")
    register(api, "red", id=theirs, callsign="RED007")
    now = time.time()
    assert api.expect(post_tracks(api, "red", [report(theirs, now - 2, area)]), 200)[
        "accepted"] == 1
    body = api.expect(post_tracks(api, "blue", [report(theirs, now - 1, area, altitude_m=999.0)]),
                      200)
    assert counts(body) == {"accepted": 1, "ignored": 0}
    assert tracks_of(api, "blue")[theirs]["altitude_m"] == 999.0
    red_track = tracks_of(api, "red")[theirs]
    assert (red_track["party"], red_track["altitude_m"]) == ("red", 3000.0)
    assert aircraft_of(api, "red")[theirs]["callsign"] == "RED007"
    assert aircraft_of(api, "blue")[theirs]["callsign"] is None
    watched = api.expect(api.watch.get("/v1/tracks"), 200)["tracks"]
    assert sorted(t["party"] for t in watched if t["aircraft_id"] == theirs) == ["blue", "red"]


def test_observers_and_authorities_cannot_report(api, area):
    for party in ("watch", "mission"):
        a = uid(party)
        api.problem(post_tracks(api, party, [report(a, time.time() - 1, area)]), 403)
        assert a not in tracks_of(api, "watch")
    api.problem(api.anon.post("/v1/tracks", json={"reports": [
        report(uid("anon"), time.time() - 1, area)]}), 401)


INVALID = {
    # case: (mutation of the second report, offending field)
    "lat-out-of-range": ({"lat": 91.0}, "reports[1].lat"),
    "lon-out-of-range": ({"lon": -180.5}, "reports[1].lon"),
    "negative-speed": ({"ground_speed_mps": -1.0}, "reports[1].ground_speed_mps"),
    "track-out-of-range": ({"track_deg": 361.0}, "reports[1].track_deg"),
    "future-time": ({"time": "+60"}, "reports[1].time"),
    "naive-time": ({"time": "naive"}, "reports[1].time"),
    "unknown-field": ({"heading": 12.0}, "reports[1].heading"),
    "missing-field": ({"lat": None}, "reports[1].lat"),
    "bad-aircraft-id": ({"aircraft_id": "has space"}, "reports[1].aircraft_id"),
    "vertical-rate": ({"vertical_rate_mps": 500.0}, "reports[1].vertical_rate_mps"),
    "string-for-number": ({"altitude_m": "high"}, "reports[1].altitude_m"),
    "nan-lat": ({"lat": math.nan}, "reports[1].lat"),
    "infinite-altitude": ({"altitude_m": math.inf}, "reports[1].altitude_m"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_report_validation_names_the_field(api, area, case):
    change, field = INVALID[case]
    good_id, bad_id = uid("blue-ok"), uid("blue-bad")
    now = time.time()
    bad = report(bad_id, now - 1, area)
    for k, v in change.items():
        if v is None:
            del bad[k]
        elif v == "+60":
            bad[k] = iso(now + 60)
        elif v == "naive":
            bad[k] = iso(now - 1).removesuffix("Z")
        else:
            bad[k] = v
    # NaN and Infinity are not JSON: send them as Python's json writes them (NaN, Infinity),
    # which a lenient parser would read as floats.
    content = json.dumps({"reports": [report(good_id, now - 1, area), bad]})
    r = api.blue.post("/v1/tracks", content=content,
                      headers={"Content-Type": "application/json"})
    p = api.problem(r, 400, "validation_error")
    assert field in field_names(p), f"expected field {field}, got {p}"
    seen = tracks_of(api, "watch")
    assert good_id not in seen and bad_id not in seen, "an invalid batch stores nothing"


def test_empty_batch_is_invalid(api):
    p = api.problem(api.blue.post("/v1/tracks", json={"reports": []}), 400, "validation_error")
    assert "reports" in field_names(p)
    p = api.problem(api.blue.post("/v1/tracks", json={}), 400, "validation_error")
    assert "reports" in field_names(p)


def test_alerts_query_is_validated(api):
    p = api.problem(api.blue.get("/v1/alerts", params={"state": "open"}), 400,
                    "validation_error")
    assert "state" in field_names(p)
    api.problem(api.anon.get("/v1/alerts"), 401)
    api.problem(api.anon.get("/v1/tracks"), 401)


def test_silent_track_is_dropped_with_an_event(tactical, area):
    api = tactical
    a = uid("blue-drop")
    t0 = time.time()
    assert api.expect(post_tracks(api, "blue", [report(a, t0, area)]), 200)["accepted"] == 1
    assert a in tracks_of(api, "blue")
    # Unreported for longer than track_coast_s (2 s): still listed, marked coasting.
    wait_for(lambda: (tracks_of(api, "blue").get(a) or {}).get("coasting") is True
             or a not in tracks_of(api, "blue"), 15, "the track to coast")
    # ... and after track_drop_s (6 s): gone, with a track.dropped event for its party.
    wait_for(lambda: a not in tracks_of(api, "watch"), 20, f"track {a} to be dropped")
    ev = wait_for(lambda: events_of(api, "blue", "track.dropped", aircraft_id=a), 10,
                  "a track.dropped event")
    assert len(ev) == 1, ev
    assert parse(ev[0]["data"]["last_report"]) == pytest.approx(t0, abs=0.002)
    assert parse(ev[0]["time"]) - t0 > 6.0 - 0.01, "dropped only after track_drop_s"
    assert not events_of(api, "red", "track.dropped", aircraft_id=a), "told to its party only"


# =============================================================================================
# Alerts
# =============================================================================================


def _check_involved_view(api, party: str, alert_id: str, own_id: str, own_callsign: str | None,
                         other_id: str, other_callsign: str | None, other_party: str) -> dict:
    seen = alert_by_id(api, party, alert_id)
    assert seen is not None, f"{party} must see the alert {alert_id} it is involved in"
    entries = seen["aircraft"]
    assert len(entries) == 2, seen
    own = [e for e in entries if e.get("aircraft_id") == own_id]
    other = [e for e in entries if e.get("aircraft_id") != own_id]
    assert len(own) == 1 and len(other) == 1, seen
    assert own[0]["party"] == party and own[0].get("callsign") == own_callsign, own
    assert STATE_KEYS <= set(own[0]["state"]), own
    # Of the other party's aircraft: the state only (position, altitude, velocity).
    assert set(other[0]) <= {"own", "state"}, f"{party} sees too much of the other: {other}"
    assert STATE_KEYS <= set(other[0]["state"]), other
    for secret in (other_id, other_party, other_callsign):
        if secret is not None:
            assert not api_mentions(seen, secret), f"{party}'s view leaks {secret!r}: {seen}"
    return seen


def api_mentions(obj, needle: str) -> bool:
    if obj == needle:
        return True
    if isinstance(obj, dict):
        return any(api_mentions(v, needle) for v in obj.values())
    if isinstance(obj, list):
        return any(api_mentions(v, needle) for v in obj)
    return False


def test_converging_aircraft_alert_lifecycle_and_need_to_know(tactical, area, fresh_area):
    api = tactical
    a1, b1 = uid("blue-hd"), uid("red-hd")  # head-on, same altitude: conflict
    a2, b2 = uid("blue-los"), uid("red-los")  # side by side 4 km apart: separation lost now
    a3, b3 = uid("blue-v"), uid("red-v")  # head-on 2000 ft apart vertically: no alert
    a4, a5 = uid("blue-s1"), uid("blue-s2")  # head-on, both blue: no alert by default
    register(api, "blue", id=a1, callsign="BLU101")
    register(api, "red", id=b1, callsign="RED201")

    flights = head_on(("blue", "red"), (a1, b1), area)
    los_centre = fresh_area()
    now = time.time()
    flights += [Flight("blue", a2, offset(los_centre, 270, 2000), 0.0, 200.0, 5000.0, now),
                Flight("red", b2, offset(los_centre, 90, 2000), 0.0, 200.0, 5000.0, now)]
    flights += head_on(("blue", "red"), (a3, b3), fresh_area(),
                       altitudes=(6000.0, 6000.0 + 2000 * FT))
    flights += head_on(("blue", "blue"), (a4, a5), fresh_area())

    with Feeder(api, flights) as feeder:
        conflict = wait_for(lambda: find_alert(api, "watch", kind="conflict", ids={a1, b1},
                                               state="raised"),
                            RAISE_TIMEOUT_S, "a conflict alert for the head-on pair")
        los = wait_for(lambda: find_alert(api, "watch", kind="loss_of_separation",
                                          ids={a2, b2}, state="raised"),
                       RAISE_TIMEOUT_S, "a loss_of_separation alert for the side-by-side pair")

        # The observer sees everything: both aircraft with id, party and callsign.
        by_id = {e["aircraft_id"]: e for e in conflict["aircraft"]}
        assert by_id[a1]["party"] == "blue" and by_id[b1]["party"] == "red", conflict
        assert by_id[a1]["callsign"] == "BLU101" and by_id[b1]["callsign"] == "RED201"
        assert conflict["state"] == "raised" and conflict["cleared_at"] is None
        enc = conflict["encounter"]
        # 30 km apart closing at 460 m/s: 5 NM is reached within the 120 s look-ahead.
        assert 0 < enc["t_in_s"] <= 120 and enc["lost_now"] is False, enc
        assert enc["dcpa_m"] < 1000 and enc["vertical_at_cpa_m"] < 1, enc
        assert conflict.get("profile") == "en-route", conflict
        assert los["encounter"]["lost_now"] is True, los
        assert los["encounter"]["dcpa_m"] < 5 * 1852, los

        # Each involved party: its own aircraft in full, the other's state only.
        _check_involved_view(api, "blue", conflict["id"], a1, "BLU101", b1, "RED201", "red")
        _check_involved_view(api, "red", conflict["id"], b1, "RED201", a1, "BLU101", "blue")
        _check_involved_view(api, "blue", los["id"], a2, None, b2, None, "red")
        # A third operator, not involved, sees nothing of it; nor does an authority.
        for alert_id in (conflict["id"], los["id"]):
            assert alert_by_id(api, "spare", alert_id) is None
            assert alert_by_id(api, "mission", alert_id) is None
            assert not any(api_mentions(e, alert_id) for e in api.events("spare"))

        # alert.raised to each involved party, with the same need-to-know.
        for party, other_id, other_cs in (("blue", b1, "RED201"), ("red", a1, "BLU101")):
            ev = wait_for(lambda p=party: events_of(api, p, "alert.raised",
                                                    alert_id=conflict["id"]),
                          10, f"alert.raised for {party}")
            assert len(ev) == 1, f"raised once: {ev}"
            assert ev[0]["data"]["alert_kind"] == "conflict"
            for secret in (other_id, other_cs):
                assert not api_mentions(ev[0]["data"], secret), ev

        # As they close, the encounter changes: an update is told to the parties.
        updated = wait_for(lambda: events_of(api, "blue", "alert.updated",
                                             alert_id=conflict["id"]),
                           RAISE_TIMEOUT_S, "an alert.updated event for the closing pair")
        assert not api_mentions(updated[0]["data"], b1), updated
        assert not api_mentions(updated[0]["data"], "RED201"), updated
        feeder.check()

        # By now the cycle has run many times over every pair: the vertically separated pair
        # and the same-party pair never alerted.
        quiet = {a3, b3, a4, a5}
        noisy = [a for a in alerts(api, "watch") if aircraft_ids(a) & quiet]
        assert not noisy, f"no alert expected for 2000 ft apart or same-party pairs: {noisy}"
        assert find_alert(api, "watch", kind="conflict", ids={a1, b1}, state="raised")["id"] \
            == conflict["id"], "one alert per encounter, kept under its id while it lasts"

    # Reports stop: the tracks are dropped, then the alerts clear (after 5 s of hysteresis).
    cleared = wait_for(lambda: (alert_by_id(api, "watch", conflict["id"]) or {}).get("state")
                       == "cleared" and alert_by_id(api, "watch", conflict["id"]),
                       CLEAR_TIMEOUT_S, "the conflict alert to clear")
    assert cleared["cleared_at"] is not None
    assert alert_by_id(api, "watch", conflict["id"], state="raised") is None
    assert alert_by_id(api, "blue", conflict["id"], state="raised") is None
    assert alert_by_id(api, "blue", conflict["id"])["state"] == "cleared"
    wait_for(lambda: (alert_by_id(api, "watch", los["id"]) or {}).get("state") == "cleared",
             CLEAR_TIMEOUT_S, "the loss_of_separation alert to clear")
    for party, own in (("blue", a1), ("red", b1)):
        ev = wait_for(lambda p=party: events_of(api, p, "alert.cleared",
                                                alert_id=conflict["id"]),
                      10, f"alert.cleared for {party}")
        assert len(ev) == 1, ev
        dropped = events_of(api, party, "track.dropped", aircraft_id=own)
        assert len(dropped) == 1, f"{party}: one track.dropped for {own}: {dropped}"
    assert not events_of(api, "spare", "alert.cleared", alert_id=conflict["id"])
    # Hysteresis: the last detection was at most one cycle before the tracks were dropped;
    # the alert clears no sooner than 5 s after it.
    dropped_at = parse(events_of(api, "blue", "track.dropped", aircraft_id=a1)[0]["time"])
    assert parse(cleared["cleared_at"]) >= dropped_at + 5.0 - DETECTION_INTERVAL_S - 0.01, (
        cleared, dropped_at)


def test_same_party_pairs_alert_when_configured(backend, server_factory, api_for, area):
    srv = server_factory.start(backend, config=FAST_CONFIG + "same_party_conflicts = true\n")
    api = api_for(srv)
    try:
        a, b = uid("blue-sp1"), uid("blue-sp2")
        with Feeder(api, head_on(("blue", "blue"), (a, b), area)):
            alert = wait_for(lambda: find_alert(api, "watch", kind="conflict", ids={a, b},
                                                state="raised"),
                             RAISE_TIMEOUT_S, "a same-party conflict alert")
            # Both aircraft are blue's own: blue sees both in full.
            mine = alert_by_id(api, "blue", alert["id"])
            assert mine is not None and aircraft_ids(mine) == {a, b}, mine
            assert alert_by_id(api, "red", alert["id"]) is None
    finally:
        api.close()


def test_constraint_incursion(tactical, area, fresh_area, geo):
    api = tactical
    # A no-fly circle (5 km) for everyone, active now; a blue aircraft 20 km west flying at it.
    closed = api.create_constraint([geo.volume(geo.circle(area, 5000.0), 0.0, 8000.0,
                                               start=-60, end=3600)],
                                   name=f"no-fly {uid('c')}")
    inbound = uid("blue-inc")
    register(api, "blue", id=inbound, callsign="BLU303")
    now = time.time()
    flights = [Flight("blue", inbound, offset(area, 270, 20_000), 90.0, 200.0, 3000.0, now)]
    # A constraint that applies to red only, with a blue and a red aircraft inside it.
    elsewhere = fresh_area()
    red_only = api.create_constraint([geo.volume(geo.circle(elsewhere, 5000.0), 0.0, 8000.0,
                                                 start=-60, end=3600)],
                                     applies_to=["red"], name=f"red only {uid('c')}")
    blue_in, red_in = uid("blue-exempt"), uid("red-inside")
    flights += [Flight("blue", blue_in, elsewhere, 0.0, 50.0, 3000.0, now),
                # 600 m higher: not in conflict with the blue one.
                Flight("red", red_in, offset(elsewhere, 180, 500), 0.0, 50.0, 3600.0, now)]

    with Feeder(api, flights):
        inc = wait_for(lambda: find_alert(api, "watch", kind="constraint_incursion",
                                          ids={inbound}, state="raised"),
                       RAISE_TIMEOUT_S, "a constraint_incursion alert for the inbound aircraft")
        assert inc["constraint"]["id"] == closed["id"], inc
        assert inc["incursion"]["inside_now"] is False, inc
        # 15 km to the edge at 200 m/s: about 75 s, within the look-ahead.
        assert 0 < inc["incursion"]["time_to_entry_s"] <= 120, inc

        red_inc = wait_for(lambda: find_alert(api, "watch", kind="constraint_incursion",
                                              ids={red_in}, state="raised"),
                           RAISE_TIMEOUT_S, "an incursion alert for the red aircraft inside")
        assert red_inc["constraint"]["id"] == red_only["id"]
        assert red_inc["incursion"]["inside_now"] is True, red_inc

        # Its party sees it in full; the authority that published the constraint sees it with
        # the aircraft's state only; an uninvolved operator sees nothing.
        mine = alert_by_id(api, "blue", inc["id"])
        assert mine is not None and mine["aircraft"][0]["aircraft_id"] == inbound
        assert mine["aircraft"][0]["callsign"] == "BLU303"
        theirs = alert_by_id(api, "mission", inc["id"])
        assert theirs is not None, "the constraint's authority is told"
        assert set(theirs["aircraft"][0]) <= {"own", "state"}, theirs
        assert not api_mentions(theirs, inbound) and not api_mentions(theirs, "BLU303"), theirs
        assert alert_by_id(api, "red", inc["id"]) is None
        assert alert_by_id(api, "blue", red_inc["id"]) is None
        wait_for(lambda: events_of(api, "blue", "alert.raised", alert_id=inc["id"]), 10,
                 "alert.raised for blue")
        wait_for(lambda: events_of(api, "mission", "alert.raised", alert_id=inc["id"]), 10,
                 "alert.raised for the authority")

        # The constraint that does not apply to blue never alerted on blue's aircraft inside it.
        assert not [a for a in alerts(api, "watch") if blue_in in aircraft_ids(a)], (
            "a constraint applying to red only must not alert on blue")


def test_nonconformance_then_back_inside(tactical, area, fresh_area, geo):
    api = tactical
    op = api.create_op("blue", [geo.volume(geo.circle(area, 2000.0), 0.0, 4000.0,
                                           start=-60, end=3600)])
    inside_area = fresh_area()
    op_ok = api.create_op("blue", [geo.volume(geo.circle(inside_area, 2000.0), 0.0, 4000.0,
                                              start=-60, end=3600)])
    straying, keeping = uid("blue-nc"), uid("blue-ok")
    register(api, "blue", id=straying, operation_id=op["id"])
    register(api, "blue", id=keeping, operation_id=op_ok["id"])
    assert aircraft_of(api, "blue")[straying]["operation_id"] == op["id"]
    # Someone else's operation cannot be tied to blue's aircraft.
    red_op = api.create_op("red", [geo.volume(geo.circle(fresh_area(), 2000.0), 0.0, 4000.0,
                                              start=-60, end=3600)])
    p = api.problem(api.blue.post("/v1/aircraft", json={"id": uid("blue-x"),
                                                        "operation_id": red_op["id"]}), 400)
    assert "operation_id" in field_names(p)

    now = time.time()
    flights = [
        # Holding 10 km outside its operation's 2 km circle.
        Flight("blue", straying, offset(area, 0, 10_000), 0.0, 0.0, 2000.0, now),
        # Holding at the centre of its own.
        Flight("blue", keeping, inside_area, 0.0, 0.0, 2000.0, now),
    ]
    with Feeder(api, flights) as feeder:
        nc = wait_for(lambda: find_alert(api, "watch", kind="nonconformance", ids={straying},
                                         state="raised"),
                      RAISE_TIMEOUT_S, "a nonconformance alert")
        assert nc["operation_id"] == op["id"], nc
        mine = alert_by_id(api, "blue", nc["id"])
        assert mine is not None and mine["aircraft"][0]["aircraft_id"] == straying
        assert alert_by_id(api, "red", nc["id"]) is None
        wait_for(lambda: events_of(api, "blue", "alert.raised", alert_id=nc["id"]), 10,
                 "alert.raised for blue")
        # Outside for longer than 10 s: the operation becomes nonconforming, and every party
        # is told (ASTM F3548-21).
        wait_for(lambda: api.get_op("blue", op["id"])["state"] == "nonconforming", 30,
                 "the operation to become nonconforming")
        assert api.get_op("red", op["id"])["state"] == "nonconforming"
        for party in ("blue", "red", "watch"):
            wait_for(lambda p=party: events_of(api, p, "operation.state",
                                               operation_id=op["id"], state="nonconforming"),
                     10, f"operation.state nonconforming for {party}")
        # The conforming aircraft's operation is untouched, and it has no alert.
        assert api.get_op("blue", op_ok["id"])["state"] in ("accepted", "activated")
        assert not [a for a in alerts(api, "watch") if keeping in aircraft_ids(a)]

        # Back inside: conforming again (activated), and the alert clears.
        feeder.add(Flight("blue", straying, area, 0.0, 0.0, 2000.0, time.time()))
        wait_for(lambda: api.get_op("blue", op["id"])["state"] == "activated", 15,
                 "the operation to conform again")
        ev = wait_for(lambda: events_of(api, "red", "operation.state", operation_id=op["id"],
                                        state="activated"), 10, "operation.state activated")
        assert ev[-1]["data"]["previous_state"] == "nonconforming", ev
        wait_for(lambda: (alert_by_id(api, "watch", nc["id"]) or {}).get("state") == "cleared",
                 CLEAR_TIMEOUT_S, "the nonconformance alert to clear")
        feeder.check()
