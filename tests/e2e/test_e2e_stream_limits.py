"""Streams and connections no party can abuse, end to end against a real server on loopback:
a party's stream cap (429 naming the limit, Retry-After; the slot given back on close); a
client that stops reading is dropped when its send buffer fills, and resumes with
Last-Event-ID losing nothing; revocation by the CLI ends an open stream at once; every
malformed cursor is a 400 before any stream starts; slow clients (trickled headers or body,
a silent connection) are cut while an honest slow one is served; oversized headers get a 431
— on SQLite and PostgreSQL.

Limits are small here (two streams a party, an 8-event send buffer, 2 s deadlines) so that
each attack shows in a moment; no assertion is about time, the waits only bound the test."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("conftest_hotline")

from conftest_hotline import SSE, send, wait_for  # noqa: E402

pytest_plugins = ["conftest_hotline"]

STREAMS = 2
HEADER_TIMEOUT_S = 2
LIMITS_CONFIG = (
    "detection_interval_s = 0\n"
    "[stream]\n"
    "heartbeat_s = 0.5\n"
    "[limits]\n"
    f"streams_per_party = {STREAMS}\n"
    "stream_buffer_events = 8\n"
    "send_timeout_s = 5\n"
    f"header_timeout_s = {HEADER_TIMEOUT_S}\n"
    "body_timeout_s = 2\n"
    "unanswered_per_recipient = 1000\n"  # 60 unread messages to one party (not the point)
)
BOUND_S = 20.0  # how long a cut may take before the test gives up (a bound, not a figure)
BIG = "z" * 10_000  # the largest message body: fills a send buffer in a few events


@pytest.fixture(scope="module")
def limited(backend, _module_servers, api_for) -> Iterator[Any]:
    srv = _module_servers.start(backend, config=LIMITS_CONFIG)
    api = api_for(srv)
    yield api
    api.close()
    srv.stop()
    _module_servers.databases.drop(srv.db)


def _last_seq(api, party: str) -> int:
    found = api.events(party)
    return found[-1]["seq"] if found else 0


def _stream_request(api, party: str, headers: dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> httpx.Response:
    """Open ``party``'s SSE stream and return the response head (the body left unread)."""
    client = httpx.Client(base_url=api.server.base_url, timeout=10)
    request = client.build_request("GET", "/v1/events", params=params, headers={
        "Authorization": f"Bearer {api.tokens[party]}", "Accept": "text/event-stream",
        **(headers or {})})
    response = client.send(request, stream=True)
    response.extensions["client"] = client
    return response


def _close(response: httpx.Response) -> None:
    response.close()
    response.extensions["client"].close()


# streams per party ------------------------------------------------------------------------


def test_a_party_holds_at_most_its_stream_cap(limited):
    held = [_stream_request(limited, "red", params={"after": 10**9}) for _ in range(STREAMS)]
    try:
        assert [r.status_code for r in held] == [200] * STREAMS
        over = _stream_request(limited, "red")
        over.read()
        _close(over)
        problem = limited.problem(over, 429, "rate_limited")
        assert problem["limit"] == "streams_per_party" and problem["value"] == STREAMS
        assert int(over.headers["Retry-After"]) >= 1
        other = _stream_request(limited, "blue")  # another party is not affected
        assert other.status_code == 200
        _close(other)
        assert limited.red.get("/v1/events").status_code == 200  # polling still works
    finally:
        _close(held.pop())
    # a closed stream gives its slot back (once the server has seen it close)
    again = wait_for(lambda: (r := _stream_request(limited, "red")).status_code == 200 and r
                     or _close(r), what="the slot given back")
    _close(again)
    for r in held:
        _close(r)


# a client that stops reading --------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sent before it cut the connection (EOF or reset)."""
    sock.settimeout(BOUND_S)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _events(stream_bytes: bytes) -> list[dict]:
    """The complete SSE events in a raw (chunked) response, as their data."""
    found = []
    for line in stream_bytes.split(b"\n"):
        if line.startswith(b"data: "):
            try:
                found.append(json.loads(line[6:]))
            except ValueError:
                pass  # the last one, cut short
    return found


def test_a_client_that_stops_reading_is_dropped_and_resumes_losing_nothing(limited):
    start = _last_seq(limited, "mission")
    pid = limited.server.proc.pid
    rss_before = _rss_mb(pid)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing
    sock.connect(("127.0.0.1", limited.server.port))
    sock.sendall((f"GET /v1/events?after={start} HTTP/1.1\r\nHost: line\r\n"
                  f"Authorization: Bearer {limited.tokens['mission']}\r\n"
                  "Accept: text/event-stream\r\n\r\n").encode())
    sent: list[str] = []
    try:
        for i in range(300):  # far more than the send buffers hold
            sent.append(send(limited, "blue", "mission", subject=f"unread {i}", body=BIG)["id"])
            if len(sent) >= 60:
                break
        assert _rss_mb(pid) - rss_before < 64
        got = _read_all(sock)  # reading now: what was sent, then the cut
        assert got.startswith(b"HTTP/1.1 200")
        seen = _events(got)
        assert [e["seq"] for e in seen] == list(range(start + 1, start + 1 + len(seen)))
        assert start + len(seen) < _last_seq(limited, "mission")  # it was dropped early
    finally:
        sock.close()
    # resuming where it stopped: everything, in order, nothing twice
    last = seen[-1]["seq"] if seen else start
    before = {e["data"]["id"] for e in seen}
    resumed = SSE(limited.server.base_url, limited.tokens["mission"], last_event_id=last)
    try:
        frames = resumed.events_until(
            lambda fs: before | {f.data["data"]["id"] for f in fs} >= set(sent))
    finally:
        resumed.close()
    assert [f.id for f in frames] == list(range(last + 1, last + 1 + len(frames)))


# revocation -------------------------------------------------------------------------------


def test_revocation_ends_an_open_stream_at_once(limited, cli):
    stream = SSE(limited.server.base_url, limited.tokens["spare"], after=10**9)
    try:
        stream.next_frame()  # open: a heartbeat arrives
        proc = cli.run(limited.server.db, "party", "revoke", "spare")
        assert proc.returncode == 0, proc.stderr
        with pytest.raises(AssertionError, match="the event stream ended"):
            for _ in range(int(BOUND_S / 0.5)):  # heartbeats until the stream ends
                stream.next_frame()
    finally:
        stream.close()
    limited.problem(limited.spare.get("/v1/events", headers={"Accept": "text/event-stream"}),
                    401, "unauthorized")


# cursors ----------------------------------------------------------------------------------

MALFORMED = ["-1", "+5", " 5", "5 ", "1.5", "1e3", "0x10", "", "١٢", "²", "５",
             "9223372036854775808", "99999999999999999999999999", "5\t"]


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_cursor_is_a_400_before_any_stream(limited, value):
    sse = {"Accept": "text/event-stream"}
    asked = [(limited.red.get("/v1/events", params={"after": value}), "after"),
             (limited.red.get("/v1/events", params={"after": value}, headers=sse), "after")]
    if value == value.strip():  # a header's surrounding spaces are not part of its value
        asked.append((limited.red.get("/v1/events", headers={
            **sse, "Last-Event-ID": value.encode()}), "Last-Event-ID"))
    for response, field in asked:
        problem = limited.problem(response, 400, "validation_error")
        assert [e["field"] for e in problem["errors"]] == [field], problem


def test_the_largest_cursor_is_served(limited):
    top = str(2**63 - 1)
    assert limited.expect(limited.red.get("/v1/events", params={"after": top}), 200) == {
        "events": [], "next": None}
    stream = SSE(limited.server.base_url, limited.tokens["red"], last_event_id=int(top))
    try:
        assert stream.next_frame().comment == "heartbeat"
    finally:
        stream.close()


# slow clients -----------------------------------------------------------------------------


def _cut_while_trickling(limited, first: bytes, trickle: bytes) -> bool:
    """Send ``first``, then ``trickle`` a byte every 0.2 s; whether the server cut the
    connection before the trickle was done."""
    sock = socket.create_connection(("127.0.0.1", limited.server.port))
    sock.settimeout(0.2)
    try:
        sock.sendall(first)
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(65536) == b"":
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False
    finally:
        sock.close()


def test_trickled_headers_are_cut(limited):
    trickle = b"X-Slow: " + b"a" * int(BOUND_S / 0.2)
    assert _cut_while_trickling(limited, b"GET /v1/health HTTP/1.1\r\nHost: line\r\n", trickle)


def test_a_trickled_body_is_cut_and_nothing_is_stored(limited):
    body = b'{"to": "red", "urgency": "routine", "subject": "trickled body"}'
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: line\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {limited.tokens['blue']}\r\n"
            f"Content-Length: {len(body) + 200}\r\n\r\n").encode()
    assert _cut_while_trickling(limited, head, body + b" " * 200)
    # chunked: a whole JSON object first, then whitespace a byte at a time, never the end —
    # a request cut before its body ended is not served, whatever its first part parses as
    chunked = b'{"to": "red", "urgency": "routine", "subject": "trickled chunks"}'
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: line\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {limited.tokens['blue']}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    first = b"%x\r\n%s\r\n" % (len(chunked), chunked)
    assert _cut_while_trickling(limited, head + first, b"1\r\n \r\n" * 40)
    subjects = {e["data"].get("subject") for e in limited.events("red")}
    assert not subjects & {"trickled body", "trickled chunks"}


def test_a_silent_connection_is_cut(limited):
    sock = socket.create_connection(("127.0.0.1", limited.server.port))
    sock.settimeout(BOUND_S)
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass
    finally:
        sock.close()


def test_an_honest_slow_client_is_served(limited):
    body = b'{"to": "red", "urgency": "routine", "subject": "slow but honest"}'
    parts = [b"POST /v1/messages HTTP/1.1\r\nHost: line\r\n",
             f"Authorization: Bearer {limited.tokens['blue']}\r\n".encode(),
             f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode(),
             body[:20], body[20:]]
    with socket.create_connection(("127.0.0.1", limited.server.port)) as sock:
        sock.settimeout(BOUND_S)
        for part in parts:  # a packet every 0.1 s: a slow network, well within the deadlines
            sock.sendall(part)
            time.sleep(0.1)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


def test_oversized_headers_are_a_431(limited):
    with socket.create_connection(("127.0.0.1", limited.server.port)) as sock:
        sock.settimeout(BOUND_S)
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: line\r\n")
        try:
            for _ in range(20):
                sock.sendall(b"X-Pad: " + b"p" * 8000 + b"\r\n")
        except OSError:
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:300]
    assert b"application/problem+json" in answer and b"headers_too_large" in answer
