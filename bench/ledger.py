"""Ledger benchmark: append and signing throughput and proof latency with 10k, 100k and 1M
leaves, and what the ledger costs the writes it records — the same writes through the service
layer with and without the ledger, in the same run (issue: at most 20 % slower).

    python bench/ledger.py                        # sizes 10k, 100k, 1M, then the overhead
    python bench/ledger.py --sizes 10000 --rounds 3
    python bench/ledger.py --database-url postgresql://…/db   # the overhead on PostgreSQL

Sizes: each size runs in its own process on a fresh SQLite file. The leaves are bulk-loaded
(real entries and leaf hashes, written straight into the store's table); the signer then hashes
them into the tree and signs (``sign leaves/s``); then 2,000 single-leaf appends run as units
of work, one at a time and 64 at a time (group commit); then 1,000 inclusion and consistency
proofs at random positions through the service (planned nodes, one query each) and their
verification. The reference is reading one leaf by index from the same store.

Overhead: parties declare operations, send hotline messages and report batches of 100 tracks
through the service, and the same as HTTP requests to the app in process (ASGI: routing,
validation, authentication, the receipt), alternating rounds with the ledger on (the signer
running beside, as in ``serve``, and what it has not signed when a round ends signed within the
round's time) and off (``service.evidence``'s leaf builders and the store's ``append_leaves``
replaced by stand-ins that build, hash and store nothing — a switch for this bench only). Each
row compares the medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from _sizes import measure_sizes  # bench/ is on sys.path when a script runs

from deconfliction.api.app import create_app
from deconfliction.cli import heap
from deconfliction.engine.ledger_entry import SALT_BYTES, entry_bytes
from deconfliction.engine.merkle import leaf_hash, verify_inclusion
from deconfliction.model.ledger import Leaf, LeafDraft
from deconfliction.model.limits import Limits
from deconfliction.model.message import Urgency
from deconfliction.model.party import Party, Role
from deconfliction.model.time import rfc3339
from deconfliction.model.track import StateReport
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import evidence, hotline, ledger, tracks
from deconfliction.service import operations as ops
from deconfliction.service.errors import Refusal
from deconfliction.service.line import Line, LineSettings
from deconfliction.service.parties import add_party
from deconfliction.store import open_store
from deconfliction.store.sql_ledger import LedgerSql
from deconfliction.store.sqlite import SqliteStore

PROOFS = 1000
APPENDS = 2000
CONCURRENT = 64
T0 = time.time()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------------------------------
# sizes


def bulk_load(path: Path, n: int, seed: int) -> None:
    """N message-like leaves written straight into ``ledger_leaf`` (entries as the store's)."""
    SqliteStore.open(path)  # schema via migrations
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    batch = 50_000
    for first in range(0, n, batch):
        rows = []
        for i in range(first, min(n, first + batch)):
            at = T0 - n + i
            body = {"id": f"{rng.getrandbits(128):032x}", "from": "blue", "to": "red",
                    "urgency": "routine", "subject": f"message {i}", "body": "", "refs": [],
                    "recipients": ["red"]}
            entry = entry_bytes("message.sent", at, ["blue", "red"], body,
                                secrets.token_hex(SALT_BYTES))
            rows.append((i, at, "message.sent", '["blue","red"]', entry, leaf_hash(entry)))
        db.executemany("INSERT INTO ledger_leaf VALUES (?,?,?,?,?,?)", rows)
        db.commit()
        print(f"  loaded {min(n, first + batch):>9,} / {n:,}", file=sys.stderr, flush=True)
    db.close()


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    out = []
    for call in calls:
        t = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t)
    return out


async def measure_size(path: Path, n: int, seed: int) -> dict[str, float]:
    store = SqliteStore(path)
    line = Line(store)
    rng = random.Random(seed)
    key = await ledger.signing_key(line)

    t = time.perf_counter()
    while await ledger.sign_pending(line, key) is not None:
        pass
    sign_s = time.perf_counter() - t

    body = {"id": "bench", "subject": "append", "recipients": ["red"]}

    async def append() -> None:
        await store.transact(lambda repo: repo.append_leaves([evidence.draft(
            "message.sent", ["blue", "red"], body, time.time())]))

    t = time.perf_counter()
    for _ in range(APPENDS):
        await append()
    sequential = APPENDS / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(APPENDS // CONCURRENT):
        await asyncio.gather(*(append() for _ in range(CONCURRENT)))
    concurrent = (APPENDS // CONCURRENT * CONCURRENT) / (time.perf_counter() - t)
    while await ledger.sign_pending(line, key) is not None:
        pass
    head = await ledger.latest_head(line)
    size = head.tree_size

    indices = [rng.randrange(size) for _ in range(PROOFS)]
    firsts = [rng.randrange(1, size) for _ in range(PROOFS)]
    proofs: list[ledger.InclusionProof] = []

    async def inclusion(i: int) -> None:
        proofs.append(await ledger.inclusion(line, i, size))

    incl = await timed([lambda i=i: inclusion(i) for i in indices])
    cons = await timed([lambda m=m: ledger.consistency(line, m, size) for m in firsts])
    read = await timed([lambda i=i: store.interact(lambda r: r.ledger_leaves(i, i + 1))
                        for i in indices])
    t = time.perf_counter()
    for p in proofs:
        verify_inclusion(p.leaf_hash, p.index, size, p.path, head.root_hash)
    verify_s = (time.perf_counter() - t) / len(proofs)
    await store.close()
    return {
        "n": n, "sign_per_s": n / sign_s, "append_seq_per_s": sequential,
        "append_conc_per_s": concurrent,
        "incl_p50_ms": pct(incl, 0.5) * 1e3, "incl_p99_ms": pct(incl, 0.99) * 1e3,
        "cons_p50_ms": pct(cons, 0.5) * 1e3, "cons_p99_ms": pct(cons, 0.99) * 1e3,
        "read_p50_ms": pct(read, 0.5) * 1e3, "verify_us": verify_s * 1e6,
        "path_len": statistics.mean(len(p.path) for p in proofs),
    }


def one_size(n: int, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        path = Path(tmp) / "line.db"
        t = time.perf_counter()
        bulk_load(path, n, seed)
        load_s = time.perf_counter() - t
        result = asyncio.run(measure_size(path, n, seed))
        result["load_s"] = load_s
        result["db_mb"] = path.stat().st_size / 1e6
        return result


# --------------------------------------------------------------------------------------------
# overhead on the writes the ledger records


_NO_DRAFT = LeafDraft(0.0, "off", (), b"", b"")


def _no_draft(*_args: Any, **_kwargs: Any) -> LeafDraft:
    """The ledger switched off (this bench only): no body, entry or hash is made ..."""
    return _NO_DRAFT


async def _no_append(_repo: Any, drafts: Any) -> list[Leaf]:
    """... and no leaf is stored (the use cases still get one receipt per draft)."""
    return [d.at(0) for d in drafts]


_BUILDERS = {name: getattr(evidence, name) for name in (
    "draft", "party_added", "party_revoked", "operation_changed", "constraint_changed",
    "tracks_reported", "message_sent", "message_delivered", "message_replied",
    "message_escalated", "party_status", "link_test_sent", "link_test_acked")}
_APPEND = LedgerSql.append_leaves


def _ledger(enabled: bool) -> None:
    """Switch the ledger on or off for the whole process (this bench only)."""
    LedgerSql.append_leaves = _APPEND if enabled else _no_append  # type: ignore[method-assign]
    for name, build in _BUILDERS.items():
        setattr(evidence, name, build if enabled else _no_draft)


class Writes:
    """The three kinds of write, each one call per sample."""

    def __init__(self, line: Line, seed: int) -> None:
        self.line = line
        self.rng = random.Random(seed)
        self.blue = Party("blue", Role.OPERATOR, T0)
        self.red = Party("red", Role.OPERATOR, T0)
        self.refused = 0
        self.batch = 0

    async def declare(self) -> None:
        rng, now = self.rng, self.line.clock()
        lat = 36.0 + rng.uniform(-9, 9)
        lon = 38.0 + rng.uniform(-9, 9) / math.cos(math.radians(lat))
        start = now + 7200 + rng.uniform(0, 20 * 86400)
        volume = Volume(CircleFootprint((lon, lat), rng.uniform(1000, 5000)), 1000.0, 2000.0,
                        start, start + 1800)
        try:
            await ops.declare_operation(self.line, self.blue,
                                        ops.DeclareOperation(volumes=(volume,)), now)
        except Refusal:
            self.refused += 1

    async def message(self) -> None:
        await hotline.send_message(self.line, self.blue, to="red", urgency=Urgency.ROUTINE,
                                   subject="crossing at FL200", body="BLUE 1 heading 090",
                                   refs=[], now=self.line.clock())

    async def tracks(self) -> None:
        now = self.line.clock()
        self.batch += 1
        reports = [StateReport(f"blue-{i}", now - 0.5, 36.0 + i * 0.01, 37.0, 3000.0 + i,
                               200.0, 90.0, 0.0) for i in range(100)]
        await tracks.report_tracks(self.line, self.blue, reports, now)


class ApiWrites:
    """The same writes as HTTP requests to the app, in process (ASGI): what a party sees."""

    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, str], seed: int) -> None:
        self.client = client
        self.blue = {"Authorization": f"Bearer {tokens['blue']}"}
        self.to = "api-red"
        self.rng = random.Random(seed)

    async def declare(self) -> None:
        rng, now = self.rng, time.time()
        lat = 36.0 + rng.uniform(-9, 9)
        lon = 38.0 + rng.uniform(-9, 9) / math.cos(math.radians(lat))
        start = now + 7200 + rng.uniform(0, 20 * 86400)
        r = await self.client.post("/v1/operations", headers=self.blue, json={"volumes": [{
            "footprint": {"type": "Circle", "center": [lon, lat],
                          "radius_m": rng.uniform(1000, 5000)},
            "altitude_lower_m": 1000, "altitude_upper_m": 2000, "time_start": rfc3339(start),
            "time_end": rfc3339(start + 1800)}]})
        assert r.status_code in (201, 409), r.text

    async def message(self) -> None:
        r = await self.client.post("/v1/messages", headers=self.blue, json={
            "to": self.to, "urgency": "routine", "subject": "crossing at FL200",
            "body": "BLUE 1 heading 090"})
        assert r.status_code == 201, r.text


async def _round(write: Callable[[], Awaitable[None]], count: int, in_flight: int,
                 settle: Callable[[], Awaitable[None]] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds per write (this process, every thread), ``in_flight`` at a time,
    ``settle`` included (the ledger's signing of what the round appended). CPU time is the
    steadier figure on a shared machine."""
    t, cpu = time.perf_counter(), time.process_time()
    if in_flight == 1:
        for _ in range(count):
            await write()
    else:
        for _ in range(count // in_flight):
            await asyncio.gather(*(write() for _ in range(in_flight)))
    if settle is not None:
        await settle()
    return (time.perf_counter() - t) / count, (time.process_time() - cpu) / count


async def overhead(database_url: str | None, rounds: int, seed: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-ledger-overhead-") as tmp:
        store = (open_store(database_url=database_url) if database_url
                 else open_store(db_path=Path(tmp) / "line.db"))
        # one party sends thousands of messages and declarations a round, unanswered: above
        # the default messages_per_minute, unanswered_per_recipient and declarations_per_minute
        line = Line(store, LineSettings(limits=Limits(messages_per_minute=10**9,
                                                      unanswered_per_recipient=10**9,
                                                      declarations_per_minute=10**9)))

        async def parties(repo: Any) -> None:
            for name in ("blue", "red"):
                if await repo.party(name) is None:
                    await repo.add_party(Party(name, Role.OPERATOR, T0), name * 8)
        await store.transact(parties)
        writes = Writes(line, seed)
        tokens = {}
        for name in ("blue", "red"):
            _party, tokens[name] = await add_party(line, f"api-{name}", Role.OPERATOR, T0)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(line)),
                                   base_url="http://line")
        api = ApiWrites(client, tokens, seed)
        kinds: list[tuple[str, Callable[[], Awaitable[None]], int, int]] = [
            # writes per round: a few tenths of a second each, so that a round sees what a
            # second of ``serve`` sees (the signer's passes, a head) rather than its edges
            ("declare operation", writes.declare, 300, 1),
            ("declare operation ×16", writes.declare, 480, 16),
            ("send message", writes.message, 800, 1),
            ("send message ×16", writes.message, 2560, 16),
            ("report 100 tracks", writes.tracks, 150, 1),
            ("POST /v1/operations", api.declare, 150, 1),
            ("POST /v1/messages", api.message, 400, 1),
            ("POST /v1/messages ×16", api.message, 960, 16),
        ]
        key = await ledger.signing_key(line)

        async def sign_the_rest() -> None:
            """Sign what the round appended: the signer's work is the ledger's cost too,
            though in ``serve`` much of it would fall after a round this short."""
            while await ledger.sign_pending(line, key) is not None:
                pass

        for _name, write, count, in_flight in kinds:  # warm-up: caches, compiled statements
            await _round(write, count // 4, in_flight, sign_the_rest)
        heap.settle()  # as ``serve`` does once it has started
        rows = []
        for name, write, count, in_flight in kinds:
            on, off = [], []
            for r in range(rounds):
                for enabled in ((True, False) if r % 2 == 0 else (False, True)):
                    stop = asyncio.Event()
                    signer = None
                    _ledger(enabled)
                    if enabled:
                        signer = asyncio.create_task(ledger.run_signer(line, stop))
                    try:
                        (on if enabled else off).append(await _round(
                            write, count, in_flight, sign_the_rest if enabled else None))
                    finally:
                        stop.set()
                        if signer is not None:
                            await signer
                        _ledger(True)
            wall_on, wall_off = (statistics.median(w for w, _ in xs) for xs in (on, off))
            cpu_on, cpu_off = (statistics.median(c for _, c in xs) for xs in (on, off))
            rows.append({"write": name, "on_ms": wall_on * 1e3, "off_ms": wall_off * 1e3,
                         "ratio": wall_on / wall_off, "cpu_on_ms": cpu_on * 1e3,
                         "cpu_off_ms": cpu_off * 1e3, "cpu_ratio": cpu_on / cpu_off})
            print(f"  {name}: {rows[-1]['ratio']:.3f}", file=sys.stderr, flush=True)
        size = await store.interact(lambda repo: repo.ledger_size())
        await client.aclose()
        await store.close()
        rows.append({"write": "leaves", "size": size, "refused": writes.refused})
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per setting (overhead)")
    parser.add_argument("--database-url", default=None, help="overhead on PostgreSQL")
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.seed)))
        return 0
    rows = measure_sizes(__file__, args.sizes, args.seed)
    if rows:
        print(f"\n{'leaves':>9} | {'sign':>9} | {'append 1×':>9} {'64×':>8} | "
              f"{'inclusion p50':>13} {'p99':>7} | {'consistency p50':>15} {'p99':>7} | "
              f"{'read leaf':>9} {'ratio':>5} | {'path':>4} {'verify':>7}")
        print("-" * 124)
        for r in rows:
            print(f"{r['n']:>9,} | {r['sign_per_s']:>7,.0f}/s | {r['append_seq_per_s']:>7,.0f}/s "
                  f"{r['append_conc_per_s']:>6,.0f}/s | {r['incl_p50_ms']:>11.3f}ms "
                  f"{r['incl_p99_ms']:>5.2f}ms | {r['cons_p50_ms']:>13.3f}ms "
                  f"{r['cons_p99_ms']:>5.2f}ms | {r['read_p50_ms']:>7.3f}ms "
                  f"{r['incl_p50_ms'] / r['read_p50_ms']:>5.1f} | {r['path_len']:>4.0f} "
                  f"{r['verify_us']:>5.0f}µs")
        print("\nsign = leaves hashed into the tree and signed per second (backlog); append = "
              "single-leaf units of work per second; ratio = inclusion proof p50 / reading one "
              "leaf by index p50 (same store)")
    print(f"\noverhead on the writes the ledger records ({args.rounds} rounds each, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}), per write:", file=sys.stderr,
          flush=True)
    found = asyncio.run(overhead(args.database_url, args.rounds, args.seed))
    print(f"\n{'write':<24} | {'wall: with':>10} {'without':>9} {'ratio':>6} | "
          f"{'CPU: with':>9} {'without':>9} {'ratio':>6}")
    print("-" * 84)
    for r in found[:-1]:
        print(f"{r['write']:<24} | {r['on_ms']:>8.3f}ms {r['off_ms']:>7.3f}ms "
              f"{r['ratio']:>6.3f} | {r['cpu_on_ms']:>7.3f}ms {r['cpu_off_ms']:>7.3f}ms "
              f"{r['cpu_ratio']:>6.3f}")
    worst = max(r["ratio"] for r in found[:-1])
    print(f"\nratio = with / without the ledger, per write (median of rounds; ×16 = 16 writes "
          f"in flight; CPU = this process's, signer included); target ≤ 1.20, worst wall ratio "
          f"{worst:.3f}; {found[-1]['size']:,} leaves appended, {found[-1]['refused']} "
          "declarations refused (conflicts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
