"""Per-party admission over HTTP (issue 13): one party hammering the line gets 429s naming
its limit, with ``Retry-After``, before its bodies are read, while another party's requests
are still served. A real server with small ``requests_in_flight`` and ``server_ms_*``."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from support.waiting import wait_for

LIMITS = """
[limits]
requests_in_flight = 2
server_ms_per_s = 1
server_ms_burst = 1
"""


@pytest.fixture
def small(server_factory: Any, backend: str, api_for: Any) -> Iterator[Any]:
    srv = server_factory.start(backend, config=LIMITS)
    api = api_for(srv)
    yield api
    api.close()


@contextlib.contextmanager
def _held(api: Any, party: str) -> Iterator[socket.socket]:
    """A request of ``party`` kept in the server: its headers sent, its body never ends."""
    sock = socket.create_connection(("127.0.0.1", api.server.port), timeout=10)
    try:
        sock.sendall((f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{api.tokens[party]}\r\nContent-Type: application/json\r\n"
                      "Content-Length: 1000\r\n\r\n{").encode())
        yield sock
    finally:
        sock.close()


def _refused(api: Any, response: Any, limit: str, value: int) -> None:
    p = api.problem(response, 429, "rate_limited")
    assert (p["limit"], p["value"]) == (limit, value), p
    assert limit in p["detail"], p
    assert int(response.headers["Retry-After"]) >= 1


def test_requests_in_flight_per_party(small: Any) -> None:
    with _held(small, "blue"), _held(small, "blue"):
        wait_for(lambda: small.blue.get("/v1/health").status_code == 429,
                 what="blue's third request refused")
        _refused(small, small.blue.post("/v1/messages", json={
            "to": "red", "urgency": "routine", "subject": "third"}), "requests_in_flight", 2)
        small.expect(small.red.get("/v1/messages"), 200)  # red has its own share
    # the held requests end with their connections: blue is let in again
    wait_for(lambda: small.blue.get("/v1/messages").status_code == 200,
             what="blue served again")


def test_a_party_over_its_server_time_is_refused_while_others_are_served(
        small: Any, geo: Any, area: Any) -> None:
    body = small.op_body([geo.volume(geo.ngon(area, 2000, 200))])
    for _ in range(20):  # alone on the line, blue may use it all
        small.expect(small.blue.post("/v1/operations/check", json=body), 200)
    with _held(small, "red"):  # red has a request in the server: the line is contended
        wait_for(lambda: small.blue.get("/v1/messages").status_code == 429,
                 what="blue refused once red's request is in")
        _refused(small, small.blue.post("/v1/operations/check", json=body),
                 "server_ms_per_s", 1)
        _refused(small, small.blue.get("/v1/messages"), "server_ms_per_s", 1)
        # red's own share is untouched (its budget is as small: one request shows it)
        small.expect(small.red.post("/v1/operations/check", json=body), 200)
    small.expect(small.watch.get("/v1/health"), 200)
