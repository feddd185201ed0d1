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
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
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
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Deconfliction-Signature"
SEQ_HEADER = "X-Deconfliction-Seq"
MIN_SECRET_CHARS = 16
MAX_URL_CHARS = 2048
SCAN_S = 1.0  # how often the deliverer looks for webhooks set or removed
BATCH = 100  # events read per query while catching up
ERROR_CHARS = 300  # a delivery error, as shown to the party


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


async def set_webhook(line: Line, party: Party, url: str, secret: str, now: float
                      ) -> WebhookState:
    """Set (or replace) the party's webhook; any party may, observers too (they read)."""
    _check(url, secret)

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


async def remove_webhook(line: Line, party: Party, now: float) -> None:  # noqa: ARG001
    """Stop pushing the party's events (the stream itself is unchanged)."""

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


async def _post(client: httpx.AsyncClient, hook: Webhook, e: Event) -> str | None:
    """POST one event; ``None`` on a 2xx, else why not."""
    body = body_of(e)
    try:
        response = await client.post(hook.url, content=body, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: signature(hook.secret, body),
            SEQ_HEADER: str(e.seq)})
    except Exception as error:  # noqa: BLE001 - any failure is retried
        return f"{type(error).__name__}: {error}"[:ERROR_CHARS] or type(error).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def _attempt(
    line: Line, client: httpx.AsyncClient, party: Party, hook: Webhook, e: Event
) -> str | None:
    """POST one event and, on a 2xx, advance the party's position; else why it failed."""
    error = await _post(client, hook, e)
    if error is not None:
        return error
    now = line.clock()
    try:
        await line.store.transact(
            lambda repo: repo.webhook_delivered(hook.party, hook.url, e.seq, now))
        await delivered(line, party, [e], now)
    except Exception:
        log.exception("webhook of %s: recording delivery failed", hook.party)
        return "delivered, but recording it failed (it will be sent again)"
    return None


async def _record_failure(line: Line, hook: Webhook, error: str, wait: float) -> None:
    now = line.clock()
    try:
        await line.store.transact(
            lambda repo: repo.webhook_failed(hook.party, hook.url, error, now, now + wait))
    except Exception:
        log.exception("webhook of %s: recording a failure failed", hook.party)


async def _deliver_party(
    line: Line, party_name: str, client: httpx.AsyncClient, rng: random.Random
) -> None:
    """Deliver one party's events until its webhook is removed or the party revoked."""
    failures = 0
    with line.live.notifier.subscribe(party_name) as woken:
        while True:
            woken.flag.clear()  # before the read: a commit after it sets the flag again
            woken.take()  # delivery reads the database itself; the pushed events are dropped

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
                await asyncio.sleep(backoff_s(line, failures, rng))
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
                error = await _attempt(line, client, party, hook, e)
                if error is None:
                    failures = 0
                    continue
                failures += 1
                wait = backoff_s(line, failures, rng)
                await _record_failure(line, hook, error, wait)
                log.info("webhook of %s: event %d not delivered (%s); retry in %.1f s",
                         party_name, e.seq, error, wait)
                await asyncio.sleep(wait)
                break  # read again: the webhook may have changed meanwhile


async def run_webhooks(
    line: Line, stop: asyncio.Event, *, rng: random.Random | None = None,
    client: httpx.AsyncClient | None = None,
) -> None:
    """Deliver every party's webhook until ``stop`` is set: one task per party, started when
    its webhook appears and ended when it is removed (each process delivers: at least once)."""
    rng = rng or random.Random()
    own = client is None
    if client is None:
        client = httpx.AsyncClient(timeout=line.settings.webhook_timeout_s,
                                   follow_redirects=False, trust_env=False)
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            try:
                hooks = await line.store.interact(lambda repo: repo.webhooks())
                for hook in hooks:
                    running = tasks.get(hook.party)
                    if running is None or running.done():
                        tasks[hook.party] = asyncio.create_task(
                            _deliver_party(line, hook.party, client, rng),
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
        if own:
            await client.aclose()
