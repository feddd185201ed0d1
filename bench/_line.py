"""What the reliability benches share: a ``deconfliction serve`` process on loopback (with
its memory read from /proc), parties made once by the real CLI in a template database cloned
for every fresh server, and a raw SSE reader.

Used by bench/hostile.py, bench/crash.py and bench/soak.py. ``--code DIR`` in those benches runs
the server (and the CLI) from another checkout's ``src`` (``PYTHONPATH``), which is how the
"before" figures of RELIABILITY.md were taken on the original code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

GIB = 1024**3
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def proc_status_kib(pid: int, key: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/<pid>/status in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def machine_state() -> str:
    """Cores, load average and free memory: the figures' context."""
    load = os.getloadavg()
    mem = {ln.split(":")[0]: int(ln.split()[1]) for ln in
           Path("/proc/meminfo").read_text().splitlines() if ln.split(":")[0] in
           ("MemTotal", "MemAvailable")}
    return (f"{os.cpu_count()} cores, load {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, "
            f"{mem['MemAvailable'] / 1024**2:.1f} of {mem['MemTotal'] / 1024**2:.1f} GiB free")


def code_env(code: str | None) -> dict[str, str]:
    """The environment for the server and CLI: another checkout's ``src`` first if given."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if code:
        env["PYTHONPATH"] = str(Path(code).resolve())
    return env


class Databases:
    """Parties added once by the CLI into a template; each :meth:`fresh` is a clone of it.

    SQLite: a file copy. PostgreSQL (``database_url``): ``CREATE DATABASE … TEMPLATE …`` on
    the same server; every database made is dropped by :meth:`close`."""

    def __init__(self, work: Path, parties: dict[str, str], database_url: str | None,
                 code: str | None) -> None:
        self.work, self.database_url, self.env = work, database_url, code_env(code)
        self.run = uuid.uuid4().hex[:8]
        self.made: list[str] = []
        self.tokens: dict[str, str] = {}
        if database_url:
            self.template = f"bench_{self.run}_tpl"
            self._admin(f'CREATE DATABASE "{self.template}"')
            self.made.append(self.template)
            template_args = ["--database-url", self._url(self.template)]
        else:
            self.template = str(work / "template.db")
            template_args = ["--db", self.template]
        self.tokens = self._add_parties(parties, template_args)
        self.count = 0

    def _add_parties(self, parties: dict[str, str], db_args: list[str]) -> dict[str, str]:
        """``deconfliction party add`` for each party, in one process (one start-up, not one
        per party: on a busy two-core machine each start-up costs seconds)."""
        script = (
            "import contextlib, io, json, sys\n"
            "from deconfliction.cli import main\n"
            "tokens = {}\n"
            "for name, role in json.loads(sys.argv[1]).items():\n"
            "    out = io.StringIO()\n"
            "    with contextlib.redirect_stdout(out):\n"
            "        code = main(['party', 'add', name, '--role', role, *sys.argv[2:]])\n"
            "    if code:\n"
            "        raise SystemExit(f'party add {name}: exit {code}')\n"
            "    tokens[name] = out.getvalue().strip()\n"
            "print(json.dumps(tokens))\n")
        done = subprocess.run([sys.executable, "-c", script, json.dumps(parties), *db_args],
                              env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"party add: {done.stderr[-2000:]}")
        tokens: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
        return tokens

    def _url(self, name: str) -> str:
        assert self.database_url
        return self.database_url.rsplit("/", 1)[0] + "/" + name

    def _admin(self, statement: str) -> None:
        import psycopg  # only for a PostgreSQL run
        from psycopg import sql

        assert self.database_url
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL(statement))

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        done = subprocess.run([sys.executable, "-m", "deconfliction", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"deconfliction {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def fresh(self) -> list[str]:
        """Arguments of a new database holding only the parties."""
        self.count += 1
        if self.database_url:
            name = f"bench_{self.run}_{self.count}"
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            self.made.append(name)
            return ["--database-url", self._url(name)]
        path = self.work / f"line-{self.count}.db"
        shutil.copyfile(self.template, path)
        return ["--db", str(path)]

    def close(self) -> None:
        for name in reversed(self.made):
            with contextlib.suppress(Exception):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()


@dataclass
class Server:
    """One ``deconfliction serve`` child in its own process group."""

    db_args: list[str]
    work: Path
    env: dict[str, str]
    config: str = ""
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log: Path = field(default_factory=Path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self.starts += 1
        cmd = [sys.executable, "-m", "deconfliction", "serve", *self.db_args,
               "--host", "127.0.0.1"]
        if self.config:
            path = self.work / f"line-{id(self)}-{self.starts}.toml"
            path.write_text(self.config)
            cmd += ["--config", str(path)]
        for _attempt in range(3):
            self.port = free_port()
            self.log = self.work / f"server-{id(self)}-{self.starts}.log"
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    [*cmd, "--port", str(self.port)], env=self.env, stdout=log, stderr=log,
                    stdin=subprocess.DEVNULL, start_new_session=True)
            if self._wait_ready():
                return self
            self.kill()
            if "address already in use" not in self.log_tail().lower():
                break
        raise RuntimeError(f"server did not start: {' '.join(cmd)}\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base_url}/v1/health", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        return proc_status_kib(self.pid, "VmRSS") if self.alive() else 0

    def hwm_kib(self) -> int:
        return proc_status_kib(self.pid, "VmHWM") if self.alive() else 0

    def kill(self) -> None:
        """``kill -9`` of the whole process group (the server and anything it started)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def utc_now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def follow_stream(host: str, port: int, token: str,
                        on_event: Callable[[dict[str, Any], float], Awaitable[None] | None],
                        ready: asyncio.Event | None = None, last_event_id: int | None = None,
                        status: list[int] | None = None) -> None:
    """Follow one party's SSE stream over a raw socket (chunked body), calling ``on_event``
    with each event and the time it arrived; returns when the server closes the stream."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"GET /v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n")
    if last_event_id is not None:
        head += f"Last-Event-ID: {last_event_id}\r\n"
    writer.write((head + "\r\n").encode())
    try:
        status_line = await reader.readline()
        if status is not None and status_line:
            status.append(int(status_line.split()[1]))
        while (line := await reader.readline()) not in (b"\r\n", b""):
            pass
        if ready is not None:
            ready.set()
        if not status_line.startswith(b"HTTP/1.1 200"):
            return
        buffer = b""
        while True:
            size_line = await reader.readline()
            if not size_line:
                return
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                return
            chunk = await reader.readexactly(size + 2)
            buffer += chunk[:-2]
            *frames, buffer = buffer.split(b"\n\n")
            now = time.perf_counter()
            for frame in frames:
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        result = on_event(json.loads(line[6:]), now)
                        if result is not None:
                            await result
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        if ready is not None:
            ready.set()
        writer.close()
