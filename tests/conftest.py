"""Shared test harness: real databases (SQLite files, PostgreSQL) and the real party CLI.

Every database-backed test may ask for the ``database_factory`` fixture and get a fresh,
empty database of a given backend:

* ``sqlite``: a file in a temporary directory;
* ``postgres``: a fresh database ``deconf_<hex>`` created on the server named by the
  environment variable ``DECONFLICTION_TEST_DATABASE_URL`` (in CI
  ``postgresql://postgres@127.0.0.1:5432/test``) and dropped ``WITH (FORCE)`` afterwards.
  When the variable is unset or the server is unreachable, postgres variants are skipped
  with a visible reason.

Nothing here imports the ``deconfliction`` package: parties are made with the real CLI in a
child process, exactly as an operator of the line would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

PG_ENV = "DECONFLICTION_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgres")
CLI_TIMEOUT_S = 60


# ---------------------------------------------------------------------------------------------
# PostgreSQL availability
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresAdmin:
    """Admin access to the PostgreSQL server named by the environment (or why there is none)."""

    dsn: str | None
    unavailable: str | None

    def require(self) -> str:
        if self.dsn is None:
            pytest.skip(f"PostgreSQL not available: {self.unavailable}")
        return self.dsn

    def connect(self):  # -> psycopg.Connection
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


def _probe_postgres() -> PostgresAdmin:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        return PostgresAdmin(None, f"environment variable {PG_ENV} is not set")
    try:
        import psycopg

        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with the reason"
        return PostgresAdmin(None, f"cannot connect to {PG_ENV}: {exc!s}".strip())
    return PostgresAdmin(dsn, None)


@pytest.fixture(scope="session")
def postgres_admin() -> PostgresAdmin:
    return _probe_postgres()


def pytest_report_header(config):  # noqa: ARG001 - pytest hook signature
    admin = _probe_postgres()
    if admin.dsn:
        return f"deconfliction: PostgreSQL tests enabled ({PG_ENV} reachable)"
    return f"deconfliction: PostgreSQL tests will be SKIPPED ({admin.unavailable})"


# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def session_databases(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin: PostgresAdmin
) -> Iterator[DatabaseFactory]:
    """Databases that live for the whole session (templates)."""
    factory = DatabaseFactory(tmp_path_factory.mktemp("session-dbs"), postgres_admin)
    yield factory
    factory.drop_all()


@pytest.fixture
def database_factory(
    tmp_path: Path, postgres_admin: PostgresAdmin
) -> Iterator[DatabaseFactory]:
    """Fresh databases for one test; all dropped at its end."""
    factory = DatabaseFactory(tmp_path, postgres_admin)
    yield factory
    factory.drop_all()


# ---------------------------------------------------------------------------------------------
# The real CLI
# ---------------------------------------------------------------------------------------------


def run_cli(
    db: Database, *args: str, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess:
    """Run ``python -m deconfliction ARGS... <db options>`` and return the finished process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "deconfliction", *args, *db.args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def add_party(db: Database, name: str, role: str) -> str:
    """``party add NAME --role ROLE``: exit 0, the bearer token alone on stdout."""
    proc = run_cli(db, "party", "add", name, "--role", role)
    assert proc.returncode == 0, (
        f"`party add {name} --role {role}` exited {proc.returncode}\n"
        f"stdout: {proc.stdout!r}\nstderr: {proc.stderr}"
    )
    token = proc.stdout.strip()
    assert token and len(token.split()) == 1 and "\n" not in token, (
        f"`party add` must print the bearer token alone on stdout, got {proc.stdout!r}"
    )
    return token


@pytest.fixture(scope="session")
def cli():
    """The CLI helpers, for tests that cannot import this conftest."""

    class CLI:
        run = staticmethod(run_cli)
        add_party = staticmethod(add_party)

    return CLI


# --- stores in this process (tests of the store and the ledger) ---------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, database_factory):
    """A fresh database of each backend (PostgreSQL skipped, with the reason, when absent)."""
    return database_factory.create(request.param)


@pytest.fixture
async def store(database):
    s = database.open_store()
    try:
        yield s
    finally:
        await s.close()
