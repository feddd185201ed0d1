"""Floods that need no party's token (issue 13), against a real server: more idle and
trickling sockets than the server's ``connections`` cap do not shut an honest party out (the
one waiting longest for its headers is evicted instead); only when every connection has a
request in hand is a newcomer refused, with a 503 problem naming ``connections``; and a flood
of made-up tokens is charged to one pseudo-party, refused 429 while a real party is served."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from typing import Any

CONNECTIONS = 20
LIMITS = f"""
[limits]
connections = {CONNECTIONS}
requests_in_flight = {CONNECTIONS + 10}
"""


def _held(port: int, token: str | None) -> socket.socket:
    """A request kept in the server: its headers complete (the server asked for the body with
    100 Continue), its body never sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    authorization = "" if token is None else f"Authorization: Bearer {token}\r\n"
    sock.sendall((f"POST /v1/messages HTTP/1.1\r\nHost: x\r\n{authorization}"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n"
                  "Expect: 100-continue\r\n\r\n").encode())
    answer = sock.recv(100)
    assert answer.startswith(b"HTTP/1.1 100"), answer
    return sock


def _get(port: int, path: str, token: str) -> tuple[int, str, Any]:
    """One GET on a new connection: status, content type and the JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), json.loads(
            response.read())
    finally:
        conn.close()


def test_idle_and_trickling_sockets_past_the_cap_do_not_shut_a_party_out(
        server_factory: Any, api_for: Any) -> None:
    srv = server_factory.start("sqlite", config=LIMITS)  # the HTTP layer: one backend will do
    token = srv.tokens["blue"]
    flood: list[socket.socket] = []
    with contextlib.ExitStack() as stack:
        for k in range(CONNECTIONS + 10):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", srv.port)))
            if k % 2:
                sock.sendall(b"GET /v1/hea")  # trickling headers; the others send nothing
            flood.append(sock)
        for _ in range(3):
            status, _, body = _get(srv.port, "/v1/health", token)
            assert status == 200, body
        api = api_for(srv)
        try:
            api.expect(api.blue.post("/v1/messages", json={
                "to": "red", "urgency": "routine", "subject": "through the flood"}), 201)
        finally:
            api.close()
        # every connection has a request in hand: only now is a newcomer refused
        for _ in range(CONNECTIONS):
            stack.enter_context(_held(srv.port, token))
        status, content_type, problem = _get(srv.port, "/v1/health", token)
        assert (status, content_type) == (503, "application/problem+json"), problem
        assert (problem["status"], problem["limit"], problem["value"]) == (
            503, "connections", CONNECTIONS), problem
        assert "connections" in problem["detail"]
    # the held requests end with their connections: served again
    status, _, body = _get(srv.port, "/v1/health", token)
    assert status == 200, body


def test_a_flood_of_made_up_tokens_is_refused_while_a_party_is_served(
        server_factory: Any, backend: str, api_for: Any) -> None:
    srv = server_factory.start(backend, config="[limits]\nrequests_in_flight = 2\n")
    api = api_for(srv)
    try:
        with _held(srv.port, "made-up-1"), _held(srv.port, "made-up-2"):
            for client in (api.with_token("made-up-3"), api.anon, api.with_token("made-up-1")):
                p = api.problem(client.post("/v1/messages", content=b"x" * 100_000),
                                429, "rate_limited")
                assert (p["limit"], p["value"]) == ("requests_in_flight", 2), p
            api.expect(api.blue.get("/v1/health"), 200)
            api.expect(api.blue.post("/v1/messages", json={
                "to": "red", "urgency": "routine", "subject": "past the flood"}), 201)
    finally:
        api.close()
