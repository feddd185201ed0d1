"""Lists that page, over HTTP on both backends: ``limit`` and ``cursor`` in, ``next`` out;
bad cursors and limits are 400 problems naming them. (5,000 items per list on both backends:
tests/service/test_paging.py.)"""

from __future__ import annotations

import pytest

LISTS = ["/v1/operations", "/v1/constraints", "/v1/aircraft", "/v1/tracks", "/v1/alerts",
         "/v1/messages", "/v1/ledger/entries", "/v1/parties"]


def test_operations_page_by_cursor(api, geo, area):
    made = {api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 90, 20_000 * i)))])["id"]
            for i in range(5)}
    seen: list[str] = []
    params: dict = {"limit": 2}
    for _ in range(100):
        body = api.expect(api.red.get("/v1/operations", params=params), 200)
        assert len(body["operations"]) <= 2
        seen += [o["id"] for o in body["operations"]]
        if body["next"] is None:
            break
        params = {"limit": 2, "cursor": body["next"]}
    assert len(seen) == len(set(seen)) and made <= set(seen)


def test_messages_page_newest_first(api):
    sent = [api.expect(api.blue.post("/v1/messages", json={
        "to": "red", "urgency": "routine", "subject": f"page {i}"}), 201)["id"] for i in range(3)]
    first = api.expect(api.red.get("/v1/messages", params={"limit": 2}), 200)
    second = api.expect(api.red.get("/v1/messages", params={"limit": 2,
                                                            "cursor": first["next"]}), 200)
    ids = [m["id"] for m in first["messages"] + second["messages"]]
    assert ids[:3] == sent[::-1] and len(ids) == len(set(ids))


@pytest.mark.parametrize("path", LISTS)
def test_bad_cursors_and_limits_are_400s_naming_them(api, path):
    for cursor in ("!!", "e30", "x" * 600):
        problem = api.problem(api.watch.get(path, params={"cursor": cursor}), 400)
        assert [e["field"] for e in problem["errors"]] == ["cursor"], problem
    other = "/v1/parties" if path != "/v1/parties" else "/v1/operations"
    body = api.expect(api.watch.get(other, params={"limit": 1}), 200)
    if body["next"] is not None:  # another list's cursor
        problem = api.problem(api.watch.get(path, params={"cursor": body["next"]}), 400)
        assert [e["field"] for e in problem["errors"]] == ["cursor"], problem
    for limit in (0, 1001):
        problem = api.problem(api.watch.get(path, params={"limit": limit}), 400)
        assert [e["field"] for e in problem["errors"]] == ["limit"], problem
    assert "next" in api.expect(api.watch.get(path, params={"limit": 1}), 200)


def test_events_page_with_after_and_next(api):
    for i in range(2):
        api.expect(api.blue.post("/v1/messages", json={
            "to": "red", "urgency": "routine", "subject": f"for the stream {i}"}), 201)
    first = api.expect(api.red.get("/v1/events", params={"limit": 1}), 200)
    assert first["next"] == str(first["events"][0]["seq"])
    rest = api.expect(api.red.get("/v1/events", params={"after": first["next"],
                                                        "limit": 1000}), 200)
    assert rest["events"][0]["seq"] > first["events"][0]["seq"] and rest["next"] is None
