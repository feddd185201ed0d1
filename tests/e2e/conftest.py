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

import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyproj import Geod

# Database, DatabaseFactory and the CLI helpers come from tests/conftest.py through fixtures
# (``session_databases``, ``database_factory``, ``cli``); conftest modules are not importable.
Database = Any
DatabaseFactory = Any

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 30.0

#: Parties made in every module's database.
PARTIES: dict[str, str] = {
    "blue": "operator",
    "red": "operator",
    "mission": "authority",
    "watch": "observer",
    "spare": "operator",
}

#: The contract's en-route minima: 5 NM and 1000 ft.
EN_ROUTE_H_M = 5 * 1852.0
EN_ROUTE_V_M = 1000 * 0.3048

FULL_VIEW_KEYS = {
    "id", "owner", "volumes", "priority", "state", "ovn", "short_notice",
    "callsigns", "notes", "created_at", "updated_at",
}
RESTRICTED_VIEW_KEYS = {"id", "owner", "volumes", "priority", "state", "ovn", "short_notice"}

# Servers that are running now, for the failure report.
_RUNNING: list[Server] = []


# ---------------------------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
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
            self.port = _free_port()
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
            _RUNNING.append(self)
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
        if self in _RUNNING:
            _RUNNING.remove(self)
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001 - pytest hook signature
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, srv in enumerate(list(_RUNNING)):
            report.sections.append(
                (f"server {i} stderr ({srv.db.backend}, {srv.base_url})", srv.log_text())
            )


# ---------------------------------------------------------------------------------------------
# Databases with parties: made once per backend (via the real CLI), cloned per server.
# ---------------------------------------------------------------------------------------------


@dataclass
class PartyTemplate:
    db: Database
    tokens: dict[str, str]


@pytest.fixture(scope="session")
def _party_templates(session_databases, cli) -> dict:
    return {"_cli": cli}


def _template_for(backend: str, templates: dict, factory: DatabaseFactory) -> PartyTemplate:
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
        tpl = _template_for(backend, self.templates, self.session_databases)
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


@pytest.fixture(scope="module", params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def backend(request, postgres_admin) -> str:
    if request.param == "postgres":
        postgres_admin.require()  # skips with "PostgreSQL not available: ..."
    return request.param


@pytest.fixture(scope="module")
def _module_servers(
    tmp_path_factory, postgres_admin, session_databases, _party_templates
) -> Iterator[ServerFactory]:
    factory = ServerFactory(
        # Same class as tests/conftest.py's DatabaseFactory (conftests are not importable).
        type(session_databases)(tmp_path_factory.mktemp("module-dbs"), postgres_admin),
        _party_templates, session_databases, tmp_path_factory.mktemp("module-logs"),
    )
    yield factory
    factory.stop_all()
    factory.databases.drop_all()


@pytest.fixture(scope="module")
def server(backend, _module_servers) -> Iterator[Server]:
    """One running server per module per backend, with the standard parties."""
    srv = _module_servers.start(backend)
    yield srv
    srv.stop()
    _module_servers.databases.drop(srv.db)


@pytest.fixture
def server_factory(
    tmp_path, database_factory, session_databases, _party_templates
) -> Iterator[ServerFactory]:
    """Extra servers for one test (own database; optional config; restartable)."""
    factory = ServerFactory(database_factory, _party_templates, session_databases, tmp_path)
    yield factory
    factory.stop_all()


# ---------------------------------------------------------------------------------------------
# HTTP clients and helpers
# ---------------------------------------------------------------------------------------------


def _no_server_errors(response: httpx.Response) -> None:
    if response.status_code >= 500:
        response.read()
        req = response.request
        body = req.content[:2000] if req.content else b""
        raise AssertionError(
            f"server error {response.status_code} (the contract says never a 500) for "
            f"{req.method} {req.url}\nrequest body: {body!r}\nresponse: {response.text[:2000]}"
        )


def _fmt(resp: httpx.Response) -> str:
    req = resp.request
    body = req.content.decode(errors="replace") if req.content else ""
    if len(body) > 3000:
        body = body[:3000] + "...(truncated)"
    return (
        f"{req.method} {req.url} -> {resp.status_code}\nrequest: {body}\n"
        f"response ({resp.headers.get('content-type')}): {resp.text[:4000]}"
    )


class API:
    """HTTP access to one server as each party, plus contract-level helpers."""

    def __init__(self, srv: Server):
        self.server = srv
        self.tokens = srv.tokens
        self._clients: list[httpx.Client] = []
        self.anon = self._client(None)
        self.blue = self.client("blue")
        self.red = self.client("red")
        self.mission = self.client("mission")
        self.watch = self.client("watch")
        self.spare = self.client("spare")

    def _client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        c = httpx.Client(
            base_url=self.server.base_url, headers=headers, timeout=HTTP_TIMEOUT_S,
            event_hooks={"response": [_no_server_errors]},
        )
        self._clients.append(c)
        return c

    def client(self, party: str) -> httpx.Client:
        return self._client(self.tokens[party])

    def with_token(self, token: str) -> httpx.Client:
        return self._client(token)

    def as_(self, party: str) -> httpx.Client:
        return getattr(self, party)

    def close(self) -> None:
        for c in self._clients:
            c.close()

    # -- assertions ---------------------------------------------------------------------------

    @staticmethod
    def expect(resp: httpx.Response, status: int) -> Any:
        if resp.status_code != status:
            pytest.fail(f"expected HTTP {status}\n{_fmt(resp)}", pytrace=True)
        return resp.json()

    @staticmethod
    def problem(resp: httpx.Response, status: int, code: str | None = None) -> dict:
        """Assert an RFC 9457 problem with this status (and code) and return it."""
        if resp.status_code != status:
            pytest.fail(f"expected problem HTTP {status} {code or ''}\n{_fmt(resp)}")
        ctype = resp.headers.get("content-type", "")
        assert ctype.split(";")[0].strip() == "application/problem+json", (
            f"problem content type must be application/problem+json\n{_fmt(resp)}"
        )
        body = resp.json()
        assert isinstance(body, dict), _fmt(resp)
        assert body.get("status") == status, f"problem 'status' must be {status}\n{_fmt(resp)}"
        assert isinstance(body.get("title"), str) and body["title"], f"no title\n{_fmt(resp)}"
        assert isinstance(body.get("detail"), str), f"no detail\n{_fmt(resp)}"
        got_code = body.get("code")
        assert isinstance(got_code, str) and got_code, f"no code\n{_fmt(resp)}"
        assert body.get("type") == f"urn:deconfliction:problem:{got_code}", (
            f"type must be urn:deconfliction:problem:<code>\n{_fmt(resp)}"
        )
        if code is not None:
            assert got_code == code, f"expected code {code!r}, got {got_code!r}\n{_fmt(resp)}"
        return body

    # -- operations ---------------------------------------------------------------------------

    @staticmethod
    def op_body(volumes: list[dict], *, priority: int = 0, state: str = "accepted",
                key: list[str] | None = None, **extra: Any) -> dict:
        body: dict[str, Any] = {"volumes": volumes, "priority": priority, "state": state}
        if key is not None:
            body["key"] = key
        body.update(extra)
        return body

    def post_op(self, party: str, volumes: list[dict], **kw: Any) -> httpx.Response:
        return self.as_(party).post("/v1/operations", json=self.op_body(volumes, **kw))

    def create_op(self, party: str, volumes: list[dict], **kw: Any) -> dict:
        """Create an operation and assert 201; returns the view."""
        return self.expect(self.post_op(party, volumes, **kw), 201)

    def put_op(self, party: str, op_id: str, ovn: str, volumes: list[dict],
               **kw: Any) -> httpx.Response:
        body = self.op_body(volumes, **kw)
        body["ovn"] = ovn
        return self.as_(party).put(f"/v1/operations/{op_id}", json=body)

    def get_op(self, party: str, op_id: str) -> dict:
        return self.expect(self.as_(party).get(f"/v1/operations/{op_id}"), 200)

    def list_ops(self, party: str = "watch") -> list[dict]:
        body = self.expect(self.as_(party).get("/v1/operations"), 200)
        assert isinstance(body.get("operations"), list), body
        return body["operations"]

    def op_ids(self, party: str = "watch") -> set[str]:
        return {op["id"] for op in self.list_ops(party)}

    def query(self, party: str, area: dict) -> list[dict]:
        body = self.expect(self.as_(party).post("/v1/operations/query", json={"area": area}), 200)
        assert isinstance(body.get("operations"), list), body
        return body["operations"]

    # -- constraints --------------------------------------------------------------------------

    def post_constraint(self, volumes: list[dict], *, kind: str = "no_fly",
                        applies_to: Any = "all", exempt: list[str] | None = None,
                        name: str = "test constraint", party: str = "mission") -> httpx.Response:
        return self.as_(party).post("/v1/constraints", json={
            "kind": kind, "volumes": volumes, "applies_to": applies_to,
            "exempt": exempt or [], "name": name,
        })

    def create_constraint(self, volumes: list[dict], **kw: Any) -> dict:
        return self.expect(self.post_constraint(volumes, **kw), 201)

    def constraint_ids(self, party: str = "watch") -> set[str]:
        body = self.expect(self.as_(party).get("/v1/constraints"), 200)
        assert isinstance(body.get("constraints"), list), body
        return {c["id"] for c in body["constraints"]}

    # -- events -------------------------------------------------------------------------------

    def events(self, party: str) -> list[dict]:
        """All of a party's events, paging with after=<last seq>."""
        out: list[dict] = []
        after = 0
        for _ in range(1000):
            body = self.expect(
                self.as_(party).get("/v1/events", params={"after": after, "limit": 100}), 200
            )
            page = body.get("events")
            assert isinstance(page, list), body
            if not page:
                break
            out.extend(page)
            seqs = [e["seq"] for e in page]
            assert seqs == sorted(seqs) and seqs[0] > after, f"events out of order: {seqs}"
            after = seqs[-1]
            if len(page) < 100:
                break
        return out

    def wait_for_event(self, party: str, predicate, timeout_s: float = 8.0) -> dict | None:
        deadline = time.monotonic() + timeout_s
        while True:
            for ev in self.events(party):
                if predicate(ev):
                    return ev
            if time.monotonic() > deadline:
                return None
            time.sleep(0.25)


@pytest.fixture(scope="module")
def api(server) -> Iterator[API]:
    a = API(server)
    yield a
    a.close()


@pytest.fixture(scope="session")
def api_for():
    """Make an :class:`API` for a server started with ``server_factory`` (closed by the caller)."""
    return API


# ---------------------------------------------------------------------------------------------
# Geodesy and bodies
# ---------------------------------------------------------------------------------------------

_GEOD = Geod(ellps="WGS84")


def _norm_lon(lon: float) -> float:
    return ((lon + 180.0) % 360.0) - 180.0


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> datetime:
    assert isinstance(s, str) and (s.endswith("Z") or s.endswith("+00:00")), (
        f"API times must be RFC 3339 UTC, got {s!r}"
    )
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert t.tzinfo is not None
    return t


class Geo:
    """WGS84 geodesy (pyproj.Geod) and request-body builders; SI units throughout."""

    geod = _GEOD
    H = EN_ROUTE_H_M
    V = EN_ROUTE_V_M
    FULL_VIEW_KEYS = FULL_VIEW_KEYS
    RESTRICTED_VIEW_KEYS = RESTRICTED_VIEW_KEYS
    parse_time = staticmethod(parse_time)
    iso = staticmethod(_iso)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    @staticmethod
    def at(t: datetime | float | int) -> str:
        """A time: a datetime, or seconds from now."""
        if isinstance(t, datetime):
            return _iso(t)
        return _iso(Geo.now() + timedelta(seconds=float(t)))

    @staticmethod
    def offset(p: tuple[float, float], azimuth_deg: float, dist_m: float) -> tuple[float, float]:
        lon, lat, _ = _GEOD.fwd(p[0], p[1], azimuth_deg, dist_m)
        return (_norm_lon(lon), lat)

    @staticmethod
    def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
        return _GEOD.inv(a[0], a[1], b[0], b[1])[2]

    @staticmethod
    def azimuth(a: tuple[float, float], b: tuple[float, float]) -> float:
        return _GEOD.inv(a[0], a[1], b[0], b[1])[0]

    @staticmethod
    def polygon(points: Iterable[tuple[float, float]]) -> dict:
        """A GeoJSON Polygon from an open list of vertices; closed and made counter-clockwise."""
        pts = [[round(float(lon), 9), round(float(lat), 9)] for lon, lat in points]
        # Signed area with longitudes unwrapped relative to the first vertex.
        ref = pts[0][0]
        un = [[ref + _norm_lon(x - ref), y] for x, y in pts]
        s = sum(un[i][0] * un[(i + 1) % len(un)][1] - un[(i + 1) % len(un)][0] * un[i][1]
                for i in range(len(un)))
        if s < 0:
            pts.reverse()
        return {"type": "Polygon", "coordinates": [pts + [pts[0]]]}

    @staticmethod
    def square(center: tuple[float, float], half_side_m: float = 1000.0) -> dict:
        """An approximately square footprint: corners half_side_m N/S and E/W of the centre."""
        n = Geo.offset(center, 0, half_side_m)
        s = Geo.offset(center, 180, half_side_m)
        ne = Geo.offset(n, 90, half_side_m)
        nw = Geo.offset(n, 270, half_side_m)
        se = Geo.offset(s, 90, half_side_m)
        sw = Geo.offset(s, 270, half_side_m)
        return Geo.polygon([sw, se, ne, nw])

    @staticmethod
    def ngon(center: tuple[float, float], radius_m: float, n: int) -> dict:
        """A regular n-gon with geodesic radius radius_m (vertices exactly on the circle)."""
        pts = [Geo.offset(center, 360.0 * i / n, radius_m) for i in range(n)]
        pts.reverse()  # clockwise azimuths -> counter-clockwise ring
        return Geo.polygon(pts)

    @staticmethod
    def circle(center: tuple[float, float], radius_m: float = 1000.0) -> dict:
        return {"type": "Circle", "center": [center[0], center[1]], "radius_m": radius_m}

    @staticmethod
    def diamond(tip: tuple[float, float], toward_deg: float, length_m: float = 1000.0,
                width_m: float = 600.0) -> dict:
        """A rhombus whose sharp tip is at ``tip`` pointing along azimuth ``toward_deg``; its
        body lies behind the tip. Two diamonds whose tips face each other along one geodesic
        are exactly ``distance(tipA, tipB)`` apart."""
        back = toward_deg + 180.0
        mid = Geo.offset(tip, back, length_m / 2)
        far = Geo.offset(tip, back, length_m)
        left = Geo.offset(mid, toward_deg - 90.0, width_m / 2)
        right = Geo.offset(mid, toward_deg + 90.0, width_m / 2)
        return Geo.polygon([tip, left, far, right])

    @staticmethod
    def facing_diamonds(center: tuple[float, float], gap_m: float,
                        azimuth_deg: float = 90.0) -> tuple[dict, dict]:
        """Two footprints exactly gap_m apart (geodesic), centred on ``center``."""
        a_tip = Geo.offset(center, azimuth_deg + 180.0, gap_m / 2)
        b_tip = Geo.offset(center, azimuth_deg, gap_m / 2)
        az_ab = Geo.azimuth(a_tip, b_tip)
        az_ba = Geo.azimuth(b_tip, a_tip)
        return Geo.diamond(a_tip, az_ab), Geo.diamond(b_tip, az_ba)

    @staticmethod
    def volume(footprint: dict, lower: float = 1000.0, upper: float = 2000.0,
               start: datetime | float = 7200, end: datetime | float = 10800) -> dict:
        """A volume; start/end are datetimes or seconds from now (default +2 h .. +3 h)."""
        return {
            "footprint": footprint,
            "altitude_lower_m": lower,
            "altitude_upper_m": upper,
            "time_start": Geo.at(start),
            "time_end": Geo.at(end),
        }

    @staticmethod
    def area4d(footprint: dict, lower: float | None = None, upper: float | None = None,
               start: datetime | float | None = None,
               end: datetime | float | None = None) -> dict:
        a: dict[str, Any] = {"footprint": footprint}
        if lower is not None:
            a["altitude_lower_m"] = lower
        if upper is not None:
            a["altitude_upper_m"] = upper
        if start is not None:
            a["time_start"] = Geo.at(start)
        if end is not None:
            a["time_end"] = Geo.at(end)
        return a

    @staticmethod
    def mentions(obj: Any, needle: str) -> bool:
        """Whether ``needle`` appears as a value anywhere in a JSON structure."""
        if obj == needle:
            return True
        if isinstance(obj, dict):
            return any(Geo.mentions(v, needle) for v in obj.values())
        if isinstance(obj, list):
            return any(Geo.mentions(v, needle) for v in obj)
        return False

    @staticmethod
    def same_volume(sent: dict, got: dict) -> None:
        """Assert the API returned the volume we sent (times compared as instants)."""
        for k in ("altitude_lower_m", "altitude_upper_m"):
            assert math.isclose(got[k], sent[k], abs_tol=1e-6), (k, sent, got)
        for k in ("time_start", "time_end"):
            assert parse_time(got[k]) == parse_time(sent[k]), (k, sent[k], got[k])
        fs, fg = sent["footprint"], got["footprint"]
        assert fg["type"] == fs["type"], (fs, fg)
        if fs["type"] == "Circle":
            assert fg["center"] == pytest.approx(fs["center"]), (fs, fg)
            assert fg["radius_m"] == pytest.approx(fs["radius_m"]), (fs, fg)
        else:
            vs = {(round(x, 6), round(y, 6)) for x, y in fs["coordinates"][0]}
            vg = {(round(x, 6), round(y, 6)) for x, y in fg["coordinates"][0]}
            assert vs == vg, (fs, fg)


@pytest.fixture(scope="session")
def geo() -> type[Geo]:
    return Geo


# ---------------------------------------------------------------------------------------------
# A unique region of the globe per test
# ---------------------------------------------------------------------------------------------


def _area_centres() -> Iterator[tuple[float, float]]:
    """Centres 3 degrees apart at mid latitudes (27..57 N/S), lon -168..168: far from the
    poles and the antimeridian, and from the fixed places of the geodesy tests."""
    lats = [float(x) for x in range(27, 58, 3)]
    rows = [lat for pair in zip(lats, [-x for x in lats], strict=True) for lat in pair]
    for lat in rows:
        for lon in range(-168, 169, 3):
            yield (float(lon), lat)


_AREAS = _area_centres()


def next_area() -> tuple[float, float]:
    return next(_AREAS)


@pytest.fixture
def area() -> tuple[float, float]:
    """A (lon, lat) centre that no other test in the session uses."""
    return next_area()


@pytest.fixture(scope="session")
def fresh_area():
    """Call to get another unused (lon, lat) centre (for tests needing several)."""
    return next_area


# Re-exported for modules (via fixtures only).
__all__ = ["API", "Geo", "Server", "ServerFactory"]
