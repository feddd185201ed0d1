"""The hotline end to end: messages by need-to-know, receipts on first delivery, replies and
the sender's per-recipient status, escalation (short configured deadlines), line status, link
tests and talks_suspended — against real server processes on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("conftest_hotline")

from conftest_hotline import SSE, recipient, send, thread, wait_for  # noqa: E402

pytest_plugins = ["conftest_hotline"]


def kinds_for(api, party: str, message_id: str, key: str = "message_id") -> list[str]:
    return [e["kind"] for e in api.events(party)
            if e["data"].get(key) == message_id or e["data"].get("id") == message_id]


def fields(problem: dict) -> set[str]:
    return {e["field"] for e in problem["errors"]}


def test_message_receipt_reply_and_need_to_know(hot, geo, area):
    op = hot.create_op("blue", [geo.volume(geo.square(area))])
    m = send(hot, "blue", "red", "routine", subject="crossing", body="FL200 at 0600Z",
             refs=[op["id"]])
    assert m["from"] == "blue" and m["to"] == "red" and m["refs"] == [op["id"]]
    geo.parse_time(m["time"])
    assert [(r["party"], r["status"]) for r in m["recipients"]] == [("red", "sent")]

    # Need-to-know: sender, recipient and observers see the thread; a third party does not.
    for party in ("blue", "red", "watch"):
        assert m["id"] in {t["id"] for t in hot.expect(hot.as_(party).get("/v1/messages"),
                                                       200)["messages"]}
    assert m["id"] not in {t["id"] for t in hot.expect(hot.mission.get("/v1/messages"),
                                                       200)["messages"]}
    hot.problem(hot.mission.get(f"/v1/messages/{m['id']}"), 404, "not_found")
    assert not kinds_for(hot, "mission", m["id"])

    # Listing as red was the first delivery: a receipt, told to blue.
    assert recipient(hot, "blue", m["id"], "red")["status"] == "delivered"
    assert kinds_for(hot, "blue", m["id"])[:2] == ["message.sent", "message.delivered"]
    assert "message.received" in kinds_for(hot, "red", m["id"])

    # Replies: only a recipient (403 for the sender and observers, who may read it; 404 for
    # a third party, who may not know it exists: the same answer as for no message at all).
    for party in ("blue", "watch"):
        hot.problem(hot.as_(party).post(f"/v1/messages/{m['id']}/replies",
                                        json={"reply": "acknowledged"}), 403, "forbidden")
    hot.problem(hot.as_("mission").post(f"/v1/messages/{m['id']}/replies",
                                        json={"reply": "acknowledged"}), 404, "not_found")
    hot.problem(hot.red.post("/v1/messages/no-such-id/replies",
                             json={"reply": "acknowledged"}), 404)
    r = hot.expect(hot.red.post(f"/v1/messages/{m['id']}/replies",
                                json={"reply": "will_comply", "text": "moving to FL220"}), 201)
    assert r["reply"] == "will_comply"
    mine = recipient(hot, "blue", m["id"], "red")
    assert mine["status"] == "replied" and mine["reply"] == "will_comply"
    assert mine["reply_text"] == "moving to FL220" and mine["next_escalation_at"] is None
    replied = [e for e in hot.events("blue") if e["kind"] == "message.replied"
               and e["data"]["message_id"] == m["id"]]
    assert replied and replied[0]["data"]["reply"] == "will_comply"

    # Observers write nothing.
    hot.problem(hot.watch.post("/v1/messages", json={"to": "red", "urgency": "routine",
                                                     "subject": "x"}), 403, "forbidden")


def test_broadcast_goes_to_every_operator_and_authority(hot):
    m = send(hot, "mission", "all", "urgent", subject="Aleppo closed from 0000Z")
    assert {r["party"] for r in m["recipients"]} == {"blue", "red", "spare"}
    for party in ("blue", "red", "spare"):
        assert "message.received" in kinds_for(hot, party, m["id"])
    statuses = {r["party"]: r["status"] for r in thread(hot, "mission", m["id"])["recipients"]}
    assert statuses == {"blue": "delivered", "red": "delivered", "spare": "delivered"}


def test_validation_names_fields_and_stores_nothing(hot):
    before = len(hot.expect(hot.blue.get("/v1/messages"), 200)["messages"])
    cases = [
        ({"to": "nobody", "urgency": "routine", "subject": "x"}, "to"),
        ({"to": "blue", "urgency": "routine", "subject": "x"}, "to"),
        ({"to": "watch", "urgency": "routine", "subject": "x"}, "to"),
        ({"to": "red", "urgency": "panic", "subject": "x"}, "urgency"),
        ({"to": "red", "urgency": "routine"}, "subject"),
        ({"to": "red", "urgency": "routine", "subject": "x", "colour": "red"}, "colour"),
        ({"to": "red", "urgency": "routine", "subject": "x", "refs": ["no-such"]}, "refs[0]"),
        ({"to": "red", "urgency": "routine", "subject": "x", "body": 5}, "body"),
    ]
    for body, field in cases:
        p = hot.problem(hot.blue.post("/v1/messages", json=body), 400, "validation_error")
        assert field in fields(p), (body, p)
    assert len(hot.expect(hot.blue.get("/v1/messages"), 200)["messages"]) == before
    m = send(hot, "blue", "red")
    p = hot.problem(hot.red.post(f"/v1/messages/{m['id']}/replies", json={"reply": "yes"}), 400)
    assert "reply" in fields(p)
    p = hot.problem(hot.blue.put("/v1/parties/me/escalation",
                                 json={"contacts": ["nobody"]}), 400)
    assert "contacts[0]" in fields(p)
    p = hot.problem(hot.blue.put("/v1/parties/me/status", json={"status": "war"}), 400)
    assert "status" in fields(p)
    assert recipient(hot, "blue", m["id"], "red")["reply"] is None


def escalations(api, party: str, message_id: str) -> list[dict]:
    return [e["data"] for e in api.events(party)
            if e["kind"] == "message.escalated" and e["data"]["message_id"] == message_id]


def test_escalation_reaches_contacts_until_reply(hot):
    """The smoke path through a server: the escalation task runs, and its events reach the
    right streams. The timing (due at the deadline, again every deadline, never after a final
    reply, standby) is checked with a fake clock in tests/service/test_escalation.py."""
    hot.expect(hot.spare.put("/v1/parties/me/escalation", json={"contacts": ["mission"]}), 200)
    assert hot.expect(hot.spare.get("/v1/parties/me/escalation"), 200)["contacts"] == ["mission"]
    m = send(hot, "blue", "spare", "distress", subject="guard: turn north now")
    # Contacts, observers and the sender are told once the deadline (1 s) passes unanswered.
    wait_for(lambda: escalations(hot, "mission", m["id"]), what="an escalation")
    for party in ("watch", "blue", "spare"):
        wait_for(lambda p=party: escalations(hot, p, m["id"]), what=f"escalation for {party}")
    assert not escalations(hot, "red", m["id"])  # neither a contact nor an observer
    hot.expect(hot.spare.post(f"/v1/messages/{m['id']}/replies",
                              json={"reply": "acknowledged"}), 201)
    mine = recipient(hot, "blue", m["id"], "spare")
    assert mine["next_escalation_at"] is None and mine["escalations"] >= 1
    hot.expect(hot.spare.put("/v1/parties/me/escalation", json={"contacts": []}), 200)


def test_standby_keeps_a_next_escalation_and_a_final_reply_clears_it(hot):
    """What the API shows of standby (its escalation a deadline later is checked with a fake
    clock in tests/service/test_escalation.py)."""
    m = send(hot, "red", "blue", "urgent", subject="confirm your track")
    r = hot.expect(hot.blue.post(f"/v1/messages/{m['id']}/replies",
                                 json={"reply": "standby"}), 201)
    assert r["reply"] == "standby" and r["next_escalation_at"] is not None
    hot.expect(hot.blue.post(f"/v1/messages/{m['id']}/replies",
                             json={"reply": "unable"}), 201)
    mine = recipient(hot, "red", m["id"], "blue")
    assert mine["reply"] == "unable" and mine["next_escalation_at"] is None


def test_talks_suspended_is_shown_and_changes_nothing_about_delivery(hot):
    link = hot.expect(hot.red.put("/v1/parties/me/status",
                                  json={"status": "talks_suspended"}), 200)
    assert link["status"] == "talks_suspended"
    line = hot.expect(hot.blue.get("/v1/line"), 200)
    assert {p["name"]: p["status"] for p in line["parties"]}["red"] == "talks_suspended"
    assert any(e["kind"] == "party.status" and e["data"]["party"] == "red"
               for e in hot.events("blue"))
    hot.problem(hot.watch.put("/v1/parties/me/status", json={"status": "normal"}), 403)
    m = send(hot, "blue", "red", "urgent", subject="still talking?")
    assert "message.received" in kinds_for(hot, "red", m["id"])
    assert recipient(hot, "blue", m["id"], "red")["status"] == "delivered"
    hot.expect(hot.red.post(f"/v1/messages/{m['id']}/replies",
                            json={"reply": "acknowledged"}), 201)
    hot.expect(hot.red.put("/v1/parties/me/status", json={"status": "normal"}), 200)


def test_line_status_and_link_test(hot):
    stream = SSE(hot.server.base_url, hot.tokens["red"])
    try:
        line = wait_for(lambda: (lambda b: b if {p["name"]: p for p in b["parties"]}["red"]
                                 ["connected"] else None)(hot.expect(hot.blue.get("/v1/line"),
                                                                     200)),
                        what="red connected")
        red = {p["name"]: p for p in line["parties"]}["red"]
        assert red["streams"] >= 1 and red["last_seen"] is not None
        test = hot.expect(hot.blue.post("/v1/line/test"), 201)
        got = stream.events_until(lambda fs: any(f.event == "line.test" and
                                                 f.data["data"]["test_id"] == test["id"]
                                                 for f in fs))
        assert got[-1].data["data"]["from"] == "blue"
    finally:
        stream.close()
    for party in ("red", "watch"):
        hot.expect(hot.as_(party).post(f"/v1/line/test/{test['id']}/ack"), 200)
    result = hot.expect(hot.mission.get(f"/v1/line/test/{test['id']}"), 200)
    assert set(result["acks"]) == {"red", "watch"}
    assert all(a["round_trip_s"] >= 0 for a in result["acks"].values())
    line = hot.expect(hot.mission.get("/v1/line"), 200)
    assert line["latest_test"]["id"] == test["id"]
    trips = {p["name"]: p["round_trip_s"] for p in line["parties"]}
    assert trips["red"] is not None and trips["mission"] is None
    assert any(e["kind"] == "line.test.ack" and e["data"]["party"] == "red"
               for e in hot.events("blue"))
    hot.problem(hot.red.post("/v1/line/test/no-such/ack"), 404)
    hot.problem(hot.watch.post("/v1/line/test"), 403)
    wait_for(lambda: not {p["name"]: p for p in hot.expect(hot.blue.get("/v1/line"),
                                                           200)["parties"]}["red"]["connected"],
             what="red disconnected")
