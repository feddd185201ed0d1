"""Fixtures and helpers for the hotline and event-stream end-to-end tests.

Loaded with ``pytest_plugins = ["conftest_hotline"]``. Builds on the harness (``backend``,
``_module_servers``, ``api_for``):

* ``hot`` (module scope): a server per backend with short reply deadlines
  (:data:`HOT_CONFIG`: distress 1 s, urgent 2 s) and a 0.5 s SSE heartbeat, and its API.
The helpers live in ``tests/support/hotline.py`` (re-exported here):

* :class:`SSE`: a Server-Sent Events client on ``GET /v1/events`` (httpx streaming) that
  parses frames into ``(id, event, data)`` and heartbeats.
* :func:`wait_for`: poll until truthy or fail with the last value (bounded waits, no timing
  assertions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.hotline import (
    DEADLINES,
    HEARTBEAT_S,
    HOT_CONFIG,
    SSE,
    Frame,
    recipient,
    send,
    thread,
    wait_for,
)
from support.server import ServerFactory

__all__ = ["DEADLINES", "HEARTBEAT_S", "HOT_CONFIG", "SSE", "Frame", "recipient", "send",
           "thread", "wait_for"]


@pytest.fixture(scope="module")
def hot(backend: str, _module_servers: ServerFactory, api_for: Callable[..., Any]
        ) -> Iterator[Any]:
    srv = _module_servers.start(backend, config=HOT_CONFIG)
    api = api_for(srv)
    yield api
    api.close()
    srv.stop()
    _module_servers.databases.drop(srv.db)
