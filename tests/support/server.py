"""A real ``deconfliction serve`` process on a loopback port, and servers started on fresh
databases that already hold the standard parties (made once per backend with the real CLI in a
template database, then cloned: SQLite by file copy, PostgreSQL by ``CREATE DATABASE ...
TEMPLATE``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.databases import Database, DatabaseFactory

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

#: Parties made in every module's database.
PARTIES: dict[str, str] = {
    "blue": "operator",
    "red": "operator",
    "mission": "authority",
    "watch": "observer",
    "spare": "operator",
}

# Servers that are running now, for the failure report.
RUNNING: list[Server] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A ``python -m deconfliction serve`` child process."""

    db: Database
    tokens: dict[str, str]
    log_dir: Path
    config: Path | None = None
    port: int = 0
    proc: subprocess.Popen | None = None
    starts: int = 0
    _logs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self._logs[-1]

    def start(self) -> Server:
        assert self.proc is None, "server already running"
        last_error = ""
        for _attempt in range(3):  # a picked port can be taken before we bind it; retry
            self.port = free_port()
            self.starts += 1
            log = self.log_dir / f"server-{self.starts}.stderr.log"
            out = self.log_dir / f"server-{self.starts}.stdout.log"
            self._logs.append(log)
            cmd = [
                sys.executable, "-m", "deconfliction", "serve", *self.db.args,
                "--host", "127.0.0.1", "--port", str(self.port),
            ]
            if self.config is not None:
                cmd += ["--config", str(self.config)]
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            with open(log, "wb") as err_f, open(out, "wb") as out_f:
                self.proc = subprocess.Popen(
                    cmd, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True,  # its own process group, stopped as a whole
                )
            RUNNING.append(self)
            ok, last_error = self._wait_ready()
            if ok:
                return self
            self.stop()
            if "address already in use" not in last_error.lower():
                break
        pytest.fail(
            f"server did not become ready ({' '.join(cmd)}):\n{last_error}", pytrace=False
        )

    def _wait_ready(self) -> tuple[bool, str]:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False, (
                    f"server exited with code {self.proc.returncode}\n"
                    f"--- stderr ---\n{self.log_text()}"
                )
            try:
                r = httpx.get(f"{self.base_url}/v1/health", timeout=1.0)
                if r.status_code == 200 and r.json().get("status") == "ok":
                    return True, ""
                last = f"GET /v1/health -> {r.status_code} {r.text[:500]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"GET /v1/health: {exc!r}"
            time.sleep(0.1)
        return False, (
            f"timed out after {STARTUP_TIMEOUT_S:.0f} s waiting for GET /v1/health; last: {last}\n"
            f"--- stderr ---\n{self.log_text()}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if self in RUNNING:
            RUNNING.remove(self)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we created for this child only
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def log_text(self, max_chars: int = 20000) -> str:
        if not self._logs:
            return "(no log)"
        try:
            text = self._logs[-1].read_text(errors="replace")
        except OSError as exc:
            return f"(cannot read {self._logs[-1]}: {exc})"
        return text if len(text) <= max_chars else "...\n" + text[-max_chars:]


@dataclass
class PartyTemplate:
    db: Database
    tokens: dict[str, str]


def template_for(backend: str, templates: dict, factory: DatabaseFactory) -> PartyTemplate:
    if backend not in templates:
        db = factory.create(backend)
        add_party = templates["_cli"].add_party
        tokens = {name: add_party(db, name, role) for name, role in PARTIES.items()}
        assert len(set(tokens.values())) == len(tokens), f"tokens are not distinct: {tokens}"
        templates[backend] = PartyTemplate(db, tokens)
    return templates[backend]


@dataclass
class ServerFactory:
    """Starts servers on fresh databases that already hold the standard parties."""

    databases: DatabaseFactory
    templates: dict
    session_databases: DatabaseFactory
    log_root: Path
    servers: list[Server] = field(default_factory=list)

    def database(self, backend: str) -> tuple[Database, dict[str, str]]:
        tpl = template_for(backend, self.templates, self.session_databases)
        return self.databases.create(backend, template=tpl.db), dict(tpl.tokens)

    def start(self, backend: str, *, config: str | None = None) -> Server:
        db, tokens = self.database(backend)
        log_dir = self.log_root / f"server-{uuid.uuid4().hex[:8]}"
        log_dir.mkdir(parents=True)
        cfg_path = None
        if config is not None:
            cfg_path = log_dir / "deconfliction.toml"
            cfg_path.write_text(config)
        srv = Server(db, tokens, log_dir, config=cfg_path)
        self.servers.append(srv)
        return srv.start()

    def stop_all(self) -> None:
        for srv in self.servers:
            srv.stop()
