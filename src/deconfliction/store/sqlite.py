"""The embedded backend: one SQLite file in WAL mode.

Writes go through a one-connection engine that opens every transaction with
``BEGIN IMMEDIATE`` (the write lock up front, so a check-then-write is atomic even across
processes); reads use a separate pool and never block the writer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from deconfliction.store.base import Repository
from deconfliction.store.hooks import CommitHooks
from deconfliction.store.migrate import upgrade
from deconfliction.store.sql import SqlRepository

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000


def _configure(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed write survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


class SqliteStore(CommitHooks):
    """A :class:`~deconfliction.store.base.Store` on one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        url = f"sqlite+aiosqlite:///{self.path}"
        self._writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        self._reader = create_async_engine(url, pool_size=4, max_overflow=4)
        _configure(self._writer, "BEGIN IMMEDIATE")
        _configure(self._reader, "BEGIN")

    @classmethod
    def open(cls, path: Path) -> SqliteStore:
        """Create or upgrade the schema, then open the store."""
        path = Path(path)
        if not path.parent.exists():
            raise FileNotFoundError(f"directory {path.parent} does not exist")
        upgrade(f"sqlite:///{path}")
        return cls(path)

    async def interact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        async with self._reader.begin() as connection:
            return await work(SqlRepository(connection))

    async def transact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        async with self._writer.begin() as connection:
            repo = SqlRepository(connection)
            result = await work(repo)
        self._committed(repo.appended)
        return result

    async def close(self) -> None:
        await self._writer.dispose()
        await self._reader.dispose()
