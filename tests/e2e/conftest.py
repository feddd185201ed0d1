"""End-to-end harness: a real ``deconfliction serve`` process on a loopback port, backed by a
real SQLite file or a real PostgreSQL database, with parties made by the real CLI.

Fixtures for tests:

* ``backend`` (module scope, parametrised): ``"sqlite"`` and ``"postgres"`` — every e2e test
  that uses ``server``/``api`` runs on both.
* ``server`` (module scope): one running server per module per backend, with parties
  ``blue`` (operator), ``red`` (operator), ``mission`` (authority), ``watch`` (observer) and
  ``spare`` (operator, for revocation tests).
* ``api`` (module scope): HTTP clients per party (``api.blue``, ``api.red``, ..., ``api.anon``)
  and small helpers (``create_op``, ``problem``, ``events``...). Any 5xx response fails the
  test at once ("never a 500").
* ``area`` (function scope): a unique lon/lat centre for each test, so tests of one module
  (which share one database) never conflict with each other.
* ``geo`` (session scope): geodesy on WGS84 (pyproj.Geod) and body builders.
* ``server_factory`` (function scope): start extra servers (own database, config file,
  restart on the same database).

When a test fails, the tail of every running server's stderr is attached to its report.

The helpers (``Server``, ``ServerFactory``, ``API``, ``Geo``...) live in ``tests/support/``; this
file keeps the fixtures and hooks, and re-exports the helpers' names.

Run (PostgreSQL variants skip, with the reason, when the variable is unset or unreachable)::

    DECONFLICTION_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        .venv/bin/python -m pytest tests/e2e -q          # -k sqlite / -k postgres for one backend

Parties are made once per backend with the real CLI (``party add``) in a template database,
which is then cloned for every server (SQLite: file copy; PostgreSQL: CREATE DATABASE ...
TEMPLATE ...), so each server starts on its own fresh database without paying for five CLI
start-ups. Test modules are named ``test_e2e_*`` so that their basenames never clash with unit
test modules (tests/ has no ``__init__.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.api import API, HTTP_TIMEOUT_S
from support.databases import DatabaseFactory, PostgresAdmin
from support.geo import (
    EN_ROUTE_H_M,
    EN_ROUTE_V_M,
    FULL_VIEW_KEYS,
    RESTRICTED_VIEW_KEYS,
    Geo,
    next_area,
    parse_time,
)
from support.server import (
    PARTIES,
    RUNNING,
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
    PartyTemplate,
    Server,
    ServerFactory,
)

# Re-exported: the names this module held before the helpers moved to tests/support/.
__all__ = ["API", "EN_ROUTE_H_M", "EN_ROUTE_V_M", "FULL_VIEW_KEYS", "HTTP_TIMEOUT_S", "PARTIES",
           "RESTRICTED_VIEW_KEYS", "STARTUP_TIMEOUT_S", "STOP_TIMEOUT_S", "Geo", "PartyTemplate",
           "Server", "ServerFactory", "next_area", "parse_time"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, srv in enumerate(list(RUNNING)):
            report.sections.append(
                (f"server {i} stderr ({srv.db.backend}, {srv.base_url})", srv.log_text())
            )


# ---------------------------------------------------------------------------------------------
# Servers on databases with parties: made once per backend (via the real CLI), cloned per server.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _party_templates(session_databases: DatabaseFactory, cli: Any) -> dict[str, Any]:
    return {"_cli": cli}


@pytest.fixture(scope="module", params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def backend(request: pytest.FixtureRequest, postgres_admin: PostgresAdmin) -> str:
    if request.param == "postgres":
        postgres_admin.require()  # skips with "PostgreSQL not available: ..."
    return str(request.param)


@pytest.fixture(scope="module")
def _module_servers(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin: PostgresAdmin,
    session_databases: DatabaseFactory, _party_templates: dict[str, Any],
) -> Iterator[ServerFactory]:
    factory = ServerFactory(
        DatabaseFactory(tmp_path_factory.mktemp("module-dbs"), postgres_admin),
        _party_templates, session_databases, tmp_path_factory.mktemp("module-logs"),
    )
    yield factory
    factory.stop_all()
    factory.databases.drop_all()


@pytest.fixture(scope="module")
def server(backend: str, _module_servers: ServerFactory) -> Iterator[Server]:
    """One running server per module per backend, with the standard parties."""
    srv = _module_servers.start(backend)
    yield srv
    srv.stop()
    _module_servers.databases.drop(srv.db)


@pytest.fixture
def server_factory(
    tmp_path: Path, database_factory: DatabaseFactory, session_databases: DatabaseFactory,
    _party_templates: dict[str, Any],
) -> Iterator[ServerFactory]:
    """Extra servers for one test (own database; optional config; restartable)."""
    factory = ServerFactory(database_factory, _party_templates, session_databases, tmp_path)
    yield factory
    factory.stop_all()


# ---------------------------------------------------------------------------------------------
# HTTP clients, geodesy, places
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[API]:
    a = API(server)
    yield a
    a.close()


@pytest.fixture(scope="session")
def api_for() -> type[API]:
    """Make an :class:`API` for a server started with ``server_factory`` (closed by the caller)."""
    return API


@pytest.fixture(scope="session")
def geo() -> type[Geo]:
    return Geo


@pytest.fixture
def area() -> tuple[float, float]:
    """A (lon, lat) centre that no other test in the session uses."""
    return next_area()


@pytest.fixture(scope="session")
def fresh_area() -> Callable[[], tuple[float, float]]:
    """Call to get another unused (lon, lat) centre (for tests needing several)."""
    return next_area
