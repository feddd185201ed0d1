"""A server that says what it does (issue 17): a start-up summary before "serving", a busy port
refused in one line with exit 1 before anything says "serving", an access log line a request
(method, path, status, party, duration; never a token or a body), the log level from the
configuration, JSON lines with ``--log-format json``, and ``/metrics`` when enabled. Real
``serve`` processes on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.server import free_port
from support.waiting import wait_for

METRICS_ON = "[metrics]\nenabled = true\n"


def test_summary_access_log_and_metrics(server_factory, backend: str) -> None:
    srv = server_factory.start(backend, config=METRICS_ON)
    blue, red = srv.tokens["blue"], srv.tokens["red"]
    secret_subject = "body-text-that-must-not-be-logged"
    with httpx.Client(base_url=srv.base_url, timeout=30) as http:
        assert http.get("/v1/parties/me", headers={"Authorization": f"Bearer {blue}"}
                        ).status_code == 200
        sent = http.post("/v1/messages", headers={"Authorization": f"Bearer {blue}"},
                         json={"to": "red", "urgency": "routine", "subject": secret_subject})
        assert sent.status_code == 201, sent.text
        assert http.get("/v1/parties/me", headers={"Authorization": "Bearer not-a-token"}
                        ).status_code == 401
        metrics = http.get("/metrics")  # from loopback: no token needed
    assert metrics.status_code == 200, metrics.text
    assert ('deconfliction_http_requests_total{method="POST",route="/v1/messages",'
            'status="201"} 1.0') in metrics.text
    assert 'route="/v1/parties/me",status="401"' in metrics.text

    def logged() -> list[str]:
        lines = srv.log_text().splitlines()
        return lines if any("GET /metrics 200" in line for line in lines) else []

    lines = wait_for(logged, timeout_s=30, what="the access log line of GET /metrics")
    text = "\n".join(lines)
    serving = next(i for i, line in enumerate(lines) if f"serving {srv.base_url}" in line)
    summary = "\n".join(lines[:serving])
    assert "deconfliction 0.1.0" in summary and "profile en-route" in summary
    assert {"sqlite": "(sqlite)", "postgres": "(postgresql)"}[backend] in summary
    assert "limits: body 1048576 B" in summary
    assert f"metrics {srv.base_url}/metrics" in summary
    assert "log level info, text" in summary
    access = [line for line in lines[serving:] if "deconfliction.access:" in line]
    assert any(line.endswith(" ms") and " GET /v1/parties/me 200 blue " in line
               for line in access), access
    assert any(" POST /v1/messages 201 blue " in line for line in access), access
    assert any(" GET /v1/parties/me 401 - " in line for line in access), access
    for secret in (blue, red, "not-a-token", secret_subject):
        assert secret not in text, "the log holds no token and no body"


def _serve(tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    db = tmp_path / "line.db"
    err = open(tmp_path / f"serve-{port}.stderr", "wb")  # noqa: SIM115 (closed by the caller)
    return subprocess.Popen(
        [sys.executable, "-m", "deconfliction", "serve", "--db", str(db), "--host", "127.0.0.1",
         "--port", str(port), *extra], stdout=subprocess.DEVNULL, stderr=err,
        stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(20)


def _healthy(port: int, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, f"the server exited with {proc.returncode}"
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_json_log_lines_and_level_from_config(tmp_path: Path) -> None:
    """``--log-format json``: every line one JSON object; the access line's fields. With
    ``[log] level = "warning"`` no access lines, but the start-up summary all the same."""
    port = free_port()
    proc = _serve(tmp_path, port, "--log-format", "json")
    try:
        wait_for(lambda: _healthy(port, proc), timeout_s=60, what="the JSON-logging server")
        httpx.get(f"http://127.0.0.1:{port}/v1/parties", timeout=10)
    finally:
        _stop(proc)
    records = [json.loads(line) for line in
               (tmp_path / f"serve-{port}.stderr").read_text().splitlines() if line.strip()]
    assert any(r.get("event") == "serving" and r["url"] == f"http://127.0.0.1:{port}"
               for r in records), records
    start = next(r for r in records if r.get("event") == "start" and "database" in r)
    assert start["backend"] == "sqlite" and start["version"] == "0.1.0"
    access = [r for r in records if r["logger"] == "deconfliction.access"]
    assert {"method": "GET", "path": "/v1/parties", "status": 401, "party": None,
            "route": "/v1/parties"}.items() <= access[-1].items(), access
    assert isinstance(access[-1]["duration_ms"], float)

    config = tmp_path / "quiet.toml"
    config.write_text('[log]\nlevel = "warning"\n')
    port = free_port()
    proc = _serve(tmp_path, port, "--config", str(config))
    try:
        wait_for(lambda: _healthy(port, proc), timeout_s=60, what="the quiet server")
    finally:
        _stop(proc)
    quiet = (tmp_path / f"serve-{port}.stderr").read_text()
    assert f"serving http://127.0.0.1:{port}" in quiet and "log level warning" in quiet
    assert "deconfliction.access" not in quiet, quiet


def test_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "deconfliction", "serve", "--db", str(tmp_path / "x.db"),
             "--port", str(port)], capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"deconfliction: error: cannot listen on http://127.0.0.1:{port}: "
                     "Address already in use"], done.stderr
    assert not (tmp_path / "x.db").exists(), "nothing opened before the bind was checked"


@pytest.mark.parametrize("url, shown", [
    ("postgresql://line:s3cret@db.example:5432/line", "postgresql://line:***@db.example:5432/line"),
    ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
])
def test_database_password_is_masked(url: str, shown: str) -> None:
    from deconfliction.cli.main import shown_url

    assert shown_url(url) == shown
