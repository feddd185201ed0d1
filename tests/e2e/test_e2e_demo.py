"""`deconfliction demo` as a user runs it: a real process on a loopback port, its tokens read
from its output, and the scenario watched over HTTP as the parties see it.

The scenario runs at its real pace (the first alerts come within seconds); only the hotline's
urgent deadline is shortened (60 s → 5 s, through `--config`) so that the unanswered urgent
call escalates within the test's time.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT_S = 60.0  # seeding the day on a loaded 2-core machine (kernels come compiled)
SCENARIO_TIMEOUT_S = 75.0  # everything below happens ~40 s into the scenario
TOKEN_LINE = re.compile(r"^\s+(west-aoc|east-aoc|observer-mission|monitor)\s+\w+\s+(\S+)\s*$",
                        re.MULTILINE)
SCRIPTED = {"texaco-11", "grach-2", "sokol-1", "orlan-7", "viper-21", "berkut-5"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """A running `deconfliction demo` process and a client per party."""

    def __init__(self, tmp: Path) -> None:
        self.out, self.err = tmp / "demo.stdout", tmp / "demo.stderr"
        config = tmp / "demo.toml"
        config.write_text("[hotline]\ndeadlines_s = {urgent = 5}\n")
        self.port = _free_port()
        cmd = [sys.executable, "-m", "deconfliction", "demo", "--db", str(tmp / "demo.db"),
               "--port", str(self.port), "--config", str(config)]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                         start_new_session=True)
        self.clients: dict[str, httpx.Client] = {}

    def log(self) -> str:
        return (f"--- stdout ---\n{self.out.read_text(errors='replace')}\n"
                f"--- stderr ---\n{self.err.read_text(errors='replace')[-8000:]}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        base = f"http://127.0.0.1:{self.port}"
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"demo exited early\n{self.log()}"
            tokens = dict(TOKEN_LINE.findall(self.out.read_text(errors="replace")))
            if len(tokens) == 4:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1.0).status_code == 200:
                        self.clients = {
                            name: httpx.Client(base_url=base, timeout=30.0,
                                               headers={"Authorization": f"Bearer {token}"})
                            for name, token in tokens.items()}
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        pytest.fail(f"demo not ready within {STARTUP_TIMEOUT_S:.0f} s\n{self.log()}")

    def get(self, party: str, path: str, **params: Any) -> Any:
        r = self.clients[party].get(path, params=params)
        assert r.status_code == 200, f"GET {path} as {party}: {r.status_code} {r.text[:300]}"
        return r.json()

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group started for this child only
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


@pytest.fixture
def running_demo(tmp_path: Path):
    demo = Demo(tmp_path)
    try:
        demo.wait_ready()
        yield demo
    finally:
        demo.stop()


def _positions(demo: Demo) -> dict[str, tuple[float, float, str]]:
    return {t["aircraft_id"]: (t["lat"], t["lon"], t["time"])
            for t in demo.get("monitor", "/v1/tracks")["tracks"]}


def _seen_all(alerts: list[dict], messages: list[dict]) -> dict[str, bool]:
    """What the test waits for, by name (so a failure says which is missing)."""
    def of(kind: str, aircraft: str) -> list[dict]:
        return [a for a in alerts if a["kind"] == kind
                and aircraft in {x["aircraft_id"] for x in a["aircraft"]}]

    conflicts = [a for a in alerts if a["kind"] in ("conflict", "loss_of_separation")
                 and {x["party"] for x in a["aircraft"]} == {"west-aoc", "east-aoc"}]
    urgent = [m for m in messages if m["urgency"] == "urgent"]
    routine = [m for m in messages if m["urgency"] == "routine" and m["from"] == "west-aoc"]
    return {
        "conflict raised": bool(conflicts),
        "conflict cleared": any(a["state"] == "cleared" for a in conflicts),
        "incursion into the Aleppo zone": bool(of("constraint_incursion", "sokol-1")),
        "nonconformance": bool(of("nonconformance", "orlan-7")),
        "routine call answered": any(r["party"] == "east-aoc" and r["reply"] == "will_comply"
                                     for m in routine for r in m["recipients"]),
        "urgent call delivered, unanswered, escalated": any(
            r["party"] == "east-aoc" and r["status"] == "delivered" and r["escalations"] >= 1
            for m in urgent for r in m["recipients"]),
    }


@pytest.mark.timeout(240)
def test_demo_flies_the_day_and_talks_on_the_hotline(running_demo: Demo) -> None:
    demo = running_demo

    # the strategic picture: the mission's no-fly zone over Aleppo, both operators' day
    zones = demo.get("west-aoc", "/v1/constraints")["constraints"]
    (zone,) = [z for z in zones if z["kind"] == "no_fly"]
    assert zone["authority"] == "observer-mission" and zone["applies_to"] == "all"
    assert zone["volumes"][0]["footprint"]["center"] == [37.134, 36.202]
    ops = demo.get("monitor", "/v1/operations")["operations"]
    assert {o["owner"] for o in ops} == {"west-aoc", "east-aoc"}
    assert len(ops) >= 8 and sum(o["short_notice"] for o in ops) == 1
    # an operator sees the other's operations in their public view only
    east_view = demo.get("east-aoc", "/v1/operations")["operations"]
    assert all("callsigns" not in o for o in east_view if o["owner"] == "west-aoc")

    # the aircraft fly: six airborne, each reported anew and moved within a few seconds
    deadline = time.monotonic() + 20.0
    while not SCRIPTED <= set(before := _positions(demo)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert SCRIPTED <= set(before), f"tracks: {sorted(before)}\n{demo.log()}"
    time.sleep(3.0)
    after = _positions(demo)
    for aircraft in SCRIPTED:
        assert after[aircraft][2] > before[aircraft][2], f"{aircraft} stopped reporting"
        assert after[aircraft][:2] != before[aircraft][:2], f"{aircraft} did not move"
    # an operator sees only its own aircraft
    assert {t["party"] for t in demo.get("east-aoc", "/v1/tracks")["tracks"]} == {"east-aoc"}
    # airborne sorties are activated by their owners (ASTM F3548-21: accepted → activated)
    states = {o["callsigns"][0]: o["state"]
              for o in demo.get("monitor", "/v1/operations")["operations"]}
    assert states["VIPER 21"] == states["GRACH 2"] == "activated", states
    assert states["GRACH 4"] == "accepted", states  # later in the day
    assert states["TEXACO 11"] == "accepted", states  # overridden by GRACH 2: cannot change

    # the scripted deviations and the hotline traffic about them
    deadline = time.monotonic() + SCENARIO_TIMEOUT_S
    while True:
        alerts = demo.get("monitor", "/v1/alerts")["alerts"]
        messages = demo.get("monitor", "/v1/messages")["messages"]
        seen = _seen_all(alerts, messages)
        if all(seen.values()) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    missing = [name for name, ok in seen.items() if not ok]
    assert not missing, (f"not seen within {SCENARIO_TIMEOUT_S:.0f} s: {missing}\n"
                         f"alerts: {[(a['kind'], a['state']) for a in alerts]}\n{demo.log()}")

    # as the parties see it: east-aoc was told of its escalation; the mission (which cannot
    # know whose aircraft is in its zone) sees the intruder's position, not its identity
    east = [e["kind"] for e in demo.get("east-aoc", "/v1/events", limit=1000)["events"]]
    assert "message.escalated" in east and "alert.raised" in east
    mine = demo.get("observer-mission", "/v1/alerts")["alerts"]
    (incursion, *_) = [a for a in mine if a["kind"] == "constraint_incursion"]
    assert incursion["aircraft"] == [{"own": False, "state": incursion["aircraft"][0]["state"]}]
    assert demo.proc.poll() is None, demo.log()
