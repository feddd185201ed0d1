"""A fair gate for costly work (volume validation, strategic assessment, a constraint's
check): at most one such job of each party at a time, at most ``costly_jobs`` in the whole
process, the waiting parties admitted round-robin.

Why: such jobs run geometry (shapely and Python) on worker threads, which contend for the
interpreter lock with the event loop; sixteen of one party's dry runs at once left the loop,
and every other party, a small share of it (health p99 7.5 → 600 ms) whatever the time budget
said. Behind this gate one party's burst queues behind itself, and another party's job waits
for at most one job of each party ahead of it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from deconfliction.model.limits import Limits
from deconfliction.service.errors import RateLimited


class FairGate:
    """This process's costly jobs: which party runs one, who waits (FIFO per party).

    >>> import asyncio
    >>> async def demo() -> list[str]:
    ...     gate, limits, order = FairGate(), Limits(costly_jobs=1), []
    ...     async def job(party: str) -> None:
    ...         async with gate.job(party, limits):
    ...             order.append(party)
    ...             await asyncio.sleep(0)
    ...     await asyncio.gather(*(job(p) for p in ["a", "a", "a", "b"]))
    ...     return order
    >>> asyncio.run(demo())
    ['a', 'b', 'a', 'a']
    """

    def __init__(self) -> None:
        self._running: set[str] = set()  # parties with a job admitted
        # the parties waiting, in round-robin order, each with its waiters in arrival order
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def running(self) -> int:
        """Jobs admitted and not yet done."""
        return len(self._running)

    def waiting(self, party: str) -> int:
        """``party``'s jobs waiting for their turn."""
        return len(self._waiting.get(party, ()))

    @asynccontextmanager
    async def job(self, party: str, limits: Limits) -> AsyncIterator[None]:
        """Hold one of the process's ``costly_jobs`` places for one of ``party``'s jobs; raise
        `RateLimited` if ``costly_jobs_queued`` of its jobs already wait. A waiter cancelled
        (its client gone) leaves its place, and a job done passes its place on."""
        await self._enter(party, limits)
        try:
            yield
        finally:
            self._leave(party, limits)

    async def _enter(self, party: str, limits: Limits) -> None:
        if party not in self._running and len(self._running) < limits.costly_jobs:
            # every waiter is then one whose party runs a job: nobody is passed
            self._running.add(party)
            return
        queue = self._waiting.get(party)
        if queue is not None and len(queue) >= limits.costly_jobs_queued:
            raise RateLimited(
                f"{party} has {limits.costly_jobs_queued} costly requests (validating or "
                "assessing volumes) waiting already (costly_jobs_queued); wait for an "
                "answer before sending more", limit="costly_jobs_queued",
                value=limits.costly_jobs_queued, retry_after_s=1.0)
        if queue is None:
            queue = self._waiting[party] = deque()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave(party, limits)  # admitted as it was cancelled: pass it on
            else:
                if turn in queue:
                    queue.remove(turn)
                if not queue and self._waiting.get(party) is queue:
                    del self._waiting[party]
            raise

    def _leave(self, party: str, limits: Limits) -> None:
        self._running.discard(party)
        if party in self._waiting:
            self._waiting.move_to_end(party)  # its next job after the others' waiting
        self._admit(limits)

    def _admit(self, limits: Limits) -> None:
        """Admit waiters while places are free: the first waiting party (in round-robin
        order) with no job running, then it goes to the back of the order."""
        while len(self._running) < limits.costly_jobs:
            party = next((p for p in self._waiting if p not in self._running), None)
            if party is None:
                return
            queue = self._waiting.pop(party)
            turn = queue.popleft()
            if queue:
                self._waiting[party] = queue  # to the back of the round-robin order
            if turn.done():
                continue  # cancelled while it waited: its task is leaving
            self._running.add(party)
            turn.set_result(None)
