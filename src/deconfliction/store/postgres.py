"""The PostgreSQL backend (and the road to CockroachDB/YugabyteDB: plain SQL, retried 40001).

Write transactions run SERIALIZABLE, so a conflict check and the write it guards cannot
interleave with another; the database aborts one of two racing transactions (SQLSTATE 40001,
or 40P01 on deadlock) and ``transact`` runs it again. Each unit of work runs whole on a worker
thread with its own connection (``store.unit_of_work``): the database, not the event loop,
decides how transactions interleave.

Fairness. Every write appends to the ledger (its next index is read from its tail), so any two
concurrent writes conflict and the database aborts one. Left to chance, the long ones lose
every time: a 50-report track batch beside a flow of short hotline messages was aborted 20
times in a row and answered 500 (``bench/fairness.py``). So writes run side by side and a
write that lost is retried (one retry at a time, beside new writes); a write that has lost
`ALONE_AFTER` times runs again *alone*: new writes wait, the ones running finish, and the
starved ones run one at a time before the rest go on. (Making every loser run alone made each
write wait seconds under the hostile bench's honest load: most writes conflict.)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from deconfliction.model.event import Event
from deconfliction.store.base import Repository
from deconfliction.store.hooks import CommitHooks
from deconfliction.store.migrate import upgrade
from deconfliction.store.sql import SqlRepository
from deconfliction.store.unit_of_work import ThreadConnection, run_unit

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE = {"40001", "40P01"}
MAX_ATTEMPTS = 20
ALONE_AFTER = 3  # failed attempts after which a write runs again alone (see the module)
CONNECTIONS = 8


def driver_url(url: str) -> str:
    """``postgresql://…`` as SQLAlchemy's psycopg 3 URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def _sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


class PostgresStore(CommitHooks):
    """A :class:`~deconfliction.store.base.Store` on a PostgreSQL database."""

    backend = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = driver_url(url)
        self._engine = create_engine(self.url, pool_size=CONNECTIONS, max_overflow=0,
                                     pool_pre_ping=True)
        self._serializable = self._engine.execution_options(isolation_level="SERIALIZABLE")
        # A read unit sees one snapshot (REPEATABLE READ): a dry run or a list that reads
        # several tables never sees half of a write that committed between its statements.
        self._snapshot = self._engine.execution_options(isolation_level="REPEATABLE READ",
                                                        postgresql_readonly=True)
        self._threads = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="postgres")
        self._random = random.Random()
        self._retry_gate = asyncio.Lock()  # retries one at a time ...
        self._running = 0  # ... once the first attempts running have finished,
        self._idle = asyncio.Event()
        self._idle.set()
        self._retrying = 0  # ... while new first attempts wait for the retries
        self._calm = asyncio.Event()
        self._calm.set()

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        """Create or upgrade the schema, then open the store."""
        upgrade(driver_url(url))
        return cls(url)

    async def interact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._read, work)

    async def lookup(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        return await self.interact(work)  # a network round trip: never on the event loop

    def _read(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        with self._snapshot.begin() as connection:
            return run_unit(work, SqlRepository(ThreadConnection(connection)))

    def pending_writes(self) -> int:
        return self._running + self._retrying  # first attempts running, losers retrying

    async def transact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        starved = False
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    if attempt == 1:
                        return await self._first(work)
                    async with self._retry_gate:
                        while starved and self._running:  # the writes it lost to finish
                            await self._idle.wait()
                        return await self._attempt(work)
                except DBAPIError as error:
                    if _sqlstate(error) not in RETRYABLE or attempt == MAX_ATTEMPTS:
                        raise
                    log.debug("serialization failure (attempt %d), retrying", attempt)
                    if attempt >= ALONE_AFTER and not starved:
                        starved = True
                        self._retrying += 1
                        self._calm.clear()
                    await asyncio.sleep(self._random.uniform(0, min(0.1, 0.001 * 2**attempt)))
            raise AssertionError("unreachable")
        finally:
            if starved:
                self._retrying -= 1
                if not self._retrying:
                    self._calm.set()

    async def _first(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        """A first attempt, side by side with others, once no starved write waits."""
        while self._retrying:
            await self._calm.wait()
        self._running += 1
        self._idle.clear()
        try:
            return await self._attempt(work)
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def _attempt(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        result, appended = await loop.run_in_executor(self._threads, self._write, work)
        self._committed(appended)
        return result

    def _write(self, work: Callable[[Repository], Awaitable[T]]) -> tuple[T, list[Event]]:
        with self._serializable.begin() as connection:
            repo = SqlRepository(ThreadConnection(connection))
            result = run_unit(work, repo)
        return result, repo.appended

    async def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._engine.dispose()
