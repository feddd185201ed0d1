"""Crash rounds: ``kill -9`` of the server at random moments under mixed load; after each
restart, everything the line acknowledged is there (issue 13, item 8).

Usage: ``python bench/crash.py [--rounds 20] [--database-url postgresql://…] [--seed 1]
[--code /other/checkout/src]``

One database (a temp SQLite file unless ``--database-url``) for all rounds. Each round starts
``deconfliction serve`` on it, runs a mixed load — three operators declaring operations,
sending messages (each answered by its recipient with a reply) and reporting track batches of
50 aircraft each as fast as the line takes them — and ``kill -9``-s the server's process group
at a random moment 0.3–3 s in (``--kill-after MIN MAX``). After the restart (the next
round's start, and once more at the end) it checks:

* every write answered 2xx is there: operations (owner's view, same ``ovn``), messages
  (sender's thread) with every acknowledged reply, each track's latest state at least as new
  as the newest acknowledged report, and every receipt's leaf within the ledger;
* every party's event stream is gap-free (``seq`` 1..n) and holds a ``message.received`` for
  every acknowledged message to it;
* the ledger verifies: ``deconfliction ledger export`` of a party's view, then
  ``deconfliction ledger verify`` against the line's key and the oldest and the newest head
  saved before a crash (no fork, no rollback); and a new head is signed after the restart.

Prints one table row per round; exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _line import Databases, Server, machine_state, utc_now_text  # noqa: E402

OPERATORS = ("alpha", "bravo", "charlie")
PARTIES = {**dict.fromkeys(OPERATORS, "operator"), "watch": "observer"}
AIRCRAFT = 50
CONFIG = ("detection_interval_s = 1\ntrack_coast_s = 86400\ntrack_drop_s = 86400\n"
          "[hotline]\ndeadlines_s = {routine = 86400}\n")


@dataclass
class Acked:
    """Every write the line answered 2xx, across all rounds."""

    operations: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (owner, ovn)
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (from, to)
    replies: dict[str, tuple[str, str]] = field(default_factory=dict)  # message → (who, reply)
    tracks: dict[tuple[str, str], float] = field(default_factory=dict)  # (party, id) → time
    max_leaf: int = -1
    count: int = 0

    def receipt(self, body: Any) -> None:
        receipt = body.get("receipt") if isinstance(body, dict) else None
        if isinstance(receipt, dict) and isinstance(receipt.get("leaf_index"), int):
            self.max_leaf = max(self.max_leaf, receipt["leaf_index"])


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Load:
    """The mixed load of one round; it runs until the server is killed under it."""

    def __init__(self, base: str, tokens: dict[str, str], acked: Acked, rng: random.Random,
                 round_: int) -> None:
        self.base, self.tokens, self.acked, self.rng, self.round = base, tokens, acked, rng, round_
        self.stop = False

    def h(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    async def declarer(self, client: httpx.AsyncClient, party: str) -> None:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        while not self.stop:
            self.acked.count += 1
            n = self.acked.count  # a cell of its own: no two declarations conflict
            lon, lat = 20.0 + (n % 200) * 0.2, -40.0 + (n // 200) * 0.2
            r = await client.post("/v1/operations", headers=self.h(party), json={"volumes": [{
                "footprint": {"type": "Circle", "center": [lon, lat], "radius_m": 500},
                "altitude_lower_m": 100, "altitude_upper_m": 200,
                "time_start": start.isoformat(),
                "time_end": (start + timedelta(hours=1)).isoformat()}]})
            if r.status_code == 201:
                body = r.json()
                self.acked.operations[body["id"]] = (party, body["ovn"])
                self.acked.receipt(body)

    async def talker(self, client: httpx.AsyncClient, sender: str) -> None:
        i = 0
        while not self.stop:
            i += 1
            to = OPERATORS[(OPERATORS.index(sender) + 1 + i % 2) % 3]
            r = await client.post("/v1/messages", headers=self.h(sender), json={
                "to": to, "urgency": "routine", "subject": f"r{self.round}-{sender}-{i}"})
            if r.status_code != 201:
                continue
            body = r.json()
            self.acked.messages[body["id"]] = (sender, to)
            self.acked.receipt(body)
            reply = self.rng.choice(["acknowledged", "will_comply", "unable"])
            r = await client.post(f"/v1/messages/{body['id']}/replies", headers=self.h(to),
                                  json={"reply": reply})
            if r.status_code == 201:
                self.acked.replies[body["id"]] = (to, reply)
                self.acked.receipt(r.json())

    async def reporter(self, client: httpx.AsyncClient, party: str) -> None:
        while not self.stop:
            now = utc_now_text()
            reports = [{"aircraft_id": f"{party}-{k}", "time": now, "lat": 10 + k * 0.01,
                        "lon": 10 + OPERATORS.index(party), "altitude_m": 3000 + 10 * k,
                        "ground_speed_mps": 100, "track_deg": 0} for k in range(AIRCRAFT)]
            r = await client.post("/v1/tracks", headers=self.h(party), json={"reports": reports})
            if r.status_code == 200:
                t = parse_time(now)
                for k in range(AIRCRAFT):
                    key = (party, f"{party}-{k}")
                    self.acked.tracks[key] = max(self.acked.tracks.get(key, 0.0), t)
                self.acked.receipt(r.json())
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            tasks = [*(self.declarer(client, p) for p in OPERATORS),
                     *(self.talker(client, p) for p in OPERATORS),
                     *(self.reporter(client, p) for p in OPERATORS)]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for r in results:  # the kill ends them with connection errors, nothing else
                if isinstance(r, Exception) and not isinstance(r, httpx.HTTPError):
                    raise r


@dataclass
class Check:
    missing: list[str] = field(default_factory=list)
    events: int = 0

    def miss(self, what: str) -> None:
        self.missing.append(what)


def check_writes(base: str, tokens: dict[str, str], acked: Acked) -> Check:
    """Everything acknowledged is there, and every stream is gap-free."""
    out = Check()
    with httpx.Client(base_url=base, timeout=60) as c:
        def get(party: str, path: str) -> httpx.Response:
            return c.get(path, headers={"Authorization": f"Bearer {tokens[party]}"})

        for op_id, (owner, ovn) in acked.operations.items():
            r = get(owner, f"/v1/operations/{op_id}")
            if r.status_code != 200 or r.json().get("ovn") != ovn:
                out.miss(f"operation {op_id}: {r.status_code}")
        for msg_id, (sender, _to) in acked.messages.items():
            r = get(sender, f"/v1/messages/{msg_id}")
            if r.status_code != 200:
                out.miss(f"message {msg_id}: {r.status_code}")
                continue
            if msg_id in acked.replies:
                who, reply = acked.replies[msg_id]
                got = {x["party"]: x["reply"] for x in r.json()["recipients"]}
                if got.get(who) != reply:
                    out.miss(f"reply to {msg_id}: {got.get(who)} ≠ {reply}")
        for party in OPERATORS:
            now = {t["aircraft_id"]: parse_time(t["time"])
                   for t in get(party, "/v1/tracks").json()["tracks"]}
            for (p, aircraft), t in acked.tracks.items():
                if p == party and now.get(aircraft, 0.0) < t - 1e-3:
                    out.miss(f"track {aircraft}: {now.get(aircraft)} < {t}")
        received: dict[str, set[str]] = {p: set() for p in PARTIES}
        for party in PARTIES:
            after, seqs = 0, []
            while True:
                page = get(party, f"/v1/events?after={after}&limit=1000").json()["events"]
                if not page:
                    break
                for e in page:
                    seqs.append(e["seq"])
                    if e["kind"] == "message.received":
                        received[party].add(e["data"]["id"])
                after = page[-1]["seq"]
            out.events += len(seqs)
            if seqs != list(range(1, len(seqs) + 1)):
                out.miss(f"{party}'s stream not gap-free: {len(seqs)} events, "
                         f"last seq {seqs[-1] if seqs else None}")
        for msg_id, (_sender, to) in acked.messages.items():
            if msg_id not in received[to]:
                out.miss(f"message {msg_id}: no message.received in {to}'s stream")
    return out


def check_ledger(dbs: Databases, db_args: list[str], work: Path, base: str,
                 tokens: dict[str, str], heads: list[Path], key: Path,
                 acked: Acked) -> tuple[str, int]:
    """A new head signs; a party's export verifies against the first and latest saved heads."""
    h = {"Authorization": f"Bearer {tokens['watch']}"}
    with httpx.Client(base_url=base, timeout=30) as c:
        before = c.get("/v1/ledger/head", headers=h)
        size0 = before.json().get("tree_size", 0) if before.status_code == 200 else 0
        c.post("/v1/messages", headers={"Authorization": f"Bearer {tokens['alpha']}"},
               json={"to": "bravo", "urgency": "routine", "subject": "after restart"})
        deadline, signed = time.monotonic() + 20, False
        while time.monotonic() < deadline:
            r = c.get("/v1/ledger/head", headers=h)
            if r.status_code == 200 and r.json()["tree_size"] > size0:
                signed = True
                break
            time.sleep(0.2)
    if not signed:
        return "no new head signed after the restart", 0
    out = work / "export.jsonl"
    dbs.cli("ledger", "export", "--party", "alpha", str(out), *db_args)
    leaves = sum(1 for _ in out.open()) - 1
    if leaves <= acked.max_leaf:
        return f"{leaves} leaves but a receipt named leaf {acked.max_leaf}", leaves
    for head in {heads[0], heads[-1]} if heads else {None}:
        argv = ["ledger", "verify", str(out), "--key", str(key)]
        if head is not None:
            argv += ["--head", str(head)]
        done = subprocess.run([sys.executable, "-m", "deconfliction", *argv], env=dbs.env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            return "verify: " + (done.stderr or done.stdout).strip()[:200], leaves
    return "ok", leaves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-after", type=float, nargs=2, default=(0.3, 3.0),
                        metavar=("MIN", "MAX"), help="seconds of load before the kill "
                        "(uniform; a loaded machine needs longer to acknowledge anything)")
    parser.add_argument("--code", default=None,
                        help="run the server from this src directory (PYTHONPATH)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    state = machine_state()
    dbs = Databases(work, PARTIES, args.database_url, args.code)
    acked = Acked()
    heads: list[Path] = []
    key = work / "key.json"
    lost = 0
    backend = "postgresql" if args.database_url else "sqlite"
    try:
        db_args = dbs.fresh()
        server = Server(db_args, work, dbs.env, CONFIG)
        print(f"backend {backend}; {args.rounds} rounds of kill -9 under load (seed {args.seed})")
        print(f"machine: {state}")
        print(f"{'round':>5} {'killed at':>9} {'restart':>8} {'ops':>6} {'msgs':>6} "
              f"{'replies':>7} {'aircraft':>8} {'events':>7} {'leaves':>7}  missing / ledger")
        for round_ in range(1, args.rounds + 2):
            t0 = time.monotonic()
            server.start()
            restart = time.monotonic() - t0
            if not key.exists():
                key.write_text(httpx.get(f"{server.base_url}/v1/ledger/key", headers={
                    "Authorization": f"Bearer {dbs.tokens['watch']}"}).text)
            check = check_writes(server.base_url, dbs.tokens, acked)
            ledger, leaves = check_ledger(dbs, db_args, work, server.base_url, dbs.tokens,
                                          heads, key, acked)
            lost += len(check.missing) + (ledger != "ok")
            what = "; ".join(check.missing[:3]) + (" …" if len(check.missing) > 3 else "")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{server.base_url}/v1/ledger/head", headers={
                    "Authorization": f"Bearer {dbs.tokens['watch']}"})
                if r.status_code == 200:
                    heads.append(work / f"head-{round_}.json")
                    heads[-1].write_text(r.text)
            if round_ > args.rounds:  # the last start only checks
                print(f"{'end':>5} {'-':>9} {restart:>7.1f}s {len(acked.operations):>6} "
                      f"{len(acked.messages):>6} {len(acked.replies):>7} "
                      f"{len(acked.tracks):>8} {check.events:>7} {leaves:>7}  "
                      f"{len(check.missing)} missing; ledger {ledger} {what}")
                server.stop()
                break
            kill_at = rng.uniform(*args.kill_after)
            load = Load(server.base_url, dbs.tokens, acked, rng, round_)

            async def round_run(load: Load = load, kill_at: float = kill_at) -> None:
                task = asyncio.ensure_future(load.run())
                await asyncio.sleep(kill_at)
                server.kill()  # kill -9 of the process group, mid-write
                load.stop = True
                await asyncio.wait_for(task, 60)

            asyncio.run(round_run())
            print(f"{round_:>5} {kill_at:>8.2f}s {restart:>7.1f}s {len(acked.operations):>6} "
                  f"{len(acked.messages):>6} {len(acked.replies):>7} {len(acked.tracks):>8} "
                  f"{check.events:>7} {leaves:>7}  {len(check.missing)} missing; "
                  f"ledger {ledger} {what}", flush=True)
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        dbs.close()
    print("nothing lost" if not lost else f"LOST: {lost} checks failed")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
