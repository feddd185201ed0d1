"""Fixtures and helpers for the tactical end-to-end tests (tracks, alerts, feeds).

Loaded with ``pytest_plugins = ["conftest_tactical"]`` by the test modules that need it. Builds
on the harness: ``backend``, ``_module_servers``/``server_factory``, ``api_for`` and ``geo``.

* ``tactical`` (module scope): a server per backend started with :data:`FAST_CONFIG` — a
  detection cycle every 0.5 s and tracks dropped after 6 s — and its :class:`API`.

The helpers live in ``tests/support/tactical.py`` (re-exported here):

* :class:`Flight`: a straight, constant-speed flight along a geodesic; its state at any time.
* :class:`Feeder`: a thread that re-reports flights' extrapolated states every ~0.5 s with the
  current time, as a party's tracker would (``POST /v1/tracks``, one batch per party).
* :func:`wait_for`: poll a function until it returns something truthy, or fail with the last
  value seen (no timing assertions anywhere: only bounded waits).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.server import ServerFactory
from support.tactical import (
    DETECTION_INTERVAL_S,
    FAST_CONFIG,
    FT,
    GEOD,
    NM,
    STATE_KEYS,
    TRACK_DROP_S,
    Feeder,
    Flight,
    aircraft_ids,
    alert_by_id,
    alerts,
    events_of,
    find_alert,
    head_on,
    iso,
    offset,
    parse,
    uid,
    wait_for,
)

__all__ = ["DETECTION_INTERVAL_S", "FAST_CONFIG", "FT", "GEOD", "NM", "STATE_KEYS",
           "TRACK_DROP_S", "Feeder", "Flight", "aircraft_ids", "alert_by_id", "alerts",
           "events_of", "find_alert", "head_on", "iso", "offset", "parse", "uid", "wait_for"]


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _tactical_pool() -> Iterator[dict]:
    """Fast-detection servers shared by every module of the session, one per backend (a
    server start costs seconds); all stopped at the end of the session."""
    pool: dict[str, Any] = {}
    yield pool
    for srv in pool.get("_servers", []):
        srv.stop()


@pytest.fixture(scope="module")
def tactical(backend, _tactical_pool, _module_servers, session_databases, api_for,
             tmp_path_factory) -> Iterator[Any]:
    """A server with fast detection (:data:`FAST_CONFIG`) per backend, and its API. One per
    backend for the whole session (tests use their own areas and aircraft ids), started on a
    database cloned from the harness's party template and dropped at the end of the session."""
    if backend not in _tactical_pool:
        # On databases that live for the session.
        factory = ServerFactory(session_databases, _module_servers.templates,
                                        session_databases,
                                        tmp_path_factory.mktemp(f"tactical-{backend}"))
        srv = factory.start(backend, config=FAST_CONFIG)
        _tactical_pool.setdefault("_servers", []).append(srv)
        _tactical_pool[backend] = srv
    a = api_for(_tactical_pool[backend])
    yield a
    a.close()
