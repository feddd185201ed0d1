"""api.lean: the hotline's writes answer the same through the lean lane as through FastAPI.

Two apps over one line, one with the lane and one without; every request goes to both and the
answers are compared: status, content type, headers that matter, and the body (ids and times
aside for the successful writes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from deconfliction.api.app import create_app
from deconfliction.api.lean import LeanLane
from deconfliction.api.problems import MAX_BODY_BYTES
from deconfliction.model.party import Role
from deconfliction.service.line import Line
from deconfliction.service.parties import add_party
from deconfliction.store.sqlite import SqliteStore

T0 = 1_795_000_000.0

Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body
# a request made from the tokens and the answers the same app gave before
MakeRequest = Callable[[dict[str, str], list[httpx.Response]], Request]


def _shape(value: Any) -> Any:
    """A successful write's body with what differs between two writes (ids, times, leaf
    positions) replaced by its type."""
    if isinstance(value, dict):
        return {k: type(v).__name__ if k in {"id", "time", "leaf_index", "leaf_hash", "url",
                                               "message_id", "delivered_at", "replied_at"}
                else _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


async def _both(tmp_path: Path, requests: list[MakeRequest]) -> list[tuple[httpx.Response, ...]]:
    store = SqliteStore.open(tmp_path / "lean.db")
    line = Line(store, clock=lambda: T0)
    tokens = {}
    for name, role in (("blue", Role.OPERATOR), ("red", Role.OPERATOR),
                       ("watch", Role.OBSERVER)):
        _party, tokens[name] = await add_party(line, name, role, T0)
    lean, plain = (create_app(line, detection=False, lean=flag) for flag in (True, False))
    assert [m.cls for m in lean.user_middleware].count(LeanLane) == 1
    assert LeanLane not in [m.cls for m in plain.user_middleware]
    answers = []
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=lean),
                                  base_url="http://lean") as a,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=plain),
                                  base_url="http://plain") as b):
        histories: dict[httpx.AsyncClient, list[httpx.Response]] = {a: [], b: []}
        for make in requests:
            pair = []
            for client, history in histories.items():
                method, path, headers, body = make(tokens, history)
                response = await client.request(method, path, headers=headers, content=body)
                history.append(response)
                pair.append(response)
            answers.append(tuple(pair))
    await store.close()
    return answers


def _headers(token: str | None, **extra: str) -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return {**out, **extra}


def message(sender: str | None, body: Any = None, *, raw: bytes | None = None,
            **headers: str) -> MakeRequest:
    def make(tokens: dict[str, str], _history: list[httpx.Response]) -> Request:
        data = raw if raw is not None else json.dumps(body).encode()
        return ("POST", "/v1/messages",
                _headers(tokens.get(sender) if sender else None, **headers), data)
    return make


def reply(sender: str, body: Any, message_id: str | None = None) -> MakeRequest:
    """A reply to ``message_id``, or to the message this app answered last."""
    def make(tokens: dict[str, str], history: list[httpx.Response]) -> Request:
        target = message_id or history[-1].json()["id"]
        return ("POST", f"/v1/messages/{target}/replies", _headers(tokens[sender]),
                json.dumps(body).encode())
    return make


GOOD = {"to": "red", "urgency": "urgent", "subject": "crossing", "body": "FL200 at 0600Z"}

BAD = [
    message(None, GOOD),  # no token
    message("blue", GOOD, Authorization="Bearer nope"),
    message(None, raw=b'{"to": "red",'),  # malformed JSON is refused before the caller
    message("blue", raw=b'{"to": "red",'),
    message("blue", raw=b""),
    message("blue", [GOOD]),
    message("blue", "text"),
    message("blue", {**GOOD, "colour": "red"}),
    message("blue", {**GOOD, "urgency": "whenever", "subject": ""}),
    message("blue", {**GOOD, "subject": "x" * 201, "refs": ["", "a"]}),
    message("blue", {**GOOD, "to": "nobody"}),
    message("blue", {**GOOD, "to": "blue"}),
    message("blue", {**GOOD, "refs": ["no-such-operation"]}),
    message("watch", GOOD),  # observers write nothing
    message("blue", raw=json.dumps(GOOD).encode(), **{"Content-Type": "text/plain"}),
    message("blue", raw=b"{" + b" " * MAX_BODY_BYTES + b"}"),
    reply("red", {"reply": "acknowledged"}, message_id="no-such-message"),
    reply("red", {"reply": "maybe"}, message_id="no-such-message"),
]


@pytest.mark.parametrize("index", range(len(BAD)))
def test_refusals_are_the_same_problem(tmp_path: Path, index: int) -> None:
    (lean, plain), = asyncio.run(_both(tmp_path, [BAD[index]]))
    assert lean.status_code == plain.status_code
    assert 400 <= lean.status_code < 500
    assert lean.headers["content-type"] == plain.headers["content-type"]
    assert lean.headers.get("www-authenticate") == plain.headers.get("www-authenticate")
    assert lean.json() == plain.json()


def test_writes_answer_the_same(tmp_path: Path) -> None:
    (m_lean, m_plain), (r_lean, r_plain) = asyncio.run(_both(tmp_path, [
        message("blue", GOOD), reply("red", {"reply": "will_comply", "text": "climbing"})]))
    for lean, plain in ((m_lean, m_plain), (r_lean, r_plain)):
        assert lean.status_code == plain.status_code == 201
        assert lean.headers["content-type"] == plain.headers["content-type"]
        assert _shape(lean.json()) == _shape(plain.json())
    assert m_lean.headers["location"] == f"/v1/messages/{m_lean.json()['id']}"
    assert m_plain.headers["location"] == f"/v1/messages/{m_plain.json()['id']}"
    assert m_lean.json()["id"] != m_plain.json()["id"]  # two messages were really sent
    assert r_lean.json()["reply"] == r_plain.json()["reply"] == "will_comply"
    assert r_lean.json()["message_id"] == m_lean.json()["id"]
    assert isinstance(m_lean.json()["receipt"]["leaf_index"], int)
