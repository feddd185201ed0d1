"""store.hot: a hot statement run on the SQLite driver gives what SQLAlchemy gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from deconfliction.store.hot import HotRows, hot
from deconfliction.store.unit_of_work import ThreadConnection, run_to_completion

metadata = MetaData()
reading = Table("reading", metadata, Column("id", String(8), primary_key=True),
                Column("n", Integer, nullable=False), Column("value", Double, nullable=True))

INSERT = hot(insert(reading))
NEXT_N = hot(select(func.coalesce(func.max(reading.c.n), 0) + 1))
SOME = hot(select(reading).where(reading.c.id.in_(bindparam("ids", expanding=True)))
           .order_by(reading.c.id))
CLEAR = hot(update(reading).where(reading.c.id.in_(bindparam("ids", expanding=True)),
                                  reading.c.value.is_not(None))
            .values(value=None).returning(reading.c.id))


@pytest.fixture
def connection(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'hot.db'}")
    metadata.create_all(engine)
    with engine.begin() as sync:
        yield sync
    engine.dispose()


def run(coroutine):  # type: ignore[no-untyped-def]
    return run_to_completion(coroutine)


def test_driver_rows_match_sqlalchemy(connection) -> None:  # type: ignore[no-untyped-def]
    c = ThreadConnection(connection)
    assert c.driver is not None  # SQLite: hot statements take the driver
    rows = [{"id": f"r{i}", "n": i, "value": i / 2 if i % 2 else None} for i in range(5)]
    inserted = run(c.execute(INSERT, rows))
    assert isinstance(inserted, HotRows) and inserted.rowcount == 5
    assert run(c.scalar(NEXT_N)) == 5  # a literal the statement holds (+ 1) is bound too

    for ids in (["r1"], ["r0", "r3", "r4"], ["r3", "missing"]):  # a plan per list length
        hot_rows = run(c.execute(SOME, {"ids": ids})).all()
        plain = connection.execute(SOME.statement, {"ids": ids}).all()
        assert [tuple(r) for r in hot_rows] == [tuple(r) for r in plain]
        assert [r.id for r in hot_rows] == sorted(i for i in ids if i != "missing")

    cleared = run(c.execute(CLEAR, {"ids": ["r0", "r1", "r3"]}))
    assert sorted(r.id for r in cleared) == ["r1", "r3"]  # r0 had no value
    assert run(c.execute(SOME, {"ids": ["r1"]})).first().value is None
    assert run(c.execute(SOME, {"ids": ["nothing"]})).first() is None


def test_other_backends_run_through_sqlalchemy(connection) -> None:  # type: ignore[no-untyped-def]
    c = ThreadConnection(connection)
    c.driver = None  # as on PostgreSQL: the statement goes to SQLAlchemy unchanged
    run(c.execute(INSERT, [{"id": "a", "n": 7, "value": 1.5}]))
    assert run(c.scalar(NEXT_N)) == 8
    assert run(c.execute(SOME, {"ids": ["a"]})).first().value == 1.5


def test_a_dialect_without_qmark_is_refused(connection) -> None:  # type: ignore[no-untyped-def]
    driver = connection.connection.driver_connection
    with pytest.raises(TypeError, match="qmark"):
        SOME.run(driver, postgresql.dialect(), {"ids": ["a"]})
