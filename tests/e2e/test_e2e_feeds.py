"""ADS-B end to end: a fake SBS (BaseStation, port 30003) server in the test, the real
``deconfliction feed sbs HOST:PORT`` process writing into the server's database, and the real
server's detection cycle — on SQLite and on PostgreSQL.

The fake server emits MSG,1 / MSG,4 / MSG,3 lines (``deconfliction.feeds.sbs.format_msg*``)
for aircraft whose states are computed at the current time, twice a second, to every client.
"""

from __future__ import annotations

import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("conftest_tactical")

from conftest_tactical import (  # noqa: E402
    Flight,
    aircraft_ids,
    alert_by_id,
    alerts,
    find_alert,
    head_on,
    iso,
    uid,
    wait_for,
)

from deconfliction.feeds.sbs import (  # noqa: E402
    StateVector,
    format_msg1,
    format_msg3,
    format_msg4,
)

pytest_plugins = ["conftest_tactical"]

RAISE_TIMEOUT_S = 30.0  # the feed process starts, connects and flushes every 0.5 s


# ---------------------------------------------------------------------------------------------
# A fake SBS server
# ---------------------------------------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        fake: FakeSbs = self.server.fake  # type: ignore[attr-defined]
        fake.connections += 1
        while not fake.stopped.is_set():
            lines = fake.lines(time.time())
            try:
                self.wfile.write(("".join(line + "\r\n" for line in lines)).encode("ascii"))
                self.wfile.flush()
            except OSError:
                return
            fake.stopped.wait(fake.period_s)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeSbs:
    """An SBS feed on a loopback port: ``aircraft`` maps icao24 → (callsign, Flight)."""

    def __init__(self, period_s: float = 0.5) -> None:
        self.period_s = period_s
        self.stopped = threading.Event()
        self.connections = 0
        self._lock = threading.Lock()
        self._aircraft: dict[str, tuple[str | None, Flight]] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-sbs")

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def add(self, icao24: str, callsign: str | None, flight: Flight) -> None:
        with self._lock:
            self._aircraft[icao24] = (callsign, flight)

    def lines(self, now: float) -> list[str]:
        with self._lock:
            aircraft = dict(self._aircraft)
        out = []
        for address, (callsign, flight) in aircraft.items():
            s = flight.state(now)
            state = StateVector(
                icao24=address, callsign=callsign, time=now, lat=s["lat"], lon=s["lon"],
                altitude_m=s["altitude_m"], ground_speed_mps=s["ground_speed_mps"],
                track_deg=s["track_deg"], vertical_rate_mps=s["vertical_rate_mps"],
                on_ground=False)
            if callsign:
                out.append(format_msg1(state))
            out += [format_msg4(state), format_msg3(state)]  # the position completes a state
        return out

    def start(self) -> FakeSbs:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------------------------------------
# The feed process
# ---------------------------------------------------------------------------------------------


class FeedProcess:
    """``python -m deconfliction feed sbs HOST:PORT <db options>``, in its own process group."""

    def __init__(self, address: str, db_args: list[str], log: Path) -> None:
        self.log = log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deconfliction", "feed", "sbs", address, *db_args],
                stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-5000:]
        except OSError as exc:
            return f"(no log: {exc})"

    def alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"feed process exited with {self.proc.returncode}:\n{self.text()}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: the documented way to stop it
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def sbs_feed(tactical, tmp_path) -> Iterator[Callable[[], FakeSbs]]:
    """Start a fake SBS server and a feed process reading it into the tactical server's
    database; both stopped at the end (the feed's output shown if the test failed)."""
    started: list[tuple[FakeSbs, FeedProcess]] = []

    def start() -> FakeSbs:
        fake = FakeSbs().start()
        feed = FeedProcess(fake.address, tactical.server.db.args,
                           tmp_path / f"feed-{len(started)}.log")
        started.append((fake, feed))
        return fake

    yield start
    for fake, feed in started:
        code = feed.stop()
        fake.stop()
        print(f"--- feed process (exit {code}) ---\n{feed.text()}")


def new_icao() -> str:
    return uuid.uuid4().hex[:6]


def tracks_of(api, party: str) -> dict[str, dict]:
    return {t["aircraft_id"]: t for t in api.expect(api.as_(party).get("/v1/tracks"), 200)[
        "tracks"]}


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_unidentified_aircraft_converging_raise_an_alert_for_observers(tactical, sbs_feed,
                                                                       area):
    api = tactical
    x, y = new_icao(), new_icao()
    fake = sbs_feed()
    for address, callsign, flight in zip(
            (x, y), ("UNK111", None), head_on(("-", "-"), (x, y), area), strict=True):
        fake.add(address, callsign, flight)

    ids = {f"icao:{x}", f"icao:{y}"}
    alert = wait_for(lambda: find_alert(api, "watch", kind="conflict", ids=ids,
                                        state="raised"),
                     RAISE_TIMEOUT_S, "a conflict between the two unidentified aircraft")
    assert fake.connections >= 1
    assert {a["party"] for a in alert["aircraft"]} == {"unidentified"}, alert
    assert alert["encounter"]["lost_now"] is False and alert["encounter"]["t_in_s"] > 0, alert

    # Observers see the feed's tracks and aircraft; operators do not (not theirs).
    seen = tracks_of(api, "watch")
    assert ids <= set(seen) and {seen[i]["party"] for i in ids} == {"unidentified"}
    registry = {a["id"]: a for a in api.expect(api.watch.get("/v1/aircraft"), 200)["aircraft"]}
    assert registry[f"icao:{x}"]["icao24"] == x and registry[f"icao:{x}"]["callsign"] == "UNK111"
    for party in ("blue", "red", "spare", "mission"):
        assert not ids & set(tracks_of(api, party)), f"{party} sees unidentified tracks"
        assert alert_by_id(api, party, alert["id"]) is None, f"{party} is not involved"


def test_registered_icao_address_makes_feed_aircraft_a_partys(tactical, sbs_feed, area):
    api = tactical
    x, y = new_icao(), new_icao()
    blue_id, red_id = uid("blue-adsb"), uid("red-adsb")
    # Blue registers its aircraft's ICAO address before the feed sees it.
    r = api.blue.post("/v1/aircraft", json={"id": blue_id, "icao24": x, "callsign": "BLU500"})
    assert r.status_code in (200, 201), r.text

    fake = sbs_feed()
    fx, fy = head_on(("-", "-"), (x, y), area, apart_m=40_000.0)
    fake.add(x, "BLU500", fx)
    fake.add(y, "RED600", fy)

    # The feed's aircraft x is blue's: its track shows in blue's GET /v1/tracks under blue's id.
    t = wait_for(lambda: tracks_of(api, "blue").get(blue_id), RAISE_TIMEOUT_S,
                 "blue's feed track")
    assert t["party"] == "blue"
    assert f"icao:{x}" not in tracks_of(api, "watch"), "no second, unidentified track for x"
    # y, unclaimed, is unidentified; the pair conflicts and blue is told, seeing only y's state.
    first = wait_for(lambda: find_alert(api, "watch", kind="conflict",
                                        ids={blue_id, f"icao:{y}"}, state="raised"),
                     RAISE_TIMEOUT_S, "a conflict between blue's aircraft and the unidentified")
    mine = alert_by_id(api, "blue", first["id"])
    assert mine is not None, "blue is involved"
    other = [e for e in mine["aircraft"] if e.get("aircraft_id") != blue_id]
    assert len(other) == 1 and set(other[0]) <= {"own", "state"}, mine

    # Red claims y's address: from then on the feed's y is red's aircraft.
    r = api.red.post("/v1/aircraft", json={"id": red_id, "icao24": y})
    assert r.status_code in (200, 201), r.text
    t = wait_for(lambda: tracks_of(api, "red").get(red_id), RAISE_TIMEOUT_S,
                 "red's feed track after the claim")
    assert t["party"] == "red"
    second = wait_for(lambda: find_alert(api, "watch", kind="conflict", ids={blue_id, red_id},
                                         state="raised"),
                      RAISE_TIMEOUT_S, "the conflict between blue's and red's feed aircraft")
    theirs = alert_by_id(api, "red", second["id"])
    assert theirs is not None, "red is involved now"
    own = [e for e in theirs["aircraft"] if e.get("aircraft_id") == red_id]
    assert len(own) == 1 and own[0]["party"] == "red", theirs
    assert not any(e.get("aircraft_id") == blue_id for e in theirs["aircraft"]), theirs
    assert alert_by_id(api, "spare", second["id"]) is None
    # The unidentified y's track is gone (it is red's now), and its alert clears.
    wait_for(lambda: f"icao:{y}" not in tracks_of(api, "watch"), 20,
             "the unidentified track of the claimed address to go")
    wait_for(lambda: (alert_by_id(api, "watch", first["id"]) or {}).get("state") == "cleared",
             30, "the alert with the unidentified aircraft to clear")
    assert [a for a in alerts(api, "watch", "raised") if aircraft_ids(a) == {blue_id, red_id}]


def test_feed_never_takes_a_partys_aircraft_away(tactical, sbs_feed, area):
    """An operator's aircraft id that happens to look like a feed id (``icao:<address>``) stays
    that operator's when the feed later sees that address: a surveillance feed identifies
    aircraft by ICAO address through the registry; it must not re-assign an operator's
    registered aircraft to ``unidentified`` (the operator could no longer report it)."""
    api = tactical
    x = new_icao()
    mine = f"icao:{x}"
    now = time.time()
    first = {"aircraft_id": mine, "time": iso(now), "lat": area[1], "lon": area[0],
             "altitude_m": 3000.0, "ground_speed_mps": 100.0, "track_deg": 90.0,
             "vertical_rate_mps": 0.0}
    assert api.expect(api.blue.post("/v1/tracks", json={"reports": [first]}), 200)[
        "accepted"] == 1
    assert mine in {a["id"] for a in api.expect(api.blue.get("/v1/aircraft"), 200)["aircraft"]}

    fake = sbs_feed()
    fake.add(x, "UNK777", Flight("-", x, (area[0] + 1.0, area[1]), 0.0, 150.0, 5000.0,
                                 time.time()))
    # Wait until the feed has delivered x's state to the line (some aircraft holds address x
    # or a track for it exists).
    # Wait until the feed has delivered address x (some aircraft in the registry holds it).
    wait_for(lambda: any(a.get("icao24") == x for a in
                         api.expect(api.watch.get("/v1/aircraft"), 200)["aircraft"]),
             RAISE_TIMEOUT_S, "the feed to deliver the address")
    registry = {a["id"]: a for a in api.expect(api.watch.get("/v1/aircraft"), 200)["aircraft"]}
    assert registry[mine]["party"] == "blue", (
        f"the feed re-assigned blue's aircraft {mine}: {registry[mine]}")
    # Blue can still report its aircraft.
    later = dict(first, time=iso(time.time()))
    r = api.blue.post("/v1/tracks", json={"reports": [later]})
    assert r.status_code == 200, f"blue can no longer report its own aircraft: {r.text}"

