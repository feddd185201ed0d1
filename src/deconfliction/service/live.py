"""This process's live state: stream wake-ups and who is connected.

Nothing here is durable or needed for correctness: streams read the database, the notifier
only saves them a poll, and presence is what this process has seen (with several processes,
each shows the connections it holds).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class Notifier:
    """Wakes the streams following a party when a commit appended to its stream.

    A stream subscribes once, clears its flag *before* each read and waits on it when the read
    found nothing: a commit between the two sets the flag, so no wake-up is lost.
    """

    def __init__(self) -> None:
        self._flags: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set))

    def notify(self, parties: Iterable[str]) -> None:
        """Wake every stream following these parties (safe from any thread)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for party in parties:
            for loop, flag in list(self._flags.get(party, ())):
                if loop is running:
                    flag.set()
                else:
                    loop.call_soon_threadsafe(flag.set)

    @contextmanager
    def subscribe(self, party: str) -> Iterator[asyncio.Event]:
        """A flag set whenever ``party``'s stream may have grown."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        self._flags[party].add(entry)
        try:
            yield entry[1]
        finally:
            self._flags[party].discard(entry)
            if not self._flags[party]:
                del self._flags[party]


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
