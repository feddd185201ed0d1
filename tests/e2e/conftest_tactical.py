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

import time
from collections.abc import Callable, Iterator
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
    server start costs seconds), and the side scenarios started with them; all stopped at the
    end of the session."""
    pool: dict[str, Any] = {}
    yield pool
    for side in pool.get("_sides", []):
        side()
    for srv in pool.get("_servers", []):
        srv.stop()


@pytest.fixture(scope="module")
def tactical(backend, _tactical_pool, _module_servers, session_databases, api_for, geo,
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
        for hook in SIDE_SCENARIOS:
            hook(backend, srv, api_for, geo, _tactical_pool)
    a = api_for(_tactical_pool[backend])
    yield a
    a.close()


#: Called once when a backend's tactical server starts: ``hook(backend, server, api_for, geo,
#: pool)``; a hook may keep a result in ``pool`` and a stop function in ``pool["_sides"]``.
SIDE_SCENARIOS: list[Callable[..., None]] = []


def _contingency_excursion(backend, srv, api_for, geo, pool) -> None:
    """The one slow scenario (ASTM F3548-21: nonconforming for longer than 60 s →
    contingent), started as soon as the SQLite tactical server is up so that its wait overlaps
    the other tests; test_e2e_tactical.py checks the outcome. SQLite only, to keep the suite
    short: the timers live in the detection cycle, the same code on both backends, and the
    10 s step runs on both."""
    if backend != "sqlite":
        return
    api = api_for(srv)
    centre = (-150.0, 62.0)  # outside the harness's area grid (latitudes 27..57)
    op = api.create_op("blue", [geo.volume(geo.circle(centre, 2000.0), 0.0, 4000.0,
                                           start=-60, end=3600)])
    straying = uid("blue-cont")
    r = api.blue.post("/v1/aircraft", json={"id": straying, "operation_id": op["id"]})
    assert r.status_code in (200, 201), r.text
    feeder = Feeder(api, [Flight("blue", straying, offset(centre, 90, 8000), 0.0, 0.0, 2000.0,
                                 time.time())])
    feeder.start()
    pool["contingency"] = (op, feeder, time.time())

    def stop() -> None:
        feeder.stop(check=False)
        api.close()

    pool.setdefault("_sides", []).append(stop)


SIDE_SCENARIOS.append(_contingency_excursion)


@pytest.fixture
def contingency_excursion(backend, tactical, _tactical_pool):
    """(operation, feeder, started_at) of the contingency scenario (SQLite only)."""
    return _tactical_pool.get("contingency")
