"""This process's live state: stream wake-ups and who is connected.

Nothing here is durable or needed for correctness: streams read the database whenever what
was pushed to them does not continue where they are, the notifier only saves them a read, and
presence is what this process has seen (with several processes, each shows the connections it
holds). What is bounded here is what a party can make this process hold: each stream's mailbox
holds at most its send buffer of events, and a stream can be cut at once (its client too slow,
or its party revoked).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from deconfliction.model.event import Event

PUSH_BUFFER = 10_000  # events held for a follower that sets no bound of its own (webhooks)

TOO_SLOW = "too_slow"  # a stream's client stopped reading and its send buffer filled
REVOKED = "revoked"  # the party's token was revoked
CYCLES_KEPT = 1_000  # detection cycle times held for /metrics between two scrapes


class Subscription:
    """One follower's mailbox: a flag set on every commit that appended to its party's stream,
    the committed events themselves (at most ``capacity`` since the follower last took them:
    past it they are dropped and the follower reads the database), and ``cut``, set when the
    follower must stop at once.

    ``at_client`` is set by a stream while a batch it produced is being sent to its client: a
    mailbox that fills up then belongs to a client that does not read, and is cut."""

    __slots__ = ("flag", "pushed", "behind", "stale", "capacity", "at_client", "cut",
                 "cut_reason")

    def __init__(self, capacity: int = PUSH_BUFFER) -> None:
        self.flag = asyncio.Event()
        self.pushed: deque[Event] = deque()
        self.behind = 0  # events committed since the follower last took its mailbox
        self.stale = False  # the pushed events are not all there is: read the database
        self.capacity = capacity
        self.at_client = False
        self.cut = asyncio.Event()
        self.cut_reason: str | None = None

    def deliver(self, events: list[Event]) -> None:
        """Hold these events for the follower and wake it (on the follower's loop)."""
        self.behind += len(events)
        if self.behind > self.capacity:
            self.pushed.clear()  # the database holds them: nothing is lost, memory is bounded
            self.stale = True
            if self.at_client:
                self.cut_off(TOO_SLOW)
        elif not self.stale:
            self.pushed.extend(events)
        self.flag.set()

    def must_read(self) -> None:
        """Make the follower read the database (events it was not handed: other processes')."""
        self.pushed.clear()
        self.stale = True
        self.flag.set()

    def cut_off(self, reason: str) -> None:
        """Stop the follower now, for ``reason`` (:data:`TOO_SLOW`, :data:`REVOKED`)."""
        if self.cut_reason is None:
            self.cut_reason = reason
        self.pushed.clear()
        self.cut.set()
        self.flag.set()

    def take(self) -> list[Event] | None:
        """The events pushed since the last take, or ``None`` if they are not all there is
        (the follower must then read the database)."""
        taken = list(self.pushed)
        self.pushed.clear()
        self.behind = 0
        if self.stale:
            self.stale = False
            return None
        return taken


Entry = tuple[asyncio.AbstractEventLoop, Subscription]


class Notifier:
    """Hands committed events to the followers of their parties and wakes them.

    A follower subscribes once, clears its flag *before* each read and waits on it when the
    read found nothing: a commit between the two sets the flag, so no wake-up is lost. The
    pushed events are a shortcut only: a follower uses them when they continue exactly where it
    is, and reads the database otherwise (events of other processes, a full mailbox).
    """

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Entry]] = defaultdict(set)
        self._known: dict[str, int] = {}  # highest sequence number notified, per party

    def notify(self, events: Iterable[Event]) -> None:
        """Push these committed events to the followers of their parties and wake them
        (safe from any thread: a mailbox is only touched on its own loop)."""
        batches: dict[Subscription, tuple[asyncio.AbstractEventLoop, list[Event]]] = {}
        for e in events:
            entries = self._subscriptions.get(e.party)
            if not entries:
                continue
            if e.seq > self._known.get(e.party, 0):
                self._known[e.party] = e.seq
            for loop, subscription in list(entries):
                batches.setdefault(subscription, (loop, []))[1].append(e)
        running = _running_loop()
        for subscription, (loop, batch) in batches.items():
            if loop is running:
                subscription.deliver(batch)
            else:
                loop.call_soon_threadsafe(subscription.deliver, batch)

    def followed(self) -> dict[str, int]:
        """The parties followed in this process, each with the highest sequence number
        notified here (a poll that finds more wakes them with :meth:`must_read`)."""
        return {party: self._known.get(party, 0) for party, entries in
                list(self._subscriptions.items()) if entries}

    def must_read(self, party: str, seq: int) -> None:
        """Events up to ``seq`` were committed elsewhere: ``party``'s followers read them."""
        if seq > self._known.get(party, 0):
            self._known[party] = seq
        self._each(party, Subscription.must_read)

    def cut(self, party: str, reason: str) -> None:
        """Stop every follower of ``party`` now (safe from any thread)."""
        self._each(party, lambda s: s.cut_off(reason))

    def _each(self, party: str, act: Callable[[Subscription], None]) -> None:
        running = _running_loop()
        for loop, subscription in list(self._subscriptions.get(party, ())):
            if loop is running:
                act(subscription)
            else:
                loop.call_soon_threadsafe(act, subscription)

    def open(self, party: str, capacity: int = PUSH_BUFFER) -> Subscription:
        """A mailbox for what is committed to ``party``'s stream from now on (give it back
        with :meth:`close`)."""
        subscription = Subscription(capacity)
        self._subscriptions[party].add((asyncio.get_running_loop(), subscription))
        return subscription

    def close(self, party: str, subscription: Subscription) -> None:
        entries = self._subscriptions.get(party)
        if entries is None:
            return
        for entry in [e for e in entries if e[1] is subscription]:
            entries.discard(entry)
        if not entries:
            del self._subscriptions[party]
            self._known.pop(party, None)

    @contextmanager
    def subscribe(self, party: str, capacity: int = PUSH_BUFFER) -> Iterator[Subscription]:
        """:meth:`open`, closed on leaving the block."""
        subscription = self.open(party, capacity)
        try:
            yield subscription
        finally:
            self.close(party, subscription)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass
class Presence:
    """Open streams per party, how far this process has handed each party's stream to a client
    (receipts are recorded once, whichever stream got there first), and when each party was
    last heard from (UTC seconds)."""

    streams: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    handed: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)

    def seen(self, party: str, now: float) -> None:
        if now > self.last_seen.get(party, 0.0):
            self.last_seen[party] = now

    def opened(self, party: str, now: float) -> None:
        self.streams[party] += 1
        self.seen(party, now)

    def closed(self, party: str, now: float) -> None:
        self.streams[party] = max(0, self.streams[party] - 1)
        if not self.streams[party]:
            del self.streams[party]
            self.handed.pop(party, None)
        self.seen(party, now)

    def open_streams(self, party: str) -> int:
        return self.streams.get(party, 0)

    def connected(self, party: str) -> bool:
        return self.streams.get(party, 0) > 0

    def first_handed(self, party: str, found: list[Event]) -> list[Event]:
        """Of these events just sent to one of ``party``'s clients, those no stream of this
        process had sent before (so their receipts are recorded once, not once per stream)."""
        done = self.handed.get(party, 0)
        if found and found[-1].seq > done:
            self.handed[party] = found[-1].seq
        return [e for e in found if e.seq > done]


@dataclass
class Live:
    """Per-process live state, built with the line and wired to the store by the app."""

    notifier: Notifier = field(default_factory=Notifier)
    presence: Presence = field(default_factory=Presence)
    watch: asyncio.Task[None] | None = None  # re-checks followed parties (service.events)
    cycle_times: deque[float] = field(default_factory=lambda: deque(maxlen=CYCLES_KEPT))
    """How long each recent detection cycle took (s), oldest first; ``/metrics`` empties it
    (`api.metrics`)."""
