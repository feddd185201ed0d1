"""The embedded backend: one SQLite file in WAL mode, written with group commit.

Every unit of work runs whole on a worker thread (``store.unit_of_work``). Writes go to one writer
thread holding one connection: the units that arrive while it is busy wait in a queue and are
then run together, each inside its own SAVEPOINT, and committed by one ``BEGIN IMMEDIATE`` …
``COMMIT``. A unit that fails rolls back to its savepoint and leaves the others alone; none is
answered before the commit that makes it durable. Units still run one after another, so each
sees everything the ones before it wrote — the isolation of one writer, at the cost of one
commit per batch rather than per unit. Reads run on a small pool of threads and connections and
never block the writer (WAL).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from deconfliction.model.event import Event
from deconfliction.store.base import Repository
from deconfliction.store.hooks import CommitHooks
from deconfliction.store.migrate import upgrade
from deconfliction.store.sql import SqlRepository
from deconfliction.store.sql_ledger import LeafBatch
from deconfliction.store.unit_of_work import ThreadConnection, run_unit

T = TypeVar("T")
log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
READERS = 4
MAX_BATCH = 64  # units per commit: bounds the wait of the last one in a batch


def _engine(path: Path, size: int, begin: str, overflow: int = 0) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}", poolclass=QueuePool, pool_size=size, max_overflow=overflow,
        pool_timeout=60, connect_args={"check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed write survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]

    return engine


@dataclass(slots=True)
class _Unit:
    """One queued write and what became of it."""

    work: Callable[[Repository], Awaitable[Any]]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    appended: list[Event] = field(default_factory=list)


def _transaction_lost(connection: Connection) -> bool:
    """SQLite rolls a whole transaction back on some errors (full disk, I/O); savepoints then
    mean nothing and every unit of the batch must fail."""
    dbapi = connection.connection.dbapi_connection
    return isinstance(dbapi, sqlite3.Connection) and not dbapi.in_transaction


class SqliteStore(CommitHooks):
    """A :class:`~deconfliction.store.base.Store` on one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._writer = _engine(self.path, 1, "BEGIN IMMEDIATE")
        self._reader = _engine(self.path, READERS, "BEGIN")
        self._looker = _engine(self.path, 1, "BEGIN", overflow=-1)  # one per calling thread
        self._lookup_connections = threading.local()
        self._kept: list[Connection] = []
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._read_threads = ThreadPoolExecutor(READERS, thread_name_prefix="sqlite-reader")
        self._queue: list[_Unit] = []
        self._writing = 0  # units of the batch the writer thread holds
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    def open(cls, path: Path) -> SqliteStore:
        """Create or upgrade the schema, then open the store."""
        path = Path(path)
        if not path.parent.exists():
            raise FileNotFoundError(f"directory {path.parent} does not exist")
        upgrade(f"sqlite:///{path}")
        return cls(path)

    async def interact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_threads, self._read, work)

    async def lookup(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        # a keyed read of SQLite in WAL mode takes microseconds and never waits for the
        # writer: cheaper here than the hop to a reader thread. Each calling thread keeps its
        # own connection (a pool checkout would cost more than the read).
        connection: Connection | None = getattr(self._lookup_connections, "connection", None)
        if connection is None:
            connection = self._looker.connect()
            self._lookup_connections.connection = connection
            self._kept.append(connection)
        # no transaction: each statement of a keyed read is atomic in autocommit mode, and a
        # BEGIN … COMMIT would cost more than the read
        try:
            return run_unit(work, SqlRepository(ThreadConnection(connection)))
        finally:
            if connection.in_transaction():  # a statement that went through SQLAlchemy
                connection.rollback()

    def _read(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        with self._reader.begin() as connection:
            return run_unit(work, SqlRepository(ThreadConnection(connection)))

    def pending_writes(self) -> int:
        return len(self._queue) + self._writing

    async def transact(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        unit = _Unit(work, asyncio.get_running_loop().create_future())
        self._queue.append(unit)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="sqlite-commit")
        return await unit.future  # type: ignore[no-any-return]

    async def _commit_queued(self) -> None:
        """Commit what is queued, batch by batch, until the queue is empty."""
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._writing = len(batch)
            try:
                await loop.run_in_executor(self._write_thread, self._commit, batch)
            except Exception as error:  # the commit itself failed: nothing is stored
                for unit in batch:
                    unit.error, unit.appended = error, []
            except BaseException:  # shutting down: the callers are cancelled with us
                for unit in batch + self._queue:
                    unit.future.cancel()
                raise
            self._writing = 0
            appended: list[Event] = []
            for unit in batch:
                appended += unit.appended
                if unit.future.done():  # its caller was cancelled
                    continue
                if unit.error is None:
                    unit.future.set_result(unit.result)
                else:
                    unit.future.set_exception(unit.error)
            self._committed(appended)

    def _commit(self, batch: list[_Unit]) -> None:
        """On the writer thread: one transaction, one savepoint per unit."""
        with self._writer.begin() as connection:
            # savepoints issued straight to the driver: SQLAlchemy's nested transactions cost
            # more than the statements of a small unit
            driver = connection.connection.driver_connection
            assert driver is not None
            leaves = LeafBatch()
            for unit in batch:
                repo = SqlRepository(ThreadConnection(connection), leaves)
                driver.execute("SAVEPOINT unit")
                mark = leaves.mark()
                try:
                    unit.result = run_unit(unit.work, repo)
                except Exception as error:
                    unit.error = error
                    if _transaction_lost(connection):
                        raise
                    driver.execute("ROLLBACK TO unit")
                    driver.execute("RELEASE unit")
                    leaves.rewind(mark)
                else:
                    driver.execute("RELEASE unit")
                    unit.appended = repo.appended
            if leaves.pending:  # the batch's ledger leaves, in one statement, then the commit
                run_unit(lambda repo: repo.insert_leaves(leaves.pending),
                         SqlRepository(ThreadConnection(connection)))

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.shield(self._committer)
        self._write_thread.shutdown(wait=True)
        self._read_threads.shutdown(wait=True)
        for connection in self._kept:
            connection.close()
        self._writer.dispose()
        self._reader.dispose()
        self._looker.dispose()
