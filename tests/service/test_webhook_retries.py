"""Webhook delivery with retries, through the service's deliverer (``run_webhooks``) against a
real HTTP receiver on loopback, on a real store (both backends) with a fake clock for what is
recorded. Retry waits are real but set to milliseconds (``webhook_retry_min_s``/``_max_s``), so
the back-off path runs in a fraction of a second; the schedule itself is checked exactly.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest

from deconfliction.model.message import Urgency
from deconfliction.model.party import Role
from deconfliction.service import hotline, webhooks
from deconfliction.service.line import Line, LineSettings
from support.service_level import T0, FakeClock, add_parties

pytestmark = pytest.mark.anyio

SECRET = "s" * 32


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1 answering 503 to its first ``fail_first`` POSTs, then 204;
    it keeps (seq, status, signature valid) per POST."""

    fail_first: int
    hits: list[tuple[int, int, bool]] = field(default_factory=list)
    port: int = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in head[1:] if line)}
            body = await reader.readexactly(int(headers["content-length"]))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()  # a client that went away before its request (the test stopping)
            return
        signed = headers.get(webhooks.SIGNATURE_HEADER.lower()) == webhooks.signature(SECRET,
                                                                                      body)
        status = 503 if len(self.hits) < self.fail_first else 204
        self.hits.append((json.loads(body)["seq"], status, signed))
        writer.write(f"HTTP/1.1 {status} -\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                     .encode())
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def delivered(self) -> list[int]:
        return [seq for seq, status, _ in self.hits if status == 204]


async def _loopback(host: str, port: int) -> list[IPv4Address | IPv6Address]:  # noqa: ARG001
    """The fake resolver: every name is this machine (allowed by ``webhook_allow`` below)."""
    return [ip_address("127.0.0.1")]


def _line(store, clock: FakeClock) -> Line:
    # a generous POST timeout: on a loaded machine a slow answer must not read as a timeout
    settings = LineSettings(webhook_retry_min_s=0.004, webhook_retry_max_s=0.016,
                            webhook_timeout_s=60.0, stream_poll_s=0.01,
                            webhook_allow=(ip_network("127.0.0.1/32"),))
    return Line(store, settings, clock=clock, resolve=_loopback)


async def _until(condition, what: str, timeout_s: float = 60.0) -> None:
    """Bounded wait for the deliverer task (a slow machine only makes it longer)."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)
    try:
        await asyncio.wait_for(poll(), timeout_s)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def _until_async(condition, what: str, timeout_s: float = 60.0) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.005)
    try:
        await asyncio.wait_for(poll(), timeout_s)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def test_a_failing_receiver_gets_every_event_in_order_once_it_recovers(store, clock):
    line = _line(store, clock)
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    async with Receiver(fail_first=3) as receiver:
        await webhooks.set_webhook(line, who["blue"], f"http://hooks.test:{receiver.port}/in",
                                   SECRET, T0)
        for k in range(4):
            await hotline.send_message(line, who["red"], to="blue", urgency=Urgency.ROUTINE,
                                       subject=f"retry {k}", body="", refs=[], now=T0)
        stream = await line.store.interact(lambda repo: repo.events("blue", after=0,
                                                                    limit=100))
        seqs = [e.seq for e in stream if e.kind == "message.received"]
        assert len(seqs) == 4

        clock.at(5.0)
        stop = asyncio.Event()
        task = asyncio.create_task(webhooks.run_webhooks(line, stop, rng=random.Random(7)))
        try:
            await _until(lambda: len(receiver.delivered()) == 4, "four deliveries")

            async def recorded() -> bool:  # the receiver answers before the line records it
                found = await webhooks.get_webhook(line, who["blue"])
                return found.webhook.delivered_seq == seqs[-1]
            await _until_async(recorded, "the last delivery recorded")
            state = await webhooks.get_webhook(line, who["blue"])
        finally:
            stop.set()
            await task

    # the first event was refused three times, then every event went, once, in order, signed
    assert receiver.hits == [(seqs[0], 503, True)] * 3 + [(s, 204, True) for s in seqs]
    hook = state.webhook
    assert hook.delivered_seq == seqs[-1] and hook.delivered_at == T0 + 5.0
    assert hook.failures == 0 and state.pending == 0


async def test_failures_are_recorded_with_the_next_attempt_within_the_back_off(store, clock):
    line = _line(store, clock)
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    async with Receiver(fail_first=10**6) as receiver:  # never recovers
        await webhooks.set_webhook(line, who["blue"], f"http://hooks.test:{receiver.port}/in",
                                   SECRET, T0)
        await hotline.send_message(line, who["red"], to="blue", urgency=Urgency.ROUTINE,
                                   subject="never", body="", refs=[], now=T0)
        clock.at(9.0)
        stop = asyncio.Event()
        task = asyncio.create_task(webhooks.run_webhooks(line, stop, rng=random.Random(3)))
        try:
            async def five_failures() -> bool:
                found = await webhooks.get_webhook(line, who["blue"])
                return found.webhook.failures >= 5
            await _until_async(five_failures, "five failures recorded")
        finally:
            stop.set()
            await task
        state = await webhooks.get_webhook(line, who["blue"])
    hook = state.webhook
    assert hook.failures >= 5 and hook.last_error == "http_status_503"
    assert len(receiver.hits) >= hook.failures and receiver.delivered() == []
    assert hook.last_attempt_at == T0 + 9.0 and state.pending == 1
    # the recorded next attempt is one back-off after the failure: at most the maximum wait
    assert hook.next_attempt_at is not None
    assert T0 + 9.0 < hook.next_attempt_at <= T0 + 9.0 + line.settings.webhook_retry_max_s


def test_back_off_doubles_from_the_minimum_to_the_maximum_with_jitter() -> None:
    line = Line(None, LineSettings(webhook_retry_min_s=0.5, webhook_retry_max_s=60.0))  # type: ignore[arg-type]
    rng = random.Random(11)
    for failures in range(1, 40):
        step = min(60.0, 0.5 * 2 ** (failures - 1))
        waits = [webhooks.backoff_s(line, failures, rng) for _ in range(50)]
        assert all(step / 2 <= w <= step for w in waits), failures
        assert max(waits) - min(waits) > step / 10  # jittered: parties do not retry in step
