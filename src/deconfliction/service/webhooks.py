"""Per-party webhooks: the party's event stream, also POSTed to an endpoint of its own.

Each event after the last delivered one is POSTed, in order, as ``{"seq", "kind", "time",
"data"}`` with ``X-Deconfliction-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` and
``X-Deconfliction-Seq``. A 2xx advances the party's delivered position (persisted: a restart
resumes there); anything else, or no answer within the timeout, is retried — the same event,
with jittered exponential back-off — so delivery is at least once and never skips. One task
per party: a slow or dead receiver delays only its own party's webhook, never the API.
A new webhook starts at the end of the party's stream (earlier events: ``GET /v1/events``);
replacing the URL or secret keeps the position. Delivered ``message.received`` events are the
message's delivery, as over the stream.

A webhook may only reach public addresses (`webhook_targets`: checked when it is set and
before each POST, which connects to the address just checked); the receiver's answer is read
up to ``webhook_response_bytes`` and for at most ``webhook_response_s``; a failure is shown to
the party as a category (``timeout``, ``refused``, ``tls``, ``http_status_500`` …), never as
the error's text, which would map the network behind the receiver. A revoked party's webhook
stops before its next POST.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import ssl
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import httpx

from deconfliction.model.event import Event
from deconfliction.model.party import Party
from deconfliction.model.time import rfc3339
from deconfliction.model.webhook import Webhook
from deconfliction.service.errors import FieldError, NotFound, ValidationFailed
from deconfliction.service.events import delivered
from deconfliction.service.line import Line
from deconfliction.service.live import Subscription
from deconfliction.service.webhook_targets import Target, TargetRefused, check_target
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Deconfliction-Signature"
SEQ_HEADER = "X-Deconfliction-Seq"
MIN_SECRET_CHARS = 16
MAX_URL_CHARS = 2048
SCAN_S = 1.0  # how often the deliverer looks for webhooks set or removed
BATCH = 100  # events read per query while catching up


@dataclass(frozen=True, slots=True)
class WebhookState:
    """A party's webhook and how many of its events still wait for delivery."""

    webhook: Webhook
    last_seq: int

    @property
    def pending(self) -> int:
        return max(0, self.last_seq - self.webhook.delivered_seq)


def _check(url: str, secret: str) -> None:
    wrong = []
    parts = urlsplit(url) if len(url) <= MAX_URL_CHARS else None
    if parts is None:
        wrong.append(FieldError("url", f"at most {MAX_URL_CHARS} characters"))
    elif parts.scheme not in ("http", "https"):
        wrong.append(FieldError("url", "must be an http:// or https:// URL"))
    elif not parts.hostname:
        wrong.append(FieldError("url", "must name a host"))
    elif any(c.isspace() or not c.isprintable() for c in url):
        wrong.append(FieldError("url", "must not contain spaces or control characters"))
    else:
        try:
            parts.port  # noqa: B018 - raises on a port out of range
            httpx.URL(url)
        except (ValueError, httpx.InvalidURL) as error:
            wrong.append(FieldError("url", f"not a usable URL: {error}"))
    if len(secret) < MIN_SECRET_CHARS:
        wrong.append(FieldError("secret", f"at least {MIN_SECRET_CHARS} characters"))
    if wrong:
        raise ValidationFailed(wrong)


async def _target(line: Line, url: str) -> Target:
    return await check_target(url, line.settings.webhook_allow, line.resolve)


async def set_webhook(line: Line, party: Party, url: str, secret: str, now: float
                      ) -> WebhookState:
    """Set (or replace) the party's webhook; any party may, observers too (they read). Its
    host must resolve to public addresses only (or allowed ones): a 400 says why not. At most
    ``settings_per_minute`` changes of one's own settings (checked before the name is
    resolved)."""
    line.quotas.take("settings_per_minute", party.name,
                     line.settings.limits.settings_per_minute, now=now)
    _check(url, secret)
    try:
        await _target(line, url)
    except TargetRefused as refused:
        raise ValidationFailed([FieldError("url", refused.detail)]) from None

    async def work(repo: Repository) -> WebhookState:
        last = await repo.last_seq(party.name)
        old = await repo.webhook(party.name)
        if old is None:
            hook = Webhook(party.name, url, secret, now, now, delivered_seq=last)
        else:
            hook = replace(old, url=url, secret=secret, updated_at=now, failures=0,
                           last_error=None, next_attempt_at=None)
        await repo.put_webhook(hook)
        return WebhookState(hook, last)

    return await line.store.transact(work)


async def get_webhook(line: Line, party: Party) -> WebhookState:
    """The party's webhook and its delivery state (:class:`NotFound` if none is set)."""

    async def read(repo: Repository) -> WebhookState | None:
        hook = await repo.webhook(party.name)
        return None if hook is None else WebhookState(hook, await repo.last_seq(party.name))

    state = await line.store.interact(read)
    if state is None:
        raise NotFound("no webhook is set")
    return state


async def remove_webhook(line: Line, party: Party, now: float) -> None:
    """Stop pushing the party's events (the stream itself is unchanged); a change of one's
    settings (``settings_per_minute``)."""
    line.quotas.take("settings_per_minute", party.name,
                     line.settings.limits.settings_per_minute, now=now)

    async def work(repo: Repository) -> bool:
        return await repo.delete_webhook(party.name)

    if not await line.store.transact(work):
        raise NotFound("no webhook is set")


# delivery ------------------------------------------------------------------------------------


def body_of(e: Event) -> bytes:
    """An event as the webhook's JSON body (the same shape as on ``GET /v1/events``)."""
    return json.dumps({"seq": e.seq, "kind": e.kind, "time": rfc3339(e.time), "data": e.data},
                      separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Deconfliction-Signature`` value: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_s(line: Line, failures: int, rng: random.Random) -> float:
    """The wait after ``failures`` failed attempts: doubling from the minimum to the maximum,
    with jitter (half to all of it), so many failing parties do not retry in lock-step."""
    settings = line.settings
    step = min(settings.webhook_retry_max_s,
               settings.webhook_retry_min_s * 2 ** min(max(failures - 1, 0), 32))
    return rng.uniform(step / 2, step)


def _category(error: BaseException) -> str:
    """What a party is told of a failed POST: a category, never the error's text."""
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, httpx.TimeoutException | TimeoutError) for e in chain):
        return "timeout"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "reset"
    if isinstance(error, httpx.ConnectError):
        return "connect"
    if isinstance(error, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol"
    return "error"


async def _post(line: Line, client: httpx.AsyncClient, hook: Webhook, e: Event) -> str | None:
    """POST one event to the address its host resolves to now (checked again: DNS can
    change); ``None`` on a 2xx, else the failure's category. At most
    ``webhook_response_bytes`` of the answer are read, within ``webhook_response_s``."""
    limits = line.settings.limits
    body = body_of(e)
    try:
        target = await _target(line, hook.url)
    except TargetRefused as refused:
        return refused.reason
    url = httpx.URL(hook.url)
    request = client.build_request(
        "POST", url.copy_with(host=str(target.address)), content=body,
        headers={"Host": url.netloc.decode("ascii"), "Content-Type": "application/json",
                 SIGNATURE_HEADER: signature(hook.secret, body), SEQ_HEADER: str(e.seq)},
        extensions={"sni_hostname": target.host} if url.scheme == "https" else None)
    try:
        async with asyncio.timeout(limits.webhook_response_s):
            response = await client.send(request, stream=True)
            try:
                read = 0  # raw bytes: a compressed answer is never inflated
                if not response.is_stream_consumed:  # (an answer made in memory is)
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= limits.webhook_response_bytes:
                            break  # the rest is never read: the connection closes unread
            finally:
                await response.aclose()
    except Exception as error:  # noqa: BLE001 - any failure is retried
        return _category(error)
    if 200 <= response.status_code < 300:
        return None
    return f"http_status_{response.status_code}"


async def _attempt(
    line: Line, client: httpx.AsyncClient, party: Party, hook: Webhook, e: Event
) -> str | None:
    """POST one event and, on a 2xx, advance the party's position; else why it failed."""
    error = await _post(line, client, hook, e)
    if error is not None:
        return error
    now = line.clock()
    try:
        await line.store.transact(
            lambda repo: repo.webhook_delivered(hook.party, hook.url, e.seq, now))
        await delivered(line, party, [e], now)
    except Exception:
        log.exception("webhook of %s: recording delivery failed", hook.party)
        return "recording_failed"  # delivered, but it will be sent again
    return None


async def _record_failure(line: Line, hook: Webhook, error: str, wait: float) -> None:
    now = line.clock()
    try:
        await line.store.transact(
            lambda repo: repo.webhook_failed(hook.party, hook.url, error, now, now + wait))
    except Exception:
        log.exception("webhook of %s: recording a failure failed", hook.party)


def _client(line: Line) -> httpx.AsyncClient:
    """A party's own HTTP client: its connections are never shared with another party's."""
    return httpx.AsyncClient(timeout=line.settings.webhook_timeout_s, follow_redirects=False,
                             trust_env=False, limits=httpx.Limits(max_connections=1))


async def _active(line: Line, party_name: str) -> bool:
    party = await line.store.lookup(lambda repo: repo.party(party_name))
    return party is not None and party.active


async def _pause(woken: Subscription, seconds: float) -> None:
    """Wait ``seconds``, or less if the party is revoked meanwhile."""
    try:
        await asyncio.wait_for(woken.cut.wait(), seconds)
    except TimeoutError:
        pass


async def _deliver_party(line: Line, party_name: str, rng: random.Random) -> None:
    """Deliver one party's events until its webhook is removed or the party revoked (checked
    before every POST: a revocation by another process stops it too)."""
    # capacity 0: every commit only sets the flag; delivery reads the database itself
    async with _client(line) as client:
        with line.live.notifier.subscribe(party_name, capacity=0) as woken:
            await _deliver(line, party_name, rng, client, woken)


async def _deliver(line: Line, party_name: str, rng: random.Random,
                   client: httpx.AsyncClient, woken: Subscription) -> None:
    """The delivery loop of :func:`_deliver_party`."""
    failures = 0
    while not woken.cut.is_set():
        woken.flag.clear()  # before the read: a commit after it sets the flag again
        woken.take()

        async def read(repo: Repository) -> tuple[Party | None, Webhook | None, list[Event]]:
            hook = await repo.webhook(party_name)
            party = await repo.party(party_name)
            if hook is None or party is None or not party.active:
                return party, None, []
            return party, hook, await repo.events(party_name, after=hook.delivered_seq,
                                                  limit=BATCH)

        try:
            party, hook, found = await line.store.interact(read)
        except Exception:
            log.exception("webhook of %s: reading the stream failed", party_name)
            failures += 1
            await _pause(woken, backoff_s(line, failures, rng))
            continue
        if party is None or hook is None:
            return
        if not found:
            try:  # the poll catches events committed by other processes
                await asyncio.wait_for(woken.flag.wait(), line.settings.stream_poll_s)
            except TimeoutError:
                pass
            continue
        for e in found:
            if woken.cut.is_set() or not await _active(line, party_name):
                return
            error = await _attempt(line, client, party, hook, e)
            if error is None:
                failures = 0
                continue
            failures += 1
            wait = backoff_s(line, failures, rng)
            await _record_failure(line, hook, error, wait)
            log.info("webhook of %s: event %d not delivered (%s); retry in %.1f s",
                     party_name, e.seq, error, wait)
            await _pause(woken, wait)
            break  # read again: the webhook may have changed meanwhile


async def run_webhooks(
    line: Line, stop: asyncio.Event, *, rng: random.Random | None = None,
) -> None:
    """Deliver every party's webhook until ``stop`` is set: one task per party, started when
    its webhook appears and ended when it is removed (each process delivers: at least once)."""
    rng = rng or random.Random()
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            try:
                hooks = await line.store.interact(lambda repo: repo.webhooks())
                for hook in hooks:
                    running = tasks.get(hook.party)
                    if running is None or running.done():
                        tasks[hook.party] = asyncio.create_task(
                            _deliver_party(line, hook.party, rng),
                            name=f"webhook-{hook.party}")
            except Exception:
                log.exception("webhook scan failed; retrying")
            for name, task in list(tasks.items()):
                if task.done():
                    del tasks[name]
                    if not task.cancelled() and task.exception() is not None:
                        log.error("webhook of %s stopped", name, exc_info=task.exception())
            try:
                await asyncio.wait_for(stop.wait(), SCAN_S)
            except TimeoutError:
                pass
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
