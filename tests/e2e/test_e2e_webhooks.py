"""Per-party webhooks end to end, against a real HTTP receiver on a loopback port: events
arrive in order and signed; a failing receiver gets every event, in order, once it recovers;
a dead one slows neither the API nor other parties' webhooks; a restart resumes where
delivery stopped; validation; need-to-know — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("conftest_hotline")

from conftest_hotline import send, wait_for  # noqa: E402

#: Loaded into the server's memory at most this much per answer, however long the answer.
RSS_GROWTH_BOUND_MB = 64

pytest_plugins = ["conftest_hotline"]

SECRET = "s3cret-s3cret-s3cret"
WEBHOOK_CONFIG = (
    "detection_interval_s = 0\n"
    'webhook_allow = ["127.0.0.1/32"]\n'  # the receivers here are on loopback
    "[webhooks]\n"
    "timeout_s = 1\n"
    "retry_min_s = 0.1\n"
    "retry_max_s = 0.5\n"
    "[limits]\n"
    "webhook_response_s = 2\n"  # a receiver that trickles its answer is cut after it
)
PROMPT_S = 5.0  # a generous bound: the API answers well within it whatever receivers do


@dataclass
class Hit:
    seq_header: str | None
    signature: str | None
    body: bytes
    status: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver (http.server in a thread) that fails its first ``fail_first``
    requests with a 500."""

    fail_first: int = 0
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = 500 if len(receiver.hits) < receiver.fail_first else 204
                    receiver.hits.append(Hit(self.headers.get("X-Deconfliction-Seq"),
                                             self.headers.get("X-Deconfliction-Signature"),
                                             body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def accepted(self) -> list[dict]:
        with self.lock:
            return [h.event for h in self.hits if h.status == 204]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def hooked(backend, _module_servers, api_for) -> Iterator[Any]:
    srv = _module_servers.start(backend, config=WEBHOOK_CONFIG)
    api = api_for(srv)
    yield api
    api.close()
    srv.stop()
    _module_servers.databases.drop(srv.db)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def put_hook(api, party: str, url: str, secret: str = SECRET) -> dict:
    return api.expect(api.as_(party).put("/v1/parties/me/webhook",
                                         json={"url": url, "secret": secret}), 200)


def drop_hook(api, party: str) -> None:
    assert api.as_(party).delete("/v1/parties/me/webhook").status_code == 204


def received_ids(events: list[dict]) -> set[str]:
    return {e["data"]["id"] for e in events if e["kind"] == "message.received"}


def test_events_arrive_in_order_signed_and_only_ones_own(hooked, receiver):
    hook = put_hook(hooked, "red", receiver.url)
    assert hook["url"] == receiver.url and "secret" not in hook
    start = hook["delivered_seq"]
    assert hook["pending"] == 0 and start == (hooked.events("red") or [{"seq": 0}])[-1]["seq"]
    ids = [send(hooked, "blue", "red", subject=f"in order {i}")["id"] for i in range(5)]
    wait_for(lambda: received_ids(receiver.accepted()) >= set(ids), what="5 messages")

    for hit in receiver.hits:  # every request signed over its raw body
        expected = hmac.new(SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
        assert hit.signature is not None
        assert hmac.compare_digest(hit.signature, f"sha256={expected}")
        assert hit.seq_header == str(hit.event["seq"])
    got = receiver.accepted()
    assert [e["seq"] for e in got] == list(range(start + 1, start + 1 + len(got)))
    # need-to-know: exactly red's own stream, nothing of blue's
    stream = {e["seq"]: e for e in hooked.events("red")}
    assert all(e == stream[e["seq"]] for e in got)
    assert not any(e["kind"] == "message.sent" for e in got)
    # delivery over the webhook is the message's delivery
    thread = hooked.expect(hooked.blue.get(f"/v1/messages/{ids[0]}"), 200)
    assert thread["recipients"][0]["status"] == "delivered"
    state = wait_for(lambda: (s := hooked.expect(hooked.red.get("/v1/parties/me/webhook"), 200))
                     ["pending"] == 0 and s, what="nothing pending")
    assert state["failures"] == 0 and state["delivered_at"] is not None
    drop_hook(hooked, "red")
    hooked.problem(hooked.red.get("/v1/parties/me/webhook"), 404, "not_found")
    hooked.problem(hooked.red.delete("/v1/parties/me/webhook"), 404, "not_found")


def test_failing_receiver_gets_every_event_in_order_once_it_recovers(hooked):
    receiver = Receiver(fail_first=3)
    try:
        start = put_hook(hooked, "blue", receiver.url)["delivered_seq"]
        ids = [send(hooked, "red", "blue", subject=f"retry {i}")["id"] for i in range(4)]
        wait_for(lambda: received_ids(receiver.accepted()) >= set(ids), what="4 messages")
        got = receiver.accepted()
        assert [e["seq"] for e in got] == list(range(start + 1, start + 1 + len(got)))
        tried = [int(h.seq_header) for h in receiver.hits]
        assert tried[:4] == [start + 1] * 4  # the same event until it is taken
        assert tried == sorted(tried)
        state = hooked.expect(hooked.blue.get("/v1/parties/me/webhook"), 200)
        assert state["failures"] == 0 and state["last_error"] is None
    finally:
        drop_hook(hooked, "blue")
        receiver.close()


def test_dead_receiver_slows_neither_the_api_nor_other_webhooks(hooked, receiver):
    # a receiver that takes the connection and never answers, and one that refuses it
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    refused_port = refused.getsockname()[1]
    refused.close()
    try:
        put_hook(hooked, "red", f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        put_hook(hooked, "mission", f"http://127.0.0.1:{refused_port}/hook")
        start = put_hook(hooked, "blue", receiver.url)["delivered_seq"]
        with httpx.Client(base_url=hooked.server.base_url, timeout=PROMPT_S, headers={
                "Authorization": f"Bearer {hooked.tokens['blue']}"}) as blue:
            for i in range(10):
                r = blue.post("/v1/messages", json={"to": "all", "urgency": "routine",
                                                    "subject": f"dead {i}"})
                assert r.status_code == 201, r.text
        # blue's own webhook keeps up meanwhile
        wait_for(lambda: sum(e["kind"] == "message.sent" for e in receiver.accepted()) >= 10,
                 what="blue's 10 message.sent events")
        assert [e["seq"] for e in receiver.accepted()][:1] == [start + 1]
        for party in ("red", "mission"):
            state = wait_for(lambda p=party: (s := hooked.expect(
                hooked.as_(p).get("/v1/parties/me/webhook"), 200))["failures"] > 0 and s,
                what=f"{party}'s failures")
            assert state["pending"] >= 10
            # a category, never the error's text (which would map the network behind it)
            assert state["last_error"] == {"red": "timeout", "mission": "refused"}[party]
            assert state["next_attempt_at"] is not None
    finally:
        for party in ("red", "mission", "blue"):
            drop_hook(hooked, party)
        silent.close()


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://127.0.0.1/hook", "secret": SECRET}, "url"),
    ({"url": "http:///hook", "secret": SECRET}, "url"),
    ({"url": "127.0.0.1:9/hook", "secret": SECRET}, "url"),
    ({"url": "http://127.0.0.1:99999/hook", "secret": SECRET}, "url"),
    ({"url": "http://127.0.0.1/hook", "secret": "short"}, "secret"),
    ({"url": "http://127.0.0.1/hook"}, "secret"),
    ({"url": "http://127.0.0.1/hook", "secret": SECRET, "events": "all"}, "events"),
])
def test_validation_names_the_field_and_stores_nothing(hooked, body, field):
    problem = hooked.problem(hooked.mission.put("/v1/parties/me/webhook", json=body), 400,
                             "validation_error")
    assert field in [e["field"] for e in problem["errors"]], problem
    hooked.problem(hooked.mission.get("/v1/parties/me/webhook"), 404, "not_found")


def test_observers_may_set_one_and_anonymous_may_not(hooked):
    hook = put_hook(hooked, "watch", "https://127.0.0.1:9/observer-hook")
    assert hook["url"] == "https://127.0.0.1:9/observer-hook"
    drop_hook(hooked, "watch")
    hooked.problem(hooked.anon.put("/v1/parties/me/webhook", json={
        "url": "http://127.0.0.1/hook", "secret": SECRET}), 401, "unauthorized")


def test_a_restart_resumes_where_delivery_stopped(backend, server_factory, api_for):
    srv = server_factory.start(backend, config=WEBHOOK_CONFIG)
    api = api_for(srv)
    receiver = Receiver()
    port = receiver.httpd.server_address[1]
    try:
        start = put_hook(api, "red", receiver.url)["delivered_seq"]
        first = [send(api, "blue", "red", subject=f"before {i}")["id"] for i in range(3)]
        wait_for(lambda: received_ids(receiver.accepted()) >= set(first), what="first 3")
        wait_for(lambda: api.expect(api.red.get("/v1/parties/me/webhook"), 200)["pending"] == 0,
                 what="the first 3 recorded as delivered")
        receiver.close()  # down: what follows waits
        later = [send(api, "blue", "red", subject=f"while down {i}")["id"] for i in range(3)]
        srv.restart()
        api.close()
        api = api_for(srv)
        receiver = Receiver(port=port)  # back up, on the same port
        wait_for(lambda: received_ids(receiver.accepted()) >= set(later), what="3 after restart")
        got = [e["seq"] for e in receiver.accepted()]
        # at least once: resumed at the first event not acknowledged, and no gap
        assert got == list(range(got[0], got[-1] + 1)) and got[0] == start + 4
    finally:
        receiver.close()
        api.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.2:9/hook",  # loopback, but not the allowed 127.0.0.1/32
    "http://[::1]:9/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.2]:9/hook",
    "http://0.0.0.0:9/hook",
    "http://100.64.0.1/hook",
])
def test_a_target_must_be_public_unless_allowed(hooked, url):
    problem = hooked.problem(hooked.mission.put("/v1/parties/me/webhook", json={
        "url": url, "secret": SECRET}), 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["url"], problem
    assert "public" in problem["detail"], problem
    hooked.problem(hooked.mission.get("/v1/parties/me/webhook"), 404, "not_found")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


@dataclass
class RawReceiver:
    """A receiver on a raw socket: reads each request, then answers with ``answer(conn)``."""

    answer: Any
    sent: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length"))
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.sent.append(0)
                    self.answer(conn, self)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def _endless(conn: socket.socket, receiver: RawReceiver) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(16 * 1024):  # up to 1 GiB, if the line kept reading
        conn.sendall(chunk)
        receiver.sent[-1] += len(chunk)


def _trickle(conn: socket.socket, _receiver: RawReceiver) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000:
        conn.sendall(bytes([byte]))
        threading.Event().wait(0.2)


def test_an_answer_without_end_is_not_read(hooked):
    receiver = RawReceiver(_endless)
    pid = hooked.server.proc.pid
    before = _rss_mb(pid)
    try:
        put_hook(hooked, "red", receiver.url)
        for i in range(3):
            send(hooked, "blue", "red", subject=f"endless {i}")
        state = wait_for(lambda: (s := hooked.expect(hooked.red.get("/v1/parties/me/webhook"),
                                                     200))["pending"] == 0 and s,
                         what="3 events delivered to an endless answer")
        assert state["failures"] == 0
        assert len(receiver.sent) >= 3
        assert _rss_mb(pid) - before < RSS_GROWTH_BOUND_MB
    finally:
        drop_hook(hooked, "red")
        receiver.close()


def test_an_answer_trickled_past_the_time_limit_is_a_timeout(hooked):
    receiver = RawReceiver(_trickle)
    try:
        put_hook(hooked, "mission", receiver.url)
        send(hooked, "blue", "mission", subject="trickled")
        state = wait_for(lambda: (s := hooked.expect(
            hooked.mission.get("/v1/parties/me/webhook"), 200))["failures"] > 0 and s,
            what="the trickled answer cut")
        assert state["last_error"] == "timeout" and state["pending"] >= 1
    finally:
        drop_hook(hooked, "mission")
        receiver.close()


def test_a_revoked_party_s_webhook_stops(hooked, cli):
    receiver = Receiver(fail_first=10**9)  # every attempt fails: delivery keeps retrying
    try:
        put_hook(hooked, "spare", receiver.url)
        send(hooked, "blue", "spare", subject="before revocation")
        wait_for(lambda: len(receiver.hits) >= 2, what="the webhook retrying")
        proc = cli.run(hooked.server.db, "party", "revoke", "spare")
        assert proc.returncode == 0, proc.stderr
        at_revocation = len(receiver.hits)
        threading.Event().wait(3.0)  # several retry intervals (retry_max_s = 0.5)
        assert len(receiver.hits) <= at_revocation + 1  # at most the POST then under way
        hooked.problem(hooked.spare.get("/v1/parties/me/webhook"), 401, "unauthorized")
    finally:
        receiver.close()
