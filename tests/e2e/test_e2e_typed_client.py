"""A typed Python client generated from ``/openapi.json`` (openapi-python-client) runs the quick
tour against a real server, on both backends: declare → list → track → alert → message →
reply → ledger. Every answer parses into the generated model its document names, so a client
an integrator generates from the document alone works as shown.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from support.tactical import offset
from support.waiting import wait_for

PACKAGE = "line_client"


@pytest.fixture(scope="module")
def client_package(server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client generated from this server's document, importable as ``line_client``."""
    where = tmp_path_factory.mktemp("typed-client")
    document = where / "openapi.json"
    document.write_bytes(httpx.get(f"{server.base_url}/openapi.json", timeout=30).content)
    config = where / "config.yml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is only imported
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--output-path",
         str(where / PACKAGE), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]  # the other backend's client, generated from its server
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def _at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _parsed(response: Any, status: int, model: type) -> Any:
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), response.parsed
    return response.parsed


def test_generated_client_runs_the_tour(client_package: ModuleType, server,
                                        area: tuple[float, float]) -> None:
    models = _models()
    clients = {party: client_package.AuthenticatedClient(
        base_url=server.base_url, token=server.tokens[party], raise_on_unexpected_status=True)
        for party in ("blue", "red", "watch")}
    blue, red, watch = clients["blue"], clients["red"], clients["watch"]

    # declare, then list: blue sees its own operation in full
    body = models.OperationIn.from_dict({
        "volumes": [{"footprint": {"type": "Circle", "center": list(area), "radius_m": 5000},
                     "altitude_lower_m": 0, "altitude_upper_m": 3000,
                     "time_start": _at(2), "time_end": _at(3)}],
        "priority": 5, "callsigns": ["BLUE11"]})
    declared = _parsed(importlib.import_module(
        f"{PACKAGE}.api.operations.declare_operation").sync_detailed(client=blue, body=body),
        201, models.OperationWrittenOut)
    assert declared.priority == 5 and declared.receipt is not None
    listed = _parsed(importlib.import_module(
        f"{PACKAGE}.api.operations.list_operations").sync_detailed(client=blue),
        200, models.OperationsOut)
    assert declared.id in {o.id for o in listed.operations}

    # track: two parties' aircraft 3 km apart at one altitude, reported until an alert
    # (bounded generously: the first detection cycle of a fresh machine compiles its kernels)
    register = importlib.import_module(f"{PACKAGE}.api.tactical.register_aircraft")
    report = importlib.import_module(f"{PACKAGE}.api.tactical.report_tracks")
    list_alerts = importlib.import_module(f"{PACKAGE}.api.tactical.list_alerts")
    suffix = f"{time.time_ns():x}"[-8:]
    ids = {"blue": f"b-{suffix}", "red": f"r-{suffix}"}
    places = {"blue": offset(area, 270.0, 1500.0), "red": offset(area, 90.0, 1500.0)}
    for party, client in (("blue", blue), ("red", red)):
        _parsed(register.sync_detailed(client=client, body=models.AircraftIn(id=ids[party])),
                200, models.AircraftOut)

    def alerted() -> Any:
        for party, client in (("blue", blue), ("red", red)):
            lon, lat = places[party]
            batch = models.TrackBatchIn.from_dict({"reports": [{
                "aircraft_id": ids[party], "time": datetime.now(UTC).isoformat(),
                "lat": lat, "lon": lon, "altitude_m": 2000, "ground_speed_mps": 100,
                "track_deg": 90 if party == "blue" else 270}]})
            reported = _parsed(report.sync_detailed(client=client, body=batch), 200,
                               models.TracksReportedOut)
            assert reported.accepted == 1, reported
        found = _parsed(list_alerts.sync_detailed(client=blue), 200, models.AlertsOut)
        return [a for a in found.alerts if a.state == "raised"]

    raised = wait_for(alerted, timeout_s=120, what="an alert for the tour's aircraft",
                      every_s=0.5)
    alert = raised[0]
    assert alert.kind in ("conflict", "loss_of_separation")

    # message (blue to red, naming the alert), reply (red), thread as blue sees it
    send = importlib.import_module(f"{PACKAGE}.api.hotline.send_message")
    sent = _parsed(send.sync_detailed(client=blue, body=models.MessageIn.from_dict({
        "to": "red", "urgency": "urgent", "subject": "Turning north", "refs": [alert.id]})),
        201, models.MessageWrittenOut)
    assert sent.from_ == "blue" and sent.to == "red"
    reply = importlib.import_module(f"{PACKAGE}.api.hotline.reply")
    replied = _parsed(reply.sync_detailed(message_id=sent.id, client=red,
                                          body=models.ReplyIn.from_dict(
                                              {"reply": "will_comply"})),
                      201, models.ReplyWrittenOut)
    assert replied.message_id == sent.id and replied.receipt is not None
    thread = _parsed(importlib.import_module(f"{PACKAGE}.api.hotline.get_message")
                     .sync_detailed(message_id=sent.id, client=blue), 200, models.MessageOut)
    assert [r.reply for r in thread.recipients] == ["will_comply"]

    # ledger: the reply's receipt is proved once a head is signed; the observer reads entries
    receipt = importlib.import_module(f"{PACKAGE}.api.ledger.ledger_receipt")

    def proved() -> Any:
        found = _parsed(receipt.sync_detailed(index=replied.receipt.leaf_index, client=blue),
                        200, models.LedgerReceiptOut)
        return None if found.pending else found

    done = wait_for(proved, timeout_s=30, what="the reply's receipt to be signed")
    assert isinstance(done.tree_head, models.TreeHeadOut)
    entries = _parsed(importlib.import_module(f"{PACKAGE}.api.ledger.ledger_entries")
                      .sync_detailed(client=watch, start=replied.receipt.leaf_index),
                      200, models.LedgerEntriesOut)
    assert entries.entries[0].index == replied.receipt.leaf_index


def test_generated_client_reads_problems(client_package: ModuleType, server) -> None:
    """A refusal parses into the generated problem model, with its code."""
    models = _models()
    observer = client_package.AuthenticatedClient(base_url=server.base_url,
                                                  token=server.tokens["watch"])
    declare = importlib.import_module(f"{PACKAGE}.api.operations.declare_operation")
    body = models.OperationIn.from_dict({"volumes": []})
    refused = declare.sync_detailed(client=observer, body=body)
    assert refused.status_code == 403
    assert isinstance(refused.parsed, models.ProblemOut)
    assert refused.parsed.code == "forbidden"
    nobody = client_package.Client(base_url=server.base_url)
    whoami = importlib.import_module(f"{PACKAGE}.api.line.whoami").sync_detailed(client=nobody)
    assert whoami.status_code == 401 and whoami.parsed.code == "unauthorized"
