"""Write fairness: long track batches beside a flow of short hotline messages (issue 13).

Usage: ``python bench/fairness.py [--seconds 12] [--database-url postgresql://…]
[--code /other/checkout/src]``

Loopback only. One fresh ``deconfliction serve`` (a temp SQLite file unless
``--database-url``): three operators post 50-report track batches back to back (each waits
for its answer), while two other parties send hotline messages open loop (20 a second). Every
write appends to the ledger, so writes conflict; what counts is that the long ones are not
starved by the short ones. Prints per operator how many batches were acknowledged and their
p50/p99, and the messages' — the PostgreSQL store once answered 3 batches in 12 s beside 99
messages (RELIABILITY.md, "Found by attacking the line", 9). Admission limits and the
message rate limit are raised: they are not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _line import Databases, Server, machine_state, percentile, utc_now_text  # noqa: E402

OPERATORS = ("blue", "red", "green")
SENDERS = ("amber", "grey")
PARTIES = {**{p: "operator" for p in OPERATORS}, **{p: "operator" for p in SENDERS}}
CONFIG = ("detection_interval_s = 1\n[limits]\nmessages_per_minute = 1000000\n"
          "unanswered_per_recipient = 1000000\nserver_ms_per_s = 1000000\n"
          "server_ms_burst = 1000000\n")


async def run(server: Server, tokens: dict[str, str], seconds: float) -> None:
    latencies: dict[str, list[float]] = {p: [] for p in (*OPERATORS, "message")}
    statuses: dict[str, Counter[str]] = {p: Counter() for p in latencies}
    end = time.monotonic() + seconds

    async def post(client: httpx.AsyncClient, who: str, party: str, path: str,
                   body: object) -> None:
        t0 = time.perf_counter()
        try:
            r = await client.post(path, json=body, timeout=30,
                                  headers={"Authorization": f"Bearer {tokens[party]}"})
            status = str(r.status_code)
        except httpx.HTTPError as error:
            status = type(error).__name__
        if status.startswith("2"):
            latencies[who].append(time.perf_counter() - t0)
        statuses[who][status] += 1

    async def operator(client: httpx.AsyncClient, party: str) -> None:
        while time.monotonic() < end:
            now = utc_now_text()
            reports = [{"aircraft_id": f"{party}-{i}", "time": now, "lat": 36.0 + i * 0.01,
                        "lon": 37.0, "altitude_m": 3000, "ground_speed_mps": 100,
                        "track_deg": 90} for i in range(50)]
            await post(client, party, party, "/v1/tracks", {"reports": reports})

    async def messages(client: httpx.AsyncClient) -> None:
        pending: set[asyncio.Task[None]] = set()
        i = 0
        while time.monotonic() < end:
            i += 1
            sender, to = SENDERS[i % 2], SENDERS[(i + 1) % 2]
            task = asyncio.ensure_future(post(client, "message", sender, "/v1/messages", {
                "to": to, "urgency": "routine", "subject": f"m{i}"}))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(0.05)
        await asyncio.gather(*pending)

    async with httpx.AsyncClient(base_url=server.base_url,
                                 limits=httpx.Limits(max_connections=100)) as client:
        await asyncio.gather(messages(client), *(operator(client, p) for p in OPERATORS))
    print(f"{'writer':<10}{'acknowledged':>14}{'p50 ms':>9}{'p99 ms':>9}  other answers")
    for who, values in latencies.items():
        other = ", ".join(f"{s} ×{n}" for s, n in statuses[who].items() if not s.startswith("2"))
        print(f"{who:<10}{len(values):>14}{percentile(values, 0.5) * 1000:>9.0f}"
              f"{percentile(values, 0.99) * 1000:>9.0f}  {other or '-'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--code", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
    print(f"machine: {machine_state()}; backend "
          f"{'postgresql' if args.database_url else 'sqlite'}; {args.seconds:.0f} s")
    dbs = Databases(work, PARTIES, args.database_url, args.code)
    try:
        server = Server(dbs.fresh(), work, dbs.env, CONFIG).start()
        try:
            asyncio.run(run(server, dbs.tokens, args.seconds))
        finally:
            server.stop()
    finally:
        dbs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
