"""The PostgreSQL backend (and the road to CockroachDB/YugabyteDB: plain SQL, retried 40001).

Write transactions run SERIALIZABLE, so a conflict check and the write it guards cannot
interleave with another; the database aborts one of two racing transactions (SQLSTATE 40001,
or 40P01 on deadlock) and ``transact`` runs it again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from deconfliction.store.base import Repository
from deconfliction.store.hooks import CommitHooks
from deconfliction.store.migrate import upgrade
from deconfliction.store.sql import SqlRepository

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE = {"40001", "40P01"}
MAX_ATTEMPTS = 20


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
        self._engine = create_async_engine(self.url, pool_size=8, max_overflow=8,
                                           pool_pre_ping=True)
        self._serializable = self._engine.execution_options(isolation_level="SERIALIZABLE")
        self._random = random.Random()
        self._retry_gate = asyncio.Lock()

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        """Create or upgrade the schema, then open the store."""
        upgrade(driver_url(url))
        return cls(url)

    async def interact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        async with self._engine.begin() as connection:
            return await work(SqlRepository(connection))

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
        async with self._serializable.begin() as connection:
            repo = SqlRepository(connection)
            result = await work(repo)
        self._committed(repo.appended)
        return result

    async def close(self) -> None:
        await self._engine.dispose()
