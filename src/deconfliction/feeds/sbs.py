"""BaseStation/SBS-1 text feed: the port-30003 output of dump1090 and readsb.

One record per line, 22 comma-separated fields, CRLF-terminated::

    MSG,3,1,1,4CA2D6,1,2008/11/28,14:53:50.594,2008/11/28,14:53:50.594,,37000,,,51.45735,-1.02826,,,0,0,0,0

 1 message type (MSG, SEL, ID, AIR, STA, CLK)   12 altitude, ft (pressure altitude, 1013.25 hPa)
 2 transmission type 1-8 (MSG only)             13 ground speed, kt
 3 session id · 4 aircraft id · 6 flight id      14 track, degrees true
 5 hex ident (ICAO 24-bit address)               15, 16 latitude, longitude, degrees WGS 84
 7, 8 date and time the message was generated    17 vertical rate, ft/min
 9, 10 date and time it was logged               18 squawk · 19 alert · 20 emergency · 21 SPI
 11 callsign                                     22 on ground (flags: -1 true, 0 false)

Transmission types: 1 identification (callsign), 2 surface position, 3 airborne position,
4 airborne velocity, 5 surveillance altitude, 6 surveillance identity (squawk), 7 air-to-air,
8 all-call reply. Reference: the "Barebones42 socket data" description of the SBS-1 protocol
(woodair.net) and ``modesSendSBSOutput`` in dump1090's and readsb's ``net_io.c``.

Dialect notes (from those writers):

- readsb started with ``--gnss`` suffixes geometric altitudes and vertical rates with ``H``;
  the parser accepts it and records it in ``altitude_geometric``/``vertical_rate_geometric``.
- dump1090-fa marks non-ICAO (TIS-B/anonymous) addresses with a leading ``~``; it is kept in
  ``icao24`` so such an address never merges with a real ICAO address.
- An empty line is dump1090-fa's heartbeat (``send_sbs_heartbeat``); it is not an error.
- Times carry no zone. This module assumes UTC. readsb writes the generated time in UTC by
  default; dump1090 (antirez, mutability, FlightAware) writes local time, so run it with
  ``TZ=UTC``.

Layers: ``parse_line``/``parse_line_strict`` turn text into ``SbsMessage`` (feed units, as on
the wire); ``StateAssembler`` merges messages per aircraft into ``StateVector`` (SI units);
``format_msg1/3/4`` do the reverse, for tests and fake servers; ``read_sbs`` is the asyncio
client that ties them to a TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from deconfliction.feeds import (
    FPM_TO_MPS,
    FT_TO_M,
    KT_TO_MPS,
    Degrees,
    Metres,
    MetresPerSecond,
    Seconds,
)

__all__ = [
    "SbsParseError",
    "SbsMessage",
    "StateVector",
    "StateAssembler",
    "SbsFeedStats",
    "parse_line",
    "parse_line_strict",
    "format_msg1",
    "format_msg3",
    "format_msg4",
    "backoff_delay",
    "read_sbs",
]

logger = logging.getLogger(__name__)

FIELD_COUNT = 22
# Header (fields 1-10) is the least a MSG line must carry; trailing empty fields may be cut.
MIN_FIELD_COUNT = 10
NON_MSG_TYPES = frozenset({"SEL", "ID", "AIR", "STA", "CLK"})
GEOMETRIC_SUFFIX = "H"  # readsb --gnss

TT_IDENTIFICATION = 1
TT_SURFACE_POSITION = 2
TT_AIRBORNE_POSITION = 3
TT_AIRBORNE_VELOCITY = 4
TT_SURVEILLANCE_ALTITUDE = 5
TT_SURVEILLANCE_ID = 6
TT_AIR_TO_AIR = 7
TT_ALL_CALL = 8

DEFAULT_MAX_VELOCITY_AGE_S = 10.0
DEFAULT_MAX_ALTITUDE_AGE_S = 10.0
DEFAULT_STALE_AFTER_S = 60.0
SWEEP_INTERVAL_S = 1.0  # feed time between sweeps of stale aircraft

# dump1090-fa sends an empty line every 60 s on an idle SBS connection (net-heartbeat);
# twice that without a single byte means the connection is dead (half-open).
DEFAULT_IDLE_TIMEOUT_S = 120.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0

_HEX_IDENT = re.compile(r"~?[0-9A-Fa-f]{6}")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_SECONDS_PER_DAY = 86_400


class SbsParseError(ValueError):
    """A line that claims to be SBS but cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class SbsMessage:
    """One MSG record as sent, in the feed's own units (ft, kt, ft/min).

    ``time_generated`` is UTC seconds since the epoch (see the module notes on time zones).
    Absent fields are ``None``.
    """

    transmission_type: int
    session_id: str
    aircraft_id: str
    icao24: str
    flight_id: str
    time_generated: Seconds
    time_logged: Seconds | None
    callsign: str | None = None
    altitude_ft: float | None = None
    altitude_geometric: bool = False
    ground_speed_kt: float | None = None
    track_deg: Degrees | None = None
    lat: Degrees | None = None
    lon: Degrees | None = None
    vertical_rate_fpm: float | None = None
    vertical_rate_geometric: bool = False
    squawk: str | None = None
    alert: bool | None = None
    emergency: bool | None = None
    spi: bool | None = None
    on_ground: bool | None = None


@dataclass(frozen=True, slots=True)
class StateVector:
    """A complete state of one aircraft at one time, in SI units.

    ``altitude_m`` is what the feed reports: pressure altitude (1013.25 hPa datum) from
    dump1090 and from readsb by default. ``track_deg`` is true track over ground, [0, 360).
    """

    icao24: str
    callsign: str | None
    time: Seconds
    lat: Degrees
    lon: Degrees
    altitude_m: Metres
    ground_speed_mps: MetresPerSecond
    track_deg: Degrees
    vertical_rate_mps: MetresPerSecond
    on_ground: bool


# --------------------------------------------------------------------------------------------
# Parsing


def parse_line(line: str) -> SbsMessage | None:
    """Parse one feed line; ``None`` for non-MSG records, heartbeats and garbage.

    Never raises on feed content: a live feed must survive any byte sequence. Use
    ``parse_line_strict`` to learn why a line was rejected.
    """
    try:
        return parse_line_strict(line)
    except SbsParseError:
        return None


def parse_line_strict(line: str) -> SbsMessage | None:
    """Parse one feed line; ``None`` for SEL/ID/AIR/STA/CLK records and empty lines.

    Raises ``SbsParseError`` (with the reason) for anything else that is not a valid MSG
    record: unknown record type, too few fields, bad hex ident, transmission type outside 1-8,
    unreadable date/time, non-numeric or out-of-range numbers, half a position.
    """
    text = line.strip()
    if not text:
        return None
    fields = text.split(",")
    kind = fields[0].strip()
    if kind in NON_MSG_TYPES:
        return None
    if kind != "MSG":
        raise SbsParseError(f"unknown record type {kind[:16]!r}")
    if len(fields) < MIN_FIELD_COUNT:
        raise SbsParseError(f"{len(fields)} fields, at least {MIN_FIELD_COUNT} expected")
    fields = [f.strip() for f in fields[:FIELD_COUNT]]
    fields += [""] * (FIELD_COUNT - len(fields))

    transmission_type = _int_in(fields[1], "transmission type", 1, 8)
    if not _HEX_IDENT.fullmatch(fields[4]):
        raise SbsParseError(f"bad hex ident {fields[4][:16]!r}")
    generated = _time_or_none(fields[6], fields[7], "generated")
    logged = _time_or_none(fields[8], fields[9], "logged")
    if generated is None:
        generated = logged
    if generated is None:
        raise SbsParseError("no generated or logged date/time")

    altitude_ft, altitude_geometric = _number_h(fields[11], "altitude")
    vertical_rate_fpm, vertical_rate_geometric = _number_h(fields[16], "vertical rate")
    ground_speed_kt = _number(fields[12], "ground speed", 0.0, math.inf)
    track = _number(fields[13], "track", 0.0, 360.0)
    lat = _number(fields[14], "latitude", -90.0, 90.0)
    lon = _number(fields[15], "longitude", -180.0, 180.0)
    if (lat is None) != (lon is None):
        raise SbsParseError("latitude without longitude or the reverse")

    return SbsMessage(
        transmission_type=transmission_type,
        session_id=fields[2],
        aircraft_id=fields[3],
        icao24=fields[4].lower(),
        flight_id=fields[5],
        time_generated=generated,
        time_logged=logged,
        callsign=fields[10] or None,
        altitude_ft=altitude_ft,
        altitude_geometric=altitude_geometric,
        ground_speed_kt=ground_speed_kt,
        track_deg=track,
        lat=lat,
        lon=lon,
        vertical_rate_fpm=vertical_rate_fpm,
        vertical_rate_geometric=vertical_rate_geometric,
        squawk=fields[17] or None,
        alert=_flag(fields[18]),
        emergency=_flag(fields[19]),
        spi=_flag(fields[20]),
        on_ground=_flag(fields[21]),
    )


def _int_in(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SbsParseError(f"{name} {text[:16]!r} is not an integer") from None
    if not low <= value <= high:
        raise SbsParseError(f"{name} {value} outside {low}..{high}")
    return value


def _number(text: str, name: str, low: float, high: float) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SbsParseError(f"{name} {text[:16]!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise SbsParseError(f"{name} {value} outside [{low}, {high}]")
    return value


def _number_h(text: str, name: str) -> tuple[float | None, bool]:
    """A finite number, optionally suffixed ``H`` (geometric, readsb --gnss)."""
    geometric = text.endswith(GEOMETRIC_SUFFIX)
    if geometric:
        text = text[:-1]
    return _number(text, name, -math.inf, math.inf) if text else None, geometric


def _flag(text: str) -> bool | None:
    """SBS flags are -1 (true) or 0 (false); readsb reuses fields 19-20 for MLAT counts, so
    any other value reads as unknown rather than as an error."""
    if text in ("-1", "1"):
        return True
    if text == "0":
        return False
    return None


def _time_or_none(date_text: str, time_text: str, name: str) -> float | None:
    """``YYYY/MM/DD`` and ``HH:MM:SS.fff`` read as UTC, to seconds since the epoch."""
    if not date_text and not time_text:
        return None
    try:
        year, month, day = (int(p) for p in date_text.replace("-", "/").split("/"))
        hours_text, minutes_text, seconds_text = time_text.split(":")
        days = dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
        hours, minutes, seconds = int(hours_text), int(minutes_text), float(seconds_text)
    except (ValueError, OverflowError):
        raise SbsParseError(f"{name} date/time {date_text[:12]!r} {time_text[:16]!r}") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0.0 <= seconds < 61.0):
        raise SbsParseError(f"{name} time {time_text[:16]!r} out of range")
    return days * _SECONDS_PER_DAY + hours * 3600 + minutes * 60 + seconds


# --------------------------------------------------------------------------------------------
# Assembly


@dataclass(slots=True)
class _Partial:
    """What is known of one aircraft so far (private, mutated in place by the assembler)."""

    last_seen: float
    callsign: str | None = None
    altitude_ft: float | None = None
    altitude_time: float = -math.inf
    ground_speed_kt: float = 0.0
    track_deg: float = 0.0
    vertical_rate_fpm: float = 0.0
    velocity_time: float | None = None
    on_ground: bool | None = None
    position_time: float = -math.inf


class StateAssembler:
    """Merges SBS messages per aircraft into complete ``StateVector`` s.

    Position comes from MSG,3 (airborne position), velocity from any message carrying ground
    speed, track and vertical rate together (MSG,4), altitude from any message carrying it
    (MSG,3/5/6/7), callsign from any message carrying it (MSG,1). ``feed`` returns a state
    when a new position arrives, an altitude is known, and velocity and altitude are each no
    more than their max age away from the position's time. Surface positions (MSG,2) carry no
    altitude and are not turned into states.

    Pure: no I/O, no clock. "Now" is the latest message time seen; an aircraft silent for
    ``stale_after_s`` of feed time is forgotten (callsign included). Positions older than the
    aircraft's last position are ignored, so states never go back in time.
    """

    def __init__(
        self,
        *,
        max_velocity_age_s: float = DEFAULT_MAX_VELOCITY_AGE_S,
        max_altitude_age_s: float = DEFAULT_MAX_ALTITUDE_AGE_S,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
    ) -> None:
        if min(max_velocity_age_s, max_altitude_age_s, stale_after_s) < 0:
            raise ValueError("ages must be non-negative")
        self._max_velocity_age = max_velocity_age_s
        self._max_altitude_age = max_altitude_age_s
        self._stale_after = stale_after_s
        self._aircraft: dict[str, _Partial] = {}
        self._now = -math.inf
        self._last_sweep = -math.inf

    def __len__(self) -> int:
        """Number of aircraft with partial state."""
        return len(self._aircraft)

    def __contains__(self, icao24: object) -> bool:
        return icao24 in self._aircraft

    @property
    def now(self) -> float:
        """Latest message time seen (feed time), -inf before the first message."""
        return self._now

    def feed(self, msg: SbsMessage) -> StateVector | None:
        """Take one message in; return a complete state if this message completes one."""
        t = msg.time_generated
        if t > self._now:
            self._now = t
            if t - self._last_sweep >= SWEEP_INTERVAL_S:
                self.expire(t)
                self._last_sweep = t

        p = self._aircraft.get(msg.icao24)
        if p is None or t - p.last_seen > self._stale_after:
            p = self._aircraft[msg.icao24] = _Partial(last_seen=t)
        p.last_seen = max(p.last_seen, t)

        if msg.callsign:
            p.callsign = msg.callsign
        if msg.on_ground is not None:
            p.on_ground = msg.on_ground
        if msg.altitude_ft is not None and t >= p.altitude_time:
            p.altitude_ft, p.altitude_time = msg.altitude_ft, t
        if (
            msg.ground_speed_kt is not None
            and msg.track_deg is not None
            and msg.vertical_rate_fpm is not None
            and (p.velocity_time is None or t >= p.velocity_time)
        ):
            p.ground_speed_kt = msg.ground_speed_kt
            p.track_deg = msg.track_deg
            p.vertical_rate_fpm = msg.vertical_rate_fpm
            p.velocity_time = t

        if msg.transmission_type != TT_AIRBORNE_POSITION or msg.lat is None or msg.lon is None:
            return None
        if t < p.position_time:
            return None
        p.position_time = t
        if p.velocity_time is None or abs(t - p.velocity_time) > self._max_velocity_age:
            return None
        if p.altitude_ft is None or abs(t - p.altitude_time) > self._max_altitude_age:
            return None
        return StateVector(
            icao24=msg.icao24,
            callsign=p.callsign,
            time=t,
            lat=msg.lat,
            lon=msg.lon,
            altitude_m=p.altitude_ft * FT_TO_M,
            ground_speed_mps=p.ground_speed_kt * KT_TO_MPS,
            track_deg=p.track_deg % 360.0,
            vertical_rate_mps=p.vertical_rate_fpm * FPM_TO_MPS,
            on_ground=bool(p.on_ground),
        )

    def expire(self, now: float) -> int:
        """Forget aircraft not heard from for more than ``stale_after_s``; return how many."""
        stale = [k for k, p in self._aircraft.items() if now - p.last_seen > self._stale_after]
        for key in stale:
            del self._aircraft[key]
        return len(stale)


# --------------------------------------------------------------------------------------------
# Formatting (the reverse of parsing, in dump1090's layout)


def format_msg1(state: StateVector) -> str:
    """An identification line (callsign), without line terminator."""
    return _format(TT_IDENTIFICATION, state, {10: state.callsign or ""})


def format_msg3(state: StateVector) -> str:
    """An airborne position line (altitude, lat, lon, flags), without line terminator."""
    return _format(
        TT_AIRBORNE_POSITION,
        state,
        {
            11: str(round(state.altitude_m / FT_TO_M)),
            14: f"{state.lat:.6f}",
            15: f"{state.lon:.6f}",
            18: "0",
            19: "0",
            20: "0",
            21: "-1" if state.on_ground else "0",
        },
    )


def format_msg4(state: StateVector) -> str:
    """An airborne velocity line (ground speed, track, vertical rate), without terminator."""
    return _format(
        TT_AIRBORNE_VELOCITY,
        state,
        {
            12: str(round(state.ground_speed_mps / KT_TO_MPS)),
            13: str(round(state.track_deg) % 360),
            16: str(round(state.vertical_rate_mps / FPM_TO_MPS)),
        },
    )


def _format(transmission_type: int, state: StateVector, values: dict[int, str]) -> str:
    """Whole-unit rounding and 6-decimal positions, as dump1090 prints them."""
    stamp = _format_time(state.time)
    fields = ["MSG", str(transmission_type), "1", "1", state.icao24.upper(), "1", *stamp, *stamp]
    fields += [""] * (FIELD_COUNT - len(fields))
    for index, value in values.items():
        fields[index] = value
    return ",".join(fields)


def _format_time(t: float) -> tuple[str, str]:
    """UTC ``YYYY/MM/DD`` and ``HH:MM:SS.mmm``, rounded to the millisecond."""
    millis = round(t * 1000)
    seconds, ms = divmod(millis, 1000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return stamp.strftime("%Y/%m/%d"), f"{stamp:%H:%M:%S}.{ms:03d}"


# --------------------------------------------------------------------------------------------
# asyncio client


@dataclass(frozen=True, slots=True)
class SbsFeedStats:
    """Counters of one ``read_sbs`` run: what arrived and what was made of it."""

    connections: int = 0
    lines: int = 0
    messages: int = 0
    malformed: int = 0
    states: int = 0


@dataclass(slots=True)
class _Counters:
    connections: int = 0
    lines: int = 0
    messages: int = 0
    malformed: int = 0
    states: int = 0

    def frozen(self) -> SbsFeedStats:
        return SbsFeedStats(
            self.connections, self.lines, self.messages, self.malformed, self.states
        )


OnState = Callable[[StateVector], Awaitable[object] | object]


async def read_sbs(
    host: str,
    port: int,
    *,
    on_state: OnState,
    stop: asyncio.Event,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
    rng: random.Random | None = None,
    assembler: StateAssembler | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT_S,
) -> SbsFeedStats:
    """Read an SBS feed until ``stop`` is set, calling ``on_state`` for each complete state.

    Reconnects whenever the connection cannot be made, drops, or stays silent for
    ``idle_timeout`` seconds, after ``backoff_delay(n, backoff_initial, backoff_max, rng)``
    seconds, ``n`` counting the attempts since the last connection that delivered data.
    Partial state survives reconnections.
    ``on_state`` may be sync or async; its exceptions propagate. Malformed lines are counted
    and logged at DEBUG. Returns the counters of the run.
    """
    rng = rng if rng is not None else random.Random()
    assembler = assembler if assembler is not None else StateAssembler()
    counters = _Counters()
    failures = 0
    while not stop.is_set():
        lines_before = counters.lines
        try:
            await _until_stopped(
                stop,
                _session(
                    host,
                    port,
                    on_state=on_state,
                    assembler=assembler,
                    counters=counters,
                    connect_timeout=connect_timeout,
                    idle_timeout=idle_timeout,
                ),
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            logger.warning("SBS %s:%d: %s: %s", host, port, type(exc).__name__, exc)
        if stop.is_set():
            break
        if counters.lines > lines_before:
            failures = 0
        delay = backoff_delay(failures, backoff_initial, backoff_max, rng)
        failures += 1
        logger.info("SBS %s:%d: reconnecting in %.3f s", host, port, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    stats = counters.frozen()
    logger.info("SBS %s:%d: stopped; %s", host, port, stats)
    return stats


def backoff_delay(failures: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential back-off with jitter: ``min(maximum, initial * 2**failures)`` times a factor
    drawn uniformly from [0.5, 1), so that clients cut off together do not return together."""
    step = maximum if failures >= 64 else min(maximum, initial * 2.0**failures)
    return step * rng.uniform(0.5, 1.0)


async def _until_stopped(stop: asyncio.Event, work: Awaitable[None]) -> None:
    """Run ``work`` until it ends or ``stop`` is set, whichever comes first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()


async def _session(
    host: str,
    port: int,
    *,
    on_state: OnState,
    assembler: StateAssembler,
    counters: _Counters,
    connect_timeout: float,
    idle_timeout: float | None,
) -> None:
    """One connection: read lines until the peer closes it (returns) or it fails (raises)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout)
    counters.connections += 1
    logger.info("SBS %s:%d: connected", host, port)
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout):
                    raw = await reader.readline()
            except ValueError:  # line longer than the stream limit; the stream stays usable
                counters.malformed += 1
                continue
            if not raw:
                logger.info("SBS %s:%d: closed by peer", host, port)
                return
            counters.lines += 1
            if not raw.endswith(b"\n"):  # cut off by EOF: its last field may be truncated
                counters.malformed += 1
                continue
            try:
                msg = parse_line_strict(raw.decode("ascii", errors="replace"))
            except SbsParseError as exc:
                counters.malformed += 1
                logger.debug("SBS %s:%d: skipped line: %s", host, port, exc)
                continue
            if msg is None:
                continue
            counters.messages += 1
            state = assembler.feed(msg)
            if state is None:
                continue
            counters.states += 1
            result = on_state(state)
            if inspect.isawaitable(result):
                await result
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
