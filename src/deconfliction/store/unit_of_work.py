"""Units of work run whole on a worker thread: one thread hop per transaction, not per statement.

The repository is written with ``await self._c.execute(...)`` so that services read as the
async code they are; but a driver that hops to its own thread for every statement (aiosqlite,
and psycopg's async mode waiting on the event loop) makes a transaction of fifteen statements
wait fifteen times for a busy event loop, and holds the database's write lock all that time.
Here the connection is a synchronous SQLAlchemy ``Connection`` behind an awaitable facade whose
awaits never suspend, so a unit of work is a coroutine that runs to completion in one
``send(None)`` on the thread that owns the connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, CursorResult

from deconfliction.store.hot import HotRows, HotStatement

T = TypeVar("T")


class UnitOfWorkError(RuntimeError):
    """A unit of work awaited something other than its repository (a programming error)."""


class ThreadConnection:
    """The part of ``AsyncConnection`` the repository uses, over a synchronous connection.

    The awaits complete at once: the statement runs on the calling thread, which is the worker
    thread the whole unit of work runs on. A `HotStatement` runs on the driver when it is
    SQLite's, through SQLAlchemy otherwise.
    """

    __slots__ = ("driver", "sync")

    def __init__(self, sync: Connection) -> None:
        self.sync = sync
        driver = sync.connection.driver_connection
        self.driver = driver if isinstance(driver, sqlite3.Connection) else None

    async def execute(self, statement: Any,
                      parameters: Any = None) -> CursorResult[Any] | HotRows:
        if type(statement) is HotStatement:
            if self.driver is not None:
                return statement.run(self.driver, self.sync.dialect, parameters)
            statement = statement.statement
        return self.sync.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        if type(statement) is HotStatement:
            if self.driver is not None:
                return statement.run(self.driver, self.sync.dialect, parameters).scalar()
            statement = statement.statement
        return self.sync.scalar(statement, parameters)


def run_to_completion(unit: Awaitable[T]) -> T:
    """Drive a unit of work that never really suspends; its result, or its exception."""
    if not isinstance(unit, Coroutine):
        raise UnitOfWorkError(f"a unit of work must be a coroutine, not {type(unit).__name__}")
    coroutine: Coroutine[Any, Any, T] = unit
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise UnitOfWorkError("a unit of work awaited something other than its repository")


def run_unit(work: Callable[[Any], Awaitable[T]], repository: Any) -> T:
    """``work(repository)`` run to completion on this thread."""
    return run_to_completion(work(repository))
