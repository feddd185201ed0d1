"""Tactical helpers (tracks, alerts, feeds): a fast-detection server configuration, flights along
geodesics and a thread that reports them as a party's tracker would, and readers of alerts and
events."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pyproj import Geod

from support import waiting

GEOD = Geod(ellps="WGS84")
FT = 0.3048
NM = 1852.0

#: Fast cycles for tests: detection every 0.5 s, tracks coast after 2 s, dropped after 6 s.
DETECTION_INTERVAL_S = 0.5
TRACK_DROP_S = 6.0
FAST_CONFIG = (
    f"detection_interval_s = {DETECTION_INTERVAL_S}\n"
    "track_coast_s = 2\n"
    f"track_drop_s = {TRACK_DROP_S:g}\n"
)

#: The keys of a state in an alert (what another party's aircraft is reduced to).
STATE_KEYS = {"time", "lat", "lon", "altitude_m", "ground_speed_mps", "track_deg",
              "vertical_rate_mps"}


def iso(t: float) -> str:
    """UTC seconds as RFC 3339 with microseconds and ``Z``."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def parse(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def uid(prefix: str) -> str:
    """A unique aircraft id (one server holds many tests' aircraft)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def offset(p: tuple[float, float], azimuth_deg: float, dist_m: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(p[0], p[1], azimuth_deg, dist_m)
    return (lon, lat)


def wait_for(fn: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.25) -> Any:
    """:func:`support.waiting.wait_for`, polling the API a little less often."""
    return waiting.wait_for(fn, timeout_s, what, every_s)


@dataclass
class Flight:
    """One aircraft flying a geodesic from ``start`` (lon, lat) at ``t0`` at constant speed."""

    party: str
    aircraft_id: str
    start: tuple[float, float]
    track_deg: float
    ground_speed_mps: float
    altitude_m: float
    t0: float
    vertical_rate_mps: float = 0.0

    def state(self, t: float) -> dict[str, Any]:
        """The report this aircraft's tracker would send at ``t``."""
        dist = self.ground_speed_mps * (t - self.t0)
        lon, lat, back = GEOD.fwd(self.start[0], self.start[1], self.track_deg, dist)
        track = (back + 180.0) % 360.0 if dist else self.track_deg % 360.0
        return {
            "aircraft_id": self.aircraft_id, "time": iso(t), "lat": lat, "lon": lon,
            "altitude_m": self.altitude_m + self.vertical_rate_mps * (t - self.t0),
            "ground_speed_mps": self.ground_speed_mps, "track_deg": track,
            "vertical_rate_mps": self.vertical_rate_mps,
        }


def head_on(parties: tuple[str, str], ids: tuple[str, str], centre: tuple[float, float],
            *, apart_m: float = 30_000.0, speed_mps: float = 230.0,
            altitudes: tuple[float, float] = (6000.0, 6000.0),
            azimuth_deg: float = 90.0) -> list[Flight]:
    """Two aircraft ``apart_m`` apart on one geodesic through ``centre``, flying at each other."""
    now = time.time()
    a = offset(centre, azimuth_deg + 180.0, apart_m / 2)
    b = offset(centre, azimuth_deg, apart_m / 2)
    az_ab = GEOD.inv(a[0], a[1], b[0], b[1])[0]
    az_ba = GEOD.inv(b[0], b[1], a[0], a[1])[0]
    return [Flight(parties[0], ids[0], a, az_ab % 360.0, speed_mps, altitudes[0], now),
            Flight(parties[1], ids[1], b, az_ba % 360.0, speed_mps, altitudes[1], now)]


class Feeder:
    """Re-reports flights every ``period_s`` with the current time, from a thread; any non-200
    answer is kept and raised by :meth:`stop` (and by :meth:`check`)."""

    def __init__(self, api: Any, flights: list[Flight], period_s: float = 0.5) -> None:
        self.api = api
        self.period_s = period_s
        self._flights = list(flights)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._errors: list[str] = []
        self._clients: dict[str, httpx.Client] = {}
        self.batches = 0
        self._thread = threading.Thread(target=self._run, name="track-feeder", daemon=True)

    def __enter__(self) -> Feeder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(check=exc[0] is None)

    def start(self) -> None:
        self._send_once()  # the first batch synchronously: its failure is the test's failure
        self.check()
        self._thread.start()

    def add(self, *flights: Flight) -> None:
        """Report these flights too (a flight with a known aircraft id replaces it)."""
        ids = {f.aircraft_id for f in flights}
        with self._lock:
            self._flights = [f for f in self._flights if f.aircraft_id not in ids] + list(flights)

    def remove(self, *aircraft_ids: str) -> None:
        """Stop reporting these aircraft (their tracks will coast, then be dropped)."""
        with self._lock:
            self._flights = [f for f in self._flights if f.aircraft_id not in aircraft_ids]

    def stop(self, check: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        if check:
            self.check()

    def check(self) -> None:
        if self._errors:
            pytest.fail("track reports failed:\n" + "\n".join(self._errors[:5]))

    def _client(self, party: str) -> httpx.Client:
        if party not in self._clients:
            self._clients[party] = httpx.Client(
                base_url=self.api.server.base_url, timeout=30.0,
                headers={"Authorization": f"Bearer {self.api.tokens[party]}"})
        return self._clients[party]

    def _send_once(self) -> None:
        now = time.time()
        with self._lock:
            flights = list(self._flights)
        by_party: dict[str, list[dict]] = {}
        for f in flights:
            by_party.setdefault(f.party, []).append(f.state(now))
        for party, reports in by_party.items():
            try:
                r = self._client(party).post("/v1/tracks", json={"reports": reports})
            except httpx.HTTPError as exc:
                self._errors.append(f"{party}: POST /v1/tracks: {exc!r}")
                continue
            if r.status_code != 200:
                self._errors.append(f"{party}: POST /v1/tracks -> {r.status_code} {r.text[:500]}")
        self.batches += 1

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._send_once()


def alerts(api: Any, party: str, state: str = "all") -> list[dict]:
    body = api.expect(api.as_(party).get("/v1/alerts", params={"state": state, "limit": 1000}),
                      200)
    assert isinstance(body.get("alerts"), list), body
    return body["alerts"]


def aircraft_ids(alert: dict) -> set[str]:
    """The aircraft ids an alert shows (observers see all; others only their own)."""
    return {a["aircraft_id"] for a in alert.get("aircraft", []) if "aircraft_id" in a}


def find_alert(api: Any, party: str, *, kind: str, ids: set[str],
               state: str = "all") -> dict | None:
    for a in alerts(api, party, state):
        if a["kind"] == kind and aircraft_ids(a) == ids:
            return a
    return None


def alert_by_id(api: Any, party: str, alert_id: str, state: str = "all") -> dict | None:
    return next((a for a in alerts(api, party, state) if a["id"] == alert_id), None)


def events_of(api: Any, party: str, kind: str, **match: Any) -> list[dict]:
    """A party's events of ``kind`` whose data hold ``match``."""
    return [e for e in api.events(party)
            if e["kind"] == kind and all(e["data"].get(k) == v for k, v in match.items())]
