"""This process's live state: stream wake-ups and who is connected.

Nothing here is durable or needed for correctness: streams read the database whenever what
was pushed to them does not continue where they are, the notifier only saves them a poll and a
read, and presence is what this process has seen (with several processes, each shows the
connections it holds).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from deconfliction.model.event import Event

PUSH_BUFFER = 10_000  # events held for one slow stream before it must read the database


class Subscription:
    """One stream's mailbox: a flag set on every commit that appended to its party's stream,
    and the committed events themselves, so the stream need not read them back."""

    __slots__ = ("flag", "pushed", "overflowed")

    def __init__(self) -> None:
        self.flag = asyncio.Event()
        self.pushed: deque[Event] = deque()
        self.overflowed = False

    def deliver(self, events: list[Event]) -> None:
        """Hold these events for the stream and wake it (on the stream's loop)."""
        if len(self.pushed) + len(events) > PUSH_BUFFER:
            self.pushed.clear()
            self.overflowed = True
        else:
            self.pushed.extend(events)
        self.flag.set()

    def take(self) -> list[Event] | None:
        """The events pushed since the last take, or ``None`` if some were dropped (the
        stream must then read the database)."""
        taken = list(self.pushed)
        self.pushed.clear()
        if self.overflowed:
            self.overflowed = False
            return None
        return taken


class Notifier:
    """Hands committed events to the streams following their parties and wakes them.

    A stream subscribes once, clears its flag *before* each read and waits on it when the read
    found nothing: a commit between the two sets the flag, so no wake-up is lost. The pushed
    events are a shortcut only: a stream uses them when they continue exactly where it is, and
    reads the database otherwise (events of other processes, a full buffer).
    """

    def __init__(self) -> None:
        self._subscriptions: dict[
            str, set[tuple[asyncio.AbstractEventLoop, Subscription]]] = defaultdict(set)

    def notify(self, events: Iterable[Event]) -> None:
        """Push these committed events to the streams following their parties and wake them
        (safe from any thread: a stream's mailbox is only touched on its own loop)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        batches: dict[Subscription, tuple[asyncio.AbstractEventLoop, list[Event]]] = {}
        for e in events:
            for loop, subscription in list(self._subscriptions.get(e.party, ())):
                batches.setdefault(subscription, (loop, []))[1].append(e)
        for subscription, (loop, batch) in batches.items():
            if loop is running:
                subscription.deliver(batch)
            else:
                loop.call_soon_threadsafe(subscription.deliver, batch)

    @contextmanager
    def subscribe(self, party: str) -> Iterator[Subscription]:
        """A mailbox for what is committed to ``party``'s stream from now on."""
        entry = (asyncio.get_running_loop(), Subscription())
        self._subscriptions[party].add(entry)
        try:
            yield entry[1]
        finally:
            self._subscriptions[party].discard(entry)
            if not self._subscriptions[party]:
                del self._subscriptions[party]


@dataclass
class Presence:
    """Open streams per party, and when each party was last heard from (UTC seconds)."""

    streams: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_seen: dict[str, float] = field(default_factory=dict)

    def seen(self, party: str, now: float) -> None:
        if now > self.last_seen.get(party, 0.0):
            self.last_seen[party] = now

    def opened(self, party: str, now: float) -> None:
        self.streams[party] += 1
        self.seen(party, now)

    def closed(self, party: str, now: float) -> None:
        self.streams[party] = max(0, self.streams[party] - 1)
        self.seen(party, now)

    def connected(self, party: str) -> bool:
        return self.streams.get(party, 0) > 0


@dataclass
class Live:
    """Per-process live state, built with the line and wired to the store by the app."""

    notifier: Notifier = field(default_factory=Notifier)
    presence: Presence = field(default_factory=Presence)
