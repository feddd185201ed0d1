"""The operator console in a real browser against a real line (issue 6, item 5).

Each test works in its own place over northern Syria with its own aircraft, on the one
session server (``line``). What is asserted is what a duty officer would see: labels, lists,
states and text — never only that the page loaded. Waits are bounded (``expect``), never timed.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

FT = 0.3048
KT = 1852 / 3600


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def red_at_fl200_to_fl250(line, centre: tuple[float, float], radius_m: float, *,
                          priority: int) -> tuple[datetime, datetime, dict]:
    """Red declares a circle at FL200–FL250 for an hour from three hours ahead: the hour and
    the operation."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    end = start + timedelta(hours=1)
    red_op = line.create_op("red", [{
        "footprint": {"type": "Circle", "center": list(centre), "radius_m": radius_m},
        "altitude_lower_m": 200 * 100 * FT, "altitude_upper_m": 250 * 100 * FT,
        "time_start": iso(start), "time_end": iso(end)}], priority=priority)
    return start, end, red_op


def register(line, party: str, aircraft_id: str, callsign: str) -> None:
    r = line.as_(party).post("/v1/aircraft", json={"id": aircraft_id, "callsign": callsign})
    assert r.status_code in (200, 201), r.text


def label(page, aircraft_id: str):
    return page.locator(f'.track-label[data-aircraft="{aircraft_id}"]')


# ---------------------------------------------------------------------------------------------


def test_sign_in_with_a_party_token(browser, line, page_for_report, shot):
    context = browser.new_context()
    page = context.new_page()
    page_for_report.pages.append(page)
    try:
        page.goto(line.server.base_url + "/")
        page.fill("#token", "not-a-token")
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#signin-error")).to_have_text("Unknown or revoked token.")
        expect(page.locator("#app")).to_be_hidden()

        page.fill("#token", line.tokens["blue"])
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#who")).to_have_text("blue · operator")
        expect(page.locator("#conn")).to_have_text("● live")
        expect(page.locator("#profile")).to_contain_text("5 NM / 1000 ft")
        # the ledger's head, or a clear word that this line has none yet
        expect(page.locator("#ledger")).to_have_attribute(
            "data-state", re.compile("verified|unavailable"))
        shot(page, "signed-in")

        page.reload()  # the token lives in this tab's sessionStorage
        expect(page.locator("#who")).to_have_text("blue · operator")
        page.click("#signout")
        expect(page.locator("#signin")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('deconfliction.token')") is None
    finally:
        context.close()


def test_tracks_move_with_leaders_and_labels(line, tactical, open_console, shot):
    centre = (38.6, 36.9)
    aircraft = tactical.uid("blue-trk")
    register(line, "blue", aircraft, "VIPER 21")
    flight = tactical.Flight("blue", aircraft, centre, 90.0, 230.0, 200 * 100 * FT, time.time())
    page = open_console("blue", view=(centre[0] + 0.2, centre[1], 8.5))
    watch = open_console("watch", view=(centre[0] + 0.2, centre[1], 8.5))
    with tactical.Feeder(line, [flight]):
        tag = label(page, aircraft)
        expect(tag).to_contain_text("VIPER 21")
        expect(tag.locator(".fl")).to_have_text("FL200")
        expect(tag.locator(".gs")).to_have_text(f"{round(230 / KT)} kt")
        expect(tag).to_have_class(re.compile(r"\bown\b"))
        first = float(tag.get_attribute("data-lon"))
        # eastbound at 230 m/s: the label (and the symbol under it) moves east
        page.wait_for_function(
            f"""() => Number(document.querySelector('.track-label[data-aircraft="{aircraft}"]')
                    .dataset.lon) > {first + 0.01}""")
        shot(page, "operator")
        # the observer sees every party's aircraft, identified
        expect(label(watch, aircraft)).to_contain_text("VIPER 21")
        shot(watch, "observer")


def test_alert_appears_then_clears(line, tactical, open_console, shot):
    centre = (39.5, 36.0)
    ids = (tactical.uid("blue-hd"), tactical.uid("red-hd"))
    register(line, "blue", ids[0], "EAGLE 1")
    register(line, "red", ids[1], "FALCON 9")
    flights = tactical.head_on(("blue", "red"), ids, centre, apart_m=40_000.0,
                               altitudes=(7000.0, 7000.0))
    page = open_console("blue", view=(centre[0], centre[1], 8.5))
    with tactical.Feeder(line, flights) as feeder:
        alert = page.locator("#alerts li.alert.conflict[data-state=raised]")
        # the detector's kernels come compiled from the install (engine/kernel_cache.py)
        expect(alert).to_have_count(1)
        expect(alert).to_contain_text("EAGLE 1")
        expect(alert.locator(".ttc")).to_contain_text(re.compile(r"^in \d+"))
        expect(alert.locator(".miss")).to_have_text(re.compile(r"^miss \d+\.\d NM$"))
        expect(page.locator("#alert-count")).to_have_text("1")
        # on the map: our aircraft's label turns to alert; the other party's aircraft is shown
        # as the API gives it — position and velocity, no identity
        expect(label(page, ids[0])).to_have_class(re.compile(r"\balerting\b"))
        other = page.locator(".track-label.alerting:not(.own)")
        expect(other).to_have_count(1)
        expect(other.locator(".cs")).to_have_text("traffic")
        expect(page.locator(f'.track-label[data-aircraft="{ids[1]}"]')).to_have_count(0)
        assert "FALCON" not in page.locator("#app").inner_text()
        shot(page, "raised")
        alert_id = alert.get_attribute("data-alert")

        # red climbs 2000 m: no conflict any more; the line clears the alert after 5 s
        now = time.time()
        here = flights[1].state(now)
        feeder.add(tactical.Flight("red", ids[1], (here["lon"], here["lat"]), here["track_deg"],
                                   230.0, 9000.0, now))
        cleared = page.locator(f'#alerts li[data-alert="{alert_id}"]')
        expect(cleared).to_have_attribute("data-state", "cleared")
        expect(cleared).to_contain_text("cleared")
        expect(page.locator("#alert-count")).to_have_text("")
        expect(label(page, ids[0])).not_to_have_class(re.compile(r"\balerting\b"))
        shot(page, "cleared")


def test_reply_changes_the_senders_view(line, open_console, shot):
    blue = open_console("blue")
    red = open_console("red")
    subject = f"EAGLE flight turning north {time.time():.0f}"
    blue.select_option("#compose select[name=to]", "red")
    blue.select_option("#compose select[name=urgency]", "urgent")
    blue.fill("#compose input[name=subject]", subject)
    blue.fill("#compose textarea[name=body]", "FL230, 36.20N 37.30E")
    blue.click("#compose button[type=submit]")

    sent = blue.locator("li.thread", has_text=subject)
    expect(sent).to_have_count(1)
    row = sent.locator('tr[data-party="red"]')
    # red's console received it: delivered, with a running timer until red answers
    received = red.locator("li.thread", has_text=subject)
    expect(received.locator(".body")).to_have_text("FL230, 36.20N 37.30E")
    expect(row).to_have_attribute("data-status", "delivered")
    expect(row.locator(".timer")).to_contain_text(re.compile(r"unanswered \d+:\d\d"))
    expect(received.locator(".timer")).to_be_visible()
    expect(red.locator("#unanswered-count")).to_contain_text("to answer")
    shot(red, "received")

    received.locator("input.reply-text").fill("holding south of the river")
    received.locator("button[data-reply=will_comply]").click()
    expect(row).to_have_attribute("data-status", "replied")
    expect(row.locator("td.reply")).to_contain_text("Will comply")
    expect(row.locator("td.reply")).to_contain_text("holding south of the river")
    expect(row.locator(".timer")).to_have_count(0)
    expect(received.locator("button[data-reply=will_comply]")).to_have_class(
        re.compile(r"\bchosen\b"))
    shot(blue, "sender-sees-reply")


def test_declare_refused_with_a_suggestion_then_accepted(line, open_console, shot):
    centre = (37.6, 35.4)
    start, end, red_op = red_at_fl200_to_fl250(line, centre, 15_000.0, priority=5)
    page = open_console("blue", view=(centre[0], centre[1], 8))
    form = page.locator("#declare")

    # draw a circle: click its centre (the middle of the map), then a point on its edge
    box = page.locator("#map canvas").bounding_box()
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    form.locator("button.draw").click()
    page.mouse.click(*middle)
    page.mouse.click(middle[0] + 60, middle[1])
    lat = float(form.locator("input[name=lat]").input_value())
    lon = float(form.locator("input[name=lon]").input_value())
    assert abs(lat - centre[1]) < 0.05 and abs(lon - centre[0]) < 0.05, (lat, lon)
    assert float(form.locator("input[name=radius]").input_value()) > 0
    form.locator("input[name=radius]").fill("5")
    form.locator("input[name=radius]").dispatch_event("change")
    form.locator("input[name=lower]").fill("FL210")
    form.locator("input[name=upper]").fill("FL240")
    expect(form.locator(".band-shown")).to_contain_text("FL210–FL240")
    form.locator("input[name=start]").fill(start.strftime("%Y-%m-%d %H:%MZ"))
    form.locator("input[name=end]").fill(end.strftime("%Y-%m-%d %H:%MZ"))
    form.locator("input[name=callsigns]").fill("EAGLE 5")

    def blue_near() -> list[dict]:
        return [o for o in line.list_ops("blue")
                if o["owner"] == "blue" and o["volumes"][0]["footprint"].get("center")
                and abs(o["volumes"][0]["footprint"]["center"][0] - centre[0]) < 0.1]

    # Check first: the line's dry run shows the conflict and its suggestions, nothing submitted
    form.locator("button.check").click()
    result = page.locator("#declare-result")
    refusal = result.locator(".refusal")
    expect(refusal).to_have_attribute("data-code", "conflict")
    expect(refusal).to_have_attribute("data-asked", "check")
    expect(result).to_contain_text("Would be refused")
    expect(result.locator("ul.conflicts li")).to_have_count(1)
    expect(result.locator("ul.conflicts li")).to_contain_text("red · priority 5 · too close in")
    expect(page.locator("#map")).to_have_attribute("data-regions", "1")  # drawn on the map
    suggestions = result.locator("ul.suggestions li")
    expect(suggestions.first).to_be_visible()
    assert suggestions.count() >= 2
    expect(suggestions.filter(has_text="later by").locator("button.apply")).to_be_visible()
    # the time slider moved to the conflict, where red's planned volume is drawn in full
    expect(page.locator("#time-shown")).to_have_text(start.strftime("%Y-%m-%d %H:%MZ"))
    shot(page, "checked-conflict")
    assert blue_near() == [], "a check stores nothing"

    # Submitting anyway: the line refuses it with the same conflict and suggestions
    form.locator("button.submit").click()
    expect(refusal).to_have_attribute("data-asked", "submit")
    expect(refusal).to_have_attribute("data-code", "conflict")
    expect(result).to_contain_text("Refused: ")
    expect(suggestions.first).to_be_visible()
    shot(page, "refused")
    assert blue_near() == [], "a refusal stores nothing"

    # Apply the later shift: the form takes it and the line, asked again, finds it acceptable
    later = suggestions.filter(has_text="later by")
    expect(later).to_have_count(1)
    later.locator("button.apply").click()
    expect(result).to_contain_text("Applied: later by")
    expect(result.locator(".acceptable")).to_contain_text("No conflicts — acceptable")
    expect(page.locator("#map")).to_have_attribute("data-regions", "0")
    shot(page, "checked-acceptable")
    assert blue_near() == []
    form.locator("button.submit").click()
    expect(result.locator(".accepted")).to_contain_text("Declared: accepted")
    shot(page, "accepted")

    mine = [o for o in line.list_ops("blue")
            if o["owner"] == "blue" and o["volumes"][0]["footprint"]["type"] == "Circle"
            and abs(o["volumes"][0]["footprint"]["center"][0] - lon) < 1e-3]
    assert len(mine) == 1, mine
    declared = mine[0]["volumes"][0]
    assert declared["footprint"]["radius_m"] == pytest.approx(5 * 1852, abs=1)
    assert declared["altitude_lower_m"] == pytest.approx(210 * 100 * FT, abs=0.01)
    red_end = datetime.fromisoformat(red_op["volumes"][0]["time_end"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(declared["time_start"].replace("Z", "+00:00")) >= red_end
    assert mine[0]["callsigns"] == ["EAGLE 5"]
    listed = page.locator(f'#operations li[data-operation="{mine[0]["id"]}"]')
    expect(listed).to_contain_text("yours")


def test_check_asks_for_the_awareness_key_then_declares(line, open_console, shot):
    centre = (39.0, 35.0)
    start, end, red_op = red_at_fl200_to_fl250(line, centre, 10_000.0, priority=0)
    page = open_console("blue", view=(centre[0], centre[1], 8))
    form = page.locator("#declare")
    for name, value in (("lat", "35.0"), ("lon", "39.0"), ("radius", "3")):
        form.locator(f"input[name={name}]").fill(value)
        form.locator(f"input[name={name}]").dispatch_event("change")
    form.locator("input[name=lower]").fill("FL210")
    form.locator("input[name=upper]").fill("FL240")
    form.locator("input[name=start]").fill(start.strftime("%Y-%m-%d %H:%MZ"))
    form.locator("input[name=end]").fill(end.strftime("%Y-%m-%d %H:%MZ"))
    form.locator("input[name=priority]").fill("3")

    # a higher priority than red's: acceptable only once blue shows it has seen red's version
    form.locator("button.check").click()
    result = page.locator("#declare-result")
    refusal = result.locator(".refusal")
    expect(refusal).to_have_attribute("data-code", "missing_ovns")
    expect(refusal).to_have_attribute("data-asked", "check")
    expect(result).to_contain_text(f"You must show you have seen: red {red_op['id'][:8]}")
    include = result.locator("button.include-key")
    expect(include).to_have_text("Include their versions and check again")
    include.click()
    acceptable = result.locator(".acceptable")
    expect(acceptable).to_contain_text("Acceptable")
    expect(acceptable.locator("ul.overrides li")).to_have_text(
        f"red · priority 0 · {red_op['id'][:8]}")
    expect(form.locator(".key-shown")).to_contain_text("1 version(s)")
    shot(page, "checked-overrides")
    assert not [o for o in line.list_ops("blue") if o["owner"] == "blue"
                and o["volumes"][0]["footprint"].get("center") == [39.0, 35.0]]
    def told(ev: dict) -> bool:
        return ev["kind"] == "operation.conflict" and red_op["id"] in ev["data"]["conflicts_with"]

    assert not any(told(ev) for ev in line.events("red")), "a check tells nobody"

    form.locator("button.submit").click()
    expect(result.locator(".accepted")).to_contain_text("Declared: accepted")
    assert line.wait_for_event("red", told) is not None, line.events("red")[-5:]


def test_declare_a_polygon_drawn_on_the_map(line, open_console, shot):
    centre = (36.8, 35.0)
    page = open_console("blue", view=(centre[0], centre[1], 9))
    form = page.locator("#declare")
    form.locator("input[name=shape][value=polygon]").check()
    form.locator("button.draw").click()
    box = page.locator("#map canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-80, -50), (80, -50), (80, 50)):
        page.mouse.click(x + dx, y + dy)
    page.mouse.dblclick(x - 80, y + 50)  # the last corner closes the polygon
    expect(form.locator("button.draw")).to_have_text("Draw on map")
    form.locator("input[name=lower]").fill("5000 ft")
    form.locator("input[name=upper]").fill("FL080")
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    form.locator("input[name=start]").fill(start.strftime("%Y-%m-%d %H:%MZ"))
    end = start + timedelta(minutes=45)
    form.locator("input[name=end]").fill(end.strftime("%Y-%m-%d %H:%MZ"))
    form.locator("button.check").click()
    result = page.locator("#declare-result")
    expect(result.locator(".acceptable")).to_contain_text("No conflicts — acceptable")
    form.locator("button.submit").click()
    expect(result.locator(".accepted")).to_contain_text("Declared: accepted")
    shot(page, "accepted")

    ops = [o for o in line.list_ops("blue") if o["owner"] == "blue"
           and o["volumes"][0]["footprint"]["type"] == "Polygon"]
    assert len(ops) == 1, ops
    ring = ops[0]["volumes"][0]["footprint"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1], ring  # four corners, closed
    assert all(abs(lon - centre[0]) < 0.2 and abs(lat - centre[1]) < 0.2 for lon, lat in ring)
    assert ops[0]["volumes"][0]["altitude_lower_m"] == pytest.approx(5000 * FT)
    assert ops[0]["volumes"][0]["altitude_upper_m"] == pytest.approx(8000 * FT)


def test_party_text_is_shown_as_text(line, tactical, open_console, shot):
    subject = '<img src=x onerror="window.__pwned=1">'
    body = "<script>window.__pwned=2</script><b>bold?</b>"
    r = line.red.post("/v1/messages", json={"to": "blue", "urgency": "routine",
                                            "subject": subject, "body": body})
    assert r.status_code == 201, r.text
    callsign = "<b>X</b>"
    aircraft = tactical.uid("blue-xss")
    register(line, "blue", aircraft, callsign)
    centre = (40.2, 36.5)
    page = open_console("blue", view=(centre[0], centre[1], 8))
    with tactical.Feeder(line, [tactical.Flight("blue", aircraft, centre, 0.0, 100.0, 3000.0,
                                                time.time())]):
        thread = page.locator(f'li.thread[data-message="{r.json()["id"]}"]')
        expect(thread.locator(".subject")).to_have_text(subject)
        expect(thread.locator(".body")).to_have_text(body)
        expect(label(page, aircraft).locator(".cs")).to_have_text(callsign)
        assert thread.locator("img, script, b").count() == 0
        assert label(page, aircraft).locator("b").count() == 0
        assert page.evaluate("window.__pwned") is None
        shot(page, "escaped")


def test_stream_reconnects_and_catches_up(line, open_console):
    page = open_console("blue")
    # cut the network and drop the stream (the indicator's click is the officer's "reconnect
    # now"; going offline alone leaves an open stream hanging until the next packet)
    page.context.set_offline(True)
    page.click("#conn")
    expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    subject = f"sent while blue was cut off {time.time():.0f}"
    r = line.red.post("/v1/messages", json={"to": "blue", "urgency": "distress",
                                            "subject": subject})
    assert r.status_code == 201, r.text
    page.context.set_offline(False)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("li.thread", has_text=subject)).to_have_count(1)
    # caught up through the stream, in order and without gaps
    page.locator("#events-panel summary").click()
    expect(page.locator("#events li", has_text=subject)).to_have_count(1)
    seqs = [int(s) for s in page.locator("#events li").evaluate_all(
        "items => items.map(li => li.dataset.seq)")]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs), seqs
