"""Shared test harness: real databases (SQLite files, PostgreSQL) and the real party CLI.

Every database-backed test may ask for the ``database_factory`` fixture and get a fresh,
empty database of a given backend:

* ``sqlite``: a file in a temporary directory;
* ``postgres``: a fresh database ``deconf_<hex>`` created on the server named by the
  environment variable ``DECONFLICTION_TEST_DATABASE_URL`` (in CI
  ``postgresql://postgres@127.0.0.1:5432/test``) and dropped ``WITH (FORCE)`` afterwards.
  When the variable is unset, the default local server (``support.databases.DEFAULT_PG_URL``)
  is used if it answers; otherwise postgres variants are skipped with a visible reason, and the
  end of the run says how many and how to run them.

The helpers live in :mod:`support` (``tests/support/``); this file keeps the fixtures and
hooks. Nothing here imports the ``deconfliction`` package: parties are made with the real CLI in a
child process, exactly as an operator of the line would.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("support")

from support.cli import CLI, CLI_TIMEOUT_S, add_party, run_cli  # noqa: E402
from support.databases import (  # noqa: E402
    BACKENDS,
    DEFAULT_PG_URL,
    PG_ENV,
    Database,
    DatabaseFactory,
    PostgresAdmin,
    probe_postgres,
)

# Re-exported: the names this module held before the helpers moved to tests/support/.
__all__ = ["BACKENDS", "CLI", "CLI_TIMEOUT_S", "PG_ENV", "Database", "DatabaseFactory",
           "PostgresAdmin", "add_party", "run_cli"]


@pytest.fixture(scope="session")
def postgres_admin() -> PostgresAdmin:
    return probe_postgres()


def pytest_report_header(config: pytest.Config) -> str:  # noqa: ARG001 - pytest hook signature
    admin = probe_postgres()
    if admin.dsn:
        where = f"{PG_ENV} reachable" if os.environ.get(PG_ENV) else f"{DEFAULT_PG_URL} answers"
        return f"deconfliction: PostgreSQL tests enabled ({where})"
    return f"deconfliction: PostgreSQL tests will be SKIPPED ({admin.unavailable})"


_PG_SKIP = "PostgreSQL not available"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests skipped for want of PostgreSQL, and how to run them (issue 17)."""
    skipped = 0
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        if _PG_SKIP in str(reason):
            skipped += 1
    if skipped:
        terminalreporter.write_sep("-", "PostgreSQL tests skipped", yellow=True)
        terminalreporter.write_line(
            f"{skipped} PostgreSQL test(s) were skipped ({probe_postgres().unavailable}). "
            f"To run them, start PostgreSQL so that {DEFAULT_PG_URL} answers, or set "
            f"{PG_ENV}=postgresql://USER@HOST:PORT/DB (a role that may CREATE DATABASE)."
        )


#: The modules that took longest (worker seconds in a run on three workers, 2 cores, load 6-13:
#: 80-250 s each), longest first. Under pytest-xdist (``make test``: ``--dist loadfile
#: --no-loadscope-reorder``) they are handed out first, so that no long module starts last while
#: the other workers sit idle. A module missing here only runs later; none is left out.
SLOW_MODULES_FIRST = (
    "tests/e2e/test_e2e_authorization.py",
    "tests/service/test_paging.py",
    "tests/browser/test_console.py",
    "tests/e2e/test_e2e_hostile_fuzz.py",
    "tests/e2e/test_e2e_stream.py",
    "tests/e2e/test_e2e_tactical.py",
    "tests/e2e/test_e2e_ledger.py",
    "tests/test_tactical_detector.py",
    "tests/e2e/test_e2e_openapi_fuzz.py",
    "tests/e2e/test_e2e_validation.py",
    "tests/e2e/test_e2e_demo.py",
    "tests/e2e/test_e2e_webhooks.py",
    "tests/e2e/test_e2e_cli.py",
    "tests/e2e/test_e2e_profiles.py",
    "tests/e2e/test_e2e_limits.py",
    "tests/browser/test_demo_console.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, the slow modules first (a stable sort: each module's tests stay
    together and in their order, so module-scoped servers still start once)."""
    if not hasattr(config, "workerinput"):
        return
    rank = {module: i for i, module in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


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


@pytest.fixture(scope="session")
def cli() -> type[CLI]:
    return CLI


# --- stores in this process (tests of the store and the ledger) ---------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> Database:
    """A fresh database of each backend (PostgreSQL skipped, with the reason, when absent)."""
    return database_factory.create(request.param)


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Any]:
    s = database.open_store()
    try:
        yield s
    finally:
        await s.close()
