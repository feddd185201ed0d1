"""Hot statements: the few that run for every message, compiled once and run on the driver.

SQLAlchemy builds these statements and compiles them; what it adds at run time (an execution
context, parameter processing, a result wrapper: about three times the cost of the statement
itself on SQLite) is paid once per plan instead. A `HotStatement` keeps one plan per dialect,
parameter names and length of each expanding ``IN`` list: the SQL text and where each
positional parameter comes from. On SQLite it runs on the ``sqlite3`` connection's cursor; on
other backends it is handed to SQLAlchemy unchanged (their drivers differ in paramstyle and
types, and their cost is in the round trip, not here).

Only statements whose columns need no type processing are made hot (text, numbers, bytes): the
rows come back as the driver gives them, with attribute access by column name.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a positional parameter comes from: ``params[key]``, or ``params[key][index]``
    for one element of an expanding ``IN`` list."""

    key: str
    index: int | None = None


@dataclass(slots=True)
class _Plan:
    sql: str
    slots: list[Any]  # a `_Slot`, or a literal the statement carries itself
    row: Any = None  # the namedtuple class of the result rows, made at the first run

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [(params[s.key] if s.index is None else params[s.key][s.index])
                if type(s) is _Slot else s for s in self.slots]


class HotRows:
    """The part of SQLAlchemy's ``CursorResult`` the repository uses."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Any]:
        return list(self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


@dataclass(slots=True)
class HotStatement:
    """A Core statement run on the SQLite driver's cursor (see the module's docstring)."""

    statement: ClauseElement
    _plans: dict[tuple[Any, ...], _Plan] = field(default_factory=dict)

    def run(self, driver: sqlite3.Connection, dialect: Dialect,
            params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> HotRows:
        """Execute with ``params`` (a list of them: executemany, no rows returned)."""
        if isinstance(params, Sequence):
            if not params:
                return HotRows([], 0)
            plan = self._plan(dialect, params[0])
            cursor = driver.executemany(plan.sql, [plan.arguments(p) for p in params])
            return HotRows([], cursor.rowcount)
        given = params or {}
        plan = self._plan(dialect, given)
        cursor = driver.execute(plan.sql, plan.arguments(given))
        if cursor.description is None:
            return HotRows([], cursor.rowcount)
        if plan.row is None:
            plan.row = namedtuple("HotRow", [d[0] for d in cursor.description],  # type: ignore[misc]
                                  rename=True)
        make = plan.row._make
        rows = [make(r) for r in cursor.fetchall()]
        return HotRows(rows, cursor.rowcount)

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        lengths = tuple((k, len(v)) for k, v in params.items() if isinstance(v, (list, tuple)))
        key = (dialect.name, tuple(params), lengths)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(dialect, params)
        return plan

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)  # a DML or SELECT statement's compiler
        if dialect.paramstyle != "qmark" or compiled.positiontup is None:
            raise TypeError(f"hot statements need the qmark paramstyle, not "
                            f"{dialect.paramstyle}")
        sample = {k: [_Slot(k, i) for i in range(len(v))] if isinstance(v, (list, tuple))
                  else _Slot(k) for k, v in params.items()}
        state = compiled.construct_expanded_state(sample)
        # every name the SQL binds: ours (a `_Slot`) or a literal the statement holds itself
        values = state.parameters
        assert state.positiontup is not None
        return _Plan(state.statement, [values[name] for name in state.positiontup])


def hot(statement: ClauseElement) -> HotStatement:
    """Mark ``statement`` as hot: run on the driver where the store allows it."""
    return HotStatement(statement)
