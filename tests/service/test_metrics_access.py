"""Who may read ``/metrics`` (`api.metrics`): from loopback anyone, from elsewhere only an
observer's token; every other party is refused with a problem, and the text names routes by
template. Served in process (httpx's ASGI transport sets the client's address)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from deconfliction.api.app import create_app
from deconfliction.api.metrics import Metrics
from deconfliction.api.observe import Observed
from deconfliction.api.routes.hotline import LEAN_ROUTES
from deconfliction.model.party import Role
from deconfliction.service import parties

pytestmark = pytest.mark.anyio


def _client(line, address: str) -> httpx.AsyncClient:
    app = Observed(create_app(line, detection=False), metrics=Metrics(line),
                   lean_routes=LEAN_ROUTES)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://line")


async def test_metrics_from_elsewhere_need_an_observer(line) -> None:
    _, watch = await parties.add_party(line, "watch", Role.OBSERVER, line.clock())
    _, blue = await parties.add_party(line, "blue", Role.OPERATOR, line.clock())
    async with _client(line, "192.0.2.7") as client:
        nobody = await client.get("/metrics")
        assert nobody.status_code == 401
        assert nobody.headers["content-type"] == "application/problem+json"
        operator = await client.get("/metrics", headers={"Authorization": f"Bearer {blue}"})
        assert operator.status_code == 403 and operator.json()["code"] == "forbidden"
        await client.get("/v1/operations/some-id", headers={"Authorization": f"Bearer {blue}"})
        observer = await client.get("/metrics", headers={"Authorization": f"Bearer {watch}"})
        assert observer.status_code == 200, observer.text
        assert observer.headers["content-type"].startswith("text/plain")
        text = observer.text
    assert ('deconfliction_http_requests_total{method="GET",'
            'route="/v1/operations/{operation_id}",status="404"} 1.0') in text
    assert "some-id" not in text, "routes are counted by template, never by raw path"
    assert 'status="403"' in text and "deconfliction_open_streams 0.0" in text


async def test_metrics_from_loopback_need_no_token(line) -> None:
    async with _client(line, "127.0.0.1") as client:
        answer = await client.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert "deconfliction_ledger_signed_leaves" in answer.text
        assert "deconfliction_detection_cycle_seconds_count" in answer.text
        assert "deconfliction_pending_writes 0.0" in answer.text  # nothing is being written
        assert "deconfliction_leader 1.0" in answer.text
        refused = await client.post("/metrics")
        assert refused.status_code == 405


async def test_pending_writes_counts_the_units_waiting_for_the_writer(line) -> None:
    """The gauge reads the store: units queued for (SQLite's one writer) or running in (each
    PostgreSQL connection) a write, until they commit."""
    release = threading.Event()

    async def held(_repo: Any) -> None:  # runs on a store thread: block it, not the loop
        release.wait(30)

    assert line.store.pending_writes() == 0
    units = [asyncio.create_task(line.store.transact(held)) for _ in range(4)]
    for _ in range(500):  # until the four have reached the store (bounded)
        if line.store.pending_writes() == 4:
            break
        await asyncio.sleep(0.01)
    assert line.store.pending_writes() == 4
    release.set()
    await asyncio.gather(*units)
    assert line.store.pending_writes() == 0
