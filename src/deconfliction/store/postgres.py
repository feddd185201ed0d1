"""The PostgreSQL backend (and the road to CockroachDB/YugabyteDB: plain SQL, retried 40001).

Write transactions run SERIALIZABLE, so a conflict check and the write it guards cannot
interleave with another; the database aborts one of two racing transactions (SQLSTATE 40001,
or 40P01 on deadlock) and ``transact`` runs it again. Each unit of work runs whole on a worker
thread with its own connection (``store.unit_of_work``): the database, not the event loop,
decides how transactions interleave.
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
        self._threads = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="postgres")
        self._random = random.Random()
        self._retry_gate = asyncio.Lock()

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
        with self._engine.begin() as connection:
            return run_unit(work, SqlRepository(ThreadConnection(connection)))

    async def transact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                if attempt == 1:
                    return await self._attempt(work)
                # Retries in this process go one at a time: many writers to one party's
                # stream would otherwise keep aborting each other (SSI pivots) until the
                # attempts run out.
                async with self._retry_gate:
                    return await self._attempt(work)
            except DBAPIError as error:
                if _sqlstate(error) not in RETRYABLE or attempt == MAX_ATTEMPTS:
                    raise
                log.debug("serialization failure (attempt %d), retrying", attempt)
                await asyncio.sleep(self._random.uniform(0, min(0.1, 0.001 * 2**attempt)))
        raise AssertionError("unreachable")

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
