"""Feeds into the live pipeline: an SBS feed in real time, or a recording replayed at N×.

Both go through the same service functions as the API (``service.tracks.ingest_feed``) and, for
replays, the same detection cycle (``service.tactical.DetectionCycle``) driven by the
recording's clock instead of the wall clock.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from deconfliction.feeds.opensky_sample import SampleTraffic
from deconfliction.feeds.sbs import StateAssembler, StateVector, parse_line, read_sbs
from deconfliction.model.alert import Encounter
from deconfliction.model.time import rfc3339
from deconfliction.model.track import StateReport
from deconfliction.service.line import Line
from deconfliction.service.tactical import DetectionCycle
from deconfliction.service.tracks import FeedState, ingest_feed

FLUSH_INTERVAL_S = 0.5


def feed_state(s: StateVector) -> FeedState:
    """An SBS state as the tracker takes it (the registry decides which aircraft it is)."""
    return FeedState(s.icao24, s.callsign, StateReport(
        f"icao:{s.icao24}", s.time, s.lat, s.lon, s.altitude_m, s.ground_speed_mps,
        s.track_deg, s.vertical_rate_mps))


async def run_sbs_feed(line: Line, host: str, port: int, stop: asyncio.Event) -> None:
    """Read an SBS feed into the tracker until ``stop``; reconnects with back-off."""
    pending: list[FeedState] = []

    def on_state(state: StateVector) -> None:
        if not state.on_ground:
            pending.append(feed_state(state))

    async def flush() -> None:
        while not stop.is_set() or pending:
            if pending:
                batch = pending[:]
                del pending[:len(batch)]
                done = await ingest_feed(line, batch, line.clock())
                print(f"feed: {done.accepted} states in, {done.ignored} ignored",
                      file=sys.stderr, flush=True)
            try:
                await asyncio.wait_for(stop.wait(), FLUSH_INTERVAL_S)
            except TimeoutError:
                pass

    flusher = asyncio.create_task(flush())
    await read_sbs(host, port, on_state=on_state, stop=stop)
    stop.set()
    await flusher


def states_from_sbs_file(path: Path) -> Iterator[StateVector]:
    """Complete states assembled from an SBS capture file, in file order."""
    assembler = StateAssembler()
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            message = parse_line(line)
            if message is not None:
                state = assembler.feed(message)
                if state is not None:
                    yield state


def states_from_sample(sample: SampleTraffic) -> Iterator[StateVector]:
    """The OpenSky sample's rows as states."""
    for k in range(len(sample)):
        yield StateVector(
            icao24=str(sample.icao24[k]), callsign=str(sample.callsign[k]) or None,
            time=float(sample.time_s[k]), lat=float(sample.lat[k]), lon=float(sample.lon[k]),
            altitude_m=float(sample.altitude_m[k]),
            ground_speed_mps=float(sample.ground_speed_mps[k]),
            track_deg=float(sample.track_deg[k]),
            vertical_rate_mps=float(sample.vertical_rate_mps[k]),
            on_ground=bool(sample.on_ground[k]))


@dataclass(slots=True)
class ReplaySummary:
    """What a replay saw: states fed, cycles run, alerts raised by kind, and each alert."""

    states: int = 0
    cycles: int = 0
    raised: Counter[str] = field(default_factory=Counter)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _progress(out: TextIO, done: float, total: float, summary: ReplaySummary, tracks: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * done / max(total, 1e-9):5.1f}%"
              f"  {tracks:4d} tracks  {sum(summary.raised.values()):5d} alerts raised")
    out.flush()


async def replay(
    line: Line,
    states: Iterable[StateVector],
    *,
    speed: float = 0.0,
    progress: TextIO | None = sys.stderr,
) -> ReplaySummary:
    """Feed time-ordered ``states`` through the tracker and run a detection cycle every
    ``detection_interval_s`` of recording time; ``speed`` × real time (0: as fast as possible).
    """
    ordered: Sequence[StateVector] = sorted(
        (s for s in states if not s.on_ground), key=lambda s: s.time)
    summary = ReplaySummary()
    if not ordered:
        return summary
    cycle = DetectionCycle(line)
    step = line.settings.detection_interval_s or 1.0
    start, end = ordered[0].time, ordered[-1].time
    wall0 = time.monotonic()
    k = 0
    now = start
    while now <= end + step:
        batch = []
        while k < len(ordered) and ordered[k].time <= now:
            batch.append(feed_state(ordered[k]))
            k += 1
        if batch:
            summary.states += (await ingest_feed(line, batch, now)).accepted
        report = await cycle.step(now)
        summary.cycles += 1
        for t in report.transitions:
            key = cast(tuple[str, ...], t.key)  # the cycle's keys are `alert_key` tuples
            entry = summary.alerts.setdefault(t.alert_id, {
                "kind": key[0], "subjects": key[1:], "raised": now, "cleared": None,
                "min_dcpa_m": None, "callsigns": [a.callsign or a.aircraft_id
                                                  for a in t.payload.sides]})
            if t.kind == "raised":
                summary.raised[key[0]] += 1
            if t.kind == "cleared":
                entry["cleared"] = now
            dcpa = t.payload.figures.dcpa_m if isinstance(t.payload, Encounter) else None
            if dcpa is not None:
                held = entry["min_dcpa_m"]
                entry["min_dcpa_m"] = dcpa if held is None else min(held, dcpa)
        if progress is not None and summary.cycles % 20 == 0:
            _progress(progress, now - start, end - start, summary, report.tracks)
        if speed > 0:
            ahead = (now - start) / speed - (time.monotonic() - wall0)
            if ahead > 0:
                await asyncio.sleep(ahead)
        now += step
    if progress is not None:
        _progress(progress, end - start, end - start, summary, 0)
        progress.write("\n")
    return summary


def summary_table(summary: ReplaySummary, *, limit: int = 20) -> str:
    """The replay's alerts as a plain-text table."""
    lines = [f"states fed: {summary.states:,}   detection cycles: {summary.cycles:,}",
             "alerts raised: " + (", ".join(f"{k} {v}" for k, v in sorted(summary.raised.items()))
                                  or "none"), ""]
    if summary.alerts:
        lines.append(f"{'kind':<22} {'aircraft':<28} {'raised (UTC)':<20} {'lasted':>8} "
                     f"{'min miss':>9}")
        ranked = sorted(summary.alerts.values(), key=lambda a: a["raised"])
        for a in ranked[:limit]:
            lasted = "-" if a["cleared"] is None else f"{a['cleared'] - a['raised']:.0f} s"
            miss = "-" if a["min_dcpa_m"] is None else f"{a['min_dcpa_m'] / 1852:.2f} NM"
            who = " / ".join(str(c) for c in a["callsigns"])[:28]
            lines.append(f"{a['kind']:<22} {who:<28} {rfc3339(a['raised'])[:19]:<20} "
                         f"{lasted:>8} {miss:>9}")
        if len(ranked) > limit:
            lines.append(f"... and {len(ranked) - limit} more")
    return "\n".join(lines)
