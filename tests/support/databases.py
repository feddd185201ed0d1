"""Real databases for tests: SQLite files in a temporary directory and fresh PostgreSQL databases
on the server named by ``DECONFLICTION_TEST_DATABASE_URL``, or without it on the default local
server when one answers (created per test, dropped ``WITH (FORCE)``). Imports nothing of
``deconfliction`` at module level."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

PG_ENV = "DECONFLICTION_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class PostgresAdmin:
    """Admin access to the PostgreSQL server named by the environment (or why there is none)."""

    dsn: str | None
    unavailable: str | None

    def require(self) -> str:
        if self.dsn is None:
            pytest.skip(f"PostgreSQL not available: {self.unavailable}")
        return self.dsn

    def connect(self) -> Any:  # a psycopg.Connection
        import psycopg

        return psycopg.connect(self.require(), autocommit=True, connect_timeout=5)

    def url_for(self, dbname: str) -> str:
        """A ``postgresql://`` URL for database ``dbname`` on the same server as the DSN."""
        from psycopg.conninfo import conninfo_to_dict

        params = {k: v for k, v in conninfo_to_dict(self.require()).items() if v is not None}
        params.pop("dbname", None)
        user = params.pop("user", None)
        password = params.pop("password", None)
        host = params.pop("host", "127.0.0.1")
        port = params.pop("port", None)
        auth = ""
        if user:
            auth = quote(str(user), safe="")
            if password:
                auth += ":" + quote(str(password), safe="")
            auth += "@"
        netloc = auth + str(host) + (f":{port}" if port else "")
        query = ("?" + urlencode(params)) if params else ""
        return f"postgresql://{netloc}/{dbname}{query}"


#: Where ``make test`` looks for PostgreSQL when the variable is unset (the CI address).
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@functools.cache
def probe_postgres() -> PostgresAdmin:
    """The server named by :data:`PG_ENV`, or else the default local one if it answers.

    The variable set but unreachable is a skip with the reason (never a silent fallback); unset,
    a quick probe of :data:`DEFAULT_PG_URL` decides, so a newcomer's ``make test`` runs the
    PostgreSQL tests wherever one answers at the usual address. Cached: one probe per process.
    """
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        try:
            import psycopg

            with psycopg.connect(DEFAULT_PG_URL, autocommit=True, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - none answers: skip, saying how to run them
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return PostgresAdmin(
                None, f"{PG_ENV} is not set and none answers at {DEFAULT_PG_URL} ({first_line})"
            )
        return PostgresAdmin(DEFAULT_PG_URL, None)
    try:
        import psycopg

        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with the reason"
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return PostgresAdmin(None, f"cannot connect to {PG_ENV}: {first_line}")
    return PostgresAdmin(dsn, None)


@dataclass
class Database:
    """One real database; ``args`` are the CLI/server options that select it."""

    backend: str
    args: list[str]
    path: Path | None = None  # sqlite
    name: str | None = None  # postgres
    url: str | None = None  # postgres

    def describe(self) -> str:
        return str(self.path) if self.path else f"postgres database {self.name}"

    def open_store(self):  # type: ignore[no-untyped-def]
        """The store on this database, in this process (migrated first)."""
        from deconfliction.store import open_store

        if self.backend == "sqlite":
            return open_store(db_path=self.path)
        return open_store(database_url=self.url)


@dataclass
class DatabaseFactory:
    """Makes fresh databases and removes them (postgres: DROP DATABASE ... WITH (FORCE))."""

    root: Path
    admin: PostgresAdmin
    created: list[Database] = field(default_factory=list)

    def create(self, backend: str, *, template: Database | None = None) -> Database:
        if backend == "sqlite":
            directory = self.root / f"db-{uuid.uuid4().hex[:8]}"
            directory.mkdir(parents=True)
            path = directory / "deconfliction.sqlite3"
            if template is not None:
                assert template.path is not None
                # Copy the main file and any WAL/SHM side files (no process has it open).
                for src in template.path.parent.glob(template.path.name + "*"):
                    shutil.copy2(src, directory / src.name.replace(template.path.name, path.name))
            db = Database("sqlite", ["--db", str(path)], path=path)
        elif backend == "postgres":
            self.admin.require()
            name = f"deconf_{uuid.uuid4().hex[:16]}"
            with self.admin.connect() as conn:
                if template is not None:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.name}"')
                else:
                    conn.execute(f'CREATE DATABASE "{name}"')
            url = self.admin.url_for(name)
            db = Database("postgres", ["--database-url", url], name=name, url=url)
        else:  # pragma: no cover - programming error in a test
            raise ValueError(f"unknown backend {backend!r}")
        self.created.append(db)
        return db

    def drop(self, db: Database) -> None:
        if db in self.created:
            self.created.remove(db)
        if db.backend == "postgres" and self.admin.dsn:
            with self.admin.connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')

    def drop_all(self) -> None:
        for db in list(reversed(self.created)):
            try:
                self.drop(db)
            except Exception as exc:  # noqa: BLE001 - cleanup must go on
                print(f"warning: could not drop {db.describe()}: {exc}", file=sys.stderr)
