"""SBS-1 feed: parsing, assembly into states, formatting, and the asyncio client."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import random
import socket
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.feeds import FPM_TO_MPS, FT_TO_M, KT_TO_MPS
from deconfliction.feeds.sbs import (
    SbsMessage,
    SbsParseError,
    StateAssembler,
    StateVector,
    backoff_delay,
    format_msg1,
    format_msg3,
    format_msg4,
    parse_line,
    parse_line_strict,
    read_sbs,
)

# 2021-10-07 12:00:00 UTC
T0 = dt.datetime(2021, 10, 7, 12, 0, 0, tzinfo=dt.UTC).timestamp()


def at(t: float) -> Any:
    """Equal to a time within 1 µs (pytest.approx by default is relative: ~30 min here)."""
    return pytest.approx(t, rel=0.0, abs=1e-6)


def stamp(t: float) -> str:
    """SBS date and time fields, written by hand (independently of the module's formatter)."""
    seconds, millis = divmod(round(t * 1000), 1000)
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return f"{when:%Y/%m/%d},{when:%H:%M:%S}.{millis:03d}"


def header(tt: int, icao: str, second: float) -> str:
    """Fields 1-10 as dump1090 writes them, ``second`` s after T0 (logged 20 ms later)."""
    return f"MSG,{tt},1,1,{icao},1,{stamp(T0 + second)},{stamp(T0 + second + 0.02)}"


def msg1(icao: str, second: float, callsign: str) -> str:
    return header(1, icao, second) + f",{callsign},,,,,,,,,,,\r\n"


def msg3(icao: str, second: float, alt_ft: str, lat: str, lon: str) -> str:
    return header(3, icao, second) + f",,{alt_ft},,,{lat},{lon},,,0,0,0,0\r\n"


def msg4(icao: str, second: float, gs_kt: str, track: str, vr_fpm: str) -> str:
    return header(4, icao, second) + f",,,{gs_kt},{track},,,{vr_fpm},,,,,0\r\n"


def msg5(icao: str, second: float, alt_ft: str) -> str:
    return header(5, icao, second) + f",,{alt_ft},,,,,,,0,,0,0\r\n"


def feed_lines(assembler: StateAssembler, *lines: str) -> list[StateVector | None]:
    out = []
    for line in lines:
        msg = parse_line_strict(line)
        assert msg is not None, line
        out.append(assembler.feed(msg))
    return out


# --------------------------------------------------------------------------------- parsing


def test_parse_airborne_position_as_dump1090_writes_it() -> None:
    msg = parse_line(msg3("4CA2D6", 1.5, "37000", "51.457350", "-1.028260"))
    assert msg == SbsMessage(
        transmission_type=3,
        session_id="1",
        aircraft_id="1",
        icao24="4ca2d6",
        flight_id="1",
        time_generated=T0 + 1.5,
        time_logged=at(T0 + 1.52),
        altitude_ft=37000.0,
        lat=51.45735,
        lon=-1.02826,
        alert=False,
        emergency=False,
        spi=False,
        on_ground=False,
    )


def test_parse_velocity_identification_and_surveillance() -> None:
    velocity = parse_line(msg4("4010E9", 2.0, "459", "20", "-2432"))
    assert velocity is not None
    assert (velocity.ground_speed_kt, velocity.track_deg, velocity.vertical_rate_fpm) == (
        459.0,
        20.0,
        -2432.0,
    )
    assert velocity.lat is None and velocity.altitude_ft is None and velocity.alert is None

    ident = parse_line(msg1("7404F2", 3.0, "RJA1118 "))
    assert ident is not None and ident.callsign == "RJA1118"

    surveillance = parse_line(
        "MSG,6,1,1,4CA215,1,2021/10/07,12:00:04.000,2021/10/07,12:00:04.000,,33325,,,,,,7700,0,-1,0,0"
    )
    assert surveillance is not None
    assert surveillance.squawk == "7700" and surveillance.emergency is True
    assert surveillance.altitude_ft == 33325.0


def test_parse_basestation_lines_from_the_protocol_description() -> None:
    """Lines in the original BaseStation dialect (other session/aircraft/flight ids, decimals,
    fewer trailing fields)."""
    lines = [
        "MSG,4,5,211,4CA2D6,10057,2008/11/28,14:53:49.986,2008/11/28,14:58:51.153,,,408.3,146.4,,,64,,,,,",
        "MSG,8,5,211,4CA2D6,10057,2008/11/28,14:53:50.391,2008/11/28,14:58:51.153,,,,,,,,,,,,0",
        "MSG,3,5,211,4CA2D6,10057,2008/11/28,14:53:50.594,2008/11/28,14:58:51.153,,37000,,,51.45735,-1.02826,,,0,0,0,0",
        "MSG,1,145,256,7404F2,11267,2008/11/28,23:48:18.611,2008/11/28,23:53:19.161,RJA1118,,,,,,,,,,,",
        "MSG,7,496,742,51106E,27929,2011/03/06,07:57:36.523,2011/03/06,07:57:37.054,,3775,,,,,,,,,,0",
    ]
    msgs = [parse_line_strict(line) for line in lines]
    assert all(m is not None for m in msgs)
    assert msgs[0] is not None and msgs[0].ground_speed_kt == 408.3 and msgs[0].session_id == "5"
    assert msgs[2] is not None
    assert msgs[2].time_generated == at(
        dt.datetime(2008, 11, 28, 14, 53, 50, 594000, tzinfo=dt.UTC).timestamp()
    )
    assert msgs[4] is not None and msgs[4].transmission_type == 7


def test_parse_readsb_dialect_geometric_suffix_and_non_icao_address() -> None:
    line = (
        "MSG,3,1,1,~A1B2C3,1,2021/10/07,12:00:05.000,2021/10/07,12:00:05.000,"
        ",38125H,,,48.1,2.2,-64H,,,,,0"
    )
    msg = parse_line_strict(line)
    assert msg is not None
    assert msg.icao24 == "~a1b2c3"
    assert (msg.altitude_ft, msg.altitude_geometric) == (38125.0, True)
    assert (msg.vertical_rate_fpm, msg.vertical_rate_geometric) == (-64.0, True)
    # readsb puts MLAT receiver counts in fields 19-20: unknown flags, not an error.
    mlat = parse_line_strict(line.replace(",,,,,0", ",,,7,12,,0"))
    assert mlat is not None and mlat.alert is None and mlat.emergency is None


@pytest.mark.parametrize(
    "line",
    [
        "SEL,,496,2286,4CA4E5,27215,2010/02/19,18:06:07.710,2010/02/19,18:06:07.710,RYR1427",
        "ID,,496,7162,405637,27928,2010/02/19,18:06:07.115,2010/02/19,18:06:07.115,EZY691A",
        "AIR,,496,5906,400F01,27931,2010/02/19,18:06:07.128,2010/02/19,18:06:07.128",
        "STA,,5,179,400AE7,10103,2008/11/28,14:58:51.153,2008/11/28,14:58:51.153,RM",
        "CLK,,496,-1,,-1,2010/02/19,18:18:19.036,2010/02/19,18:18:19.036",
        "\r\n",  # dump1090-fa heartbeat
        "",
    ],
)
def test_non_msg_records_and_heartbeats_are_none_not_errors(line: str) -> None:
    assert parse_line_strict(line) is None
    assert parse_line(line) is None


GOOD_MSG3 = msg3("4CA2D6", 1.0, "37000", "51.457350", "-1.028260").strip()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("hello world", "unknown record type"),
        ("\x00\xff\xfe,,,", "unknown record type"),
        ("MSG,3,1,1,4CA2D6", "fields"),
        (GOOD_MSG3.replace("MSG,3,", "MSG,9,"), "transmission type 9"),
        (GOOD_MSG3.replace("MSG,3,", "MSG,x,"), "transmission type"),
        (GOOD_MSG3.replace("4CA2D6", "4CA2D"), "hex ident"),
        (GOOD_MSG3.replace("4CA2D6", "ZZZZZZ"), "hex ident"),
        (GOOD_MSG3.replace("2021/10/07", "2021/13/07"), "date/time"),
        (GOOD_MSG3.replace("12:00:01.000", "25:00:01.000"), "out of range"),
        (GOOD_MSG3.replace("12:00:01.000", "noon"), "date/time"),
        (GOOD_MSG3.replace(",2021/10/07,12:00:01.000,2021/10/07,12:00:01.020,", ",,,,,"), "no "),
        (GOOD_MSG3.replace("37000", "FL370"), "altitude"),
        (GOOD_MSG3.replace("37000", "nan"), "altitude"),
        (GOOD_MSG3.replace("51.457350", "91.0"), "latitude"),
        (GOOD_MSG3.replace("-1.028260", "-181.5"), "longitude"),
        (GOOD_MSG3.replace("-1.028260", ""), "latitude without longitude"),
        (msg4("4CA2D6", 1.0, "450", "400", "0").strip(), "track"),
        (msg4("4CA2D6", 1.0, "-3", "90", "0").strip(), "ground speed"),
        (GOOD_MSG3[: len(GOOD_MSG3) // 2], "fields"),
    ],
)
def test_malformed_lines_are_none_and_strict_says_why(line: str, reason: str) -> None:
    assert parse_line(line) is None
    with pytest.raises(SbsParseError, match=reason):
        parse_line_strict(line)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 24), st.text(max_size=12)), max_size=4),
    st.sampled_from([GOOD_MSG3, msg4("4CA2D6", 1.0, "450", "90", "-64").strip()]),
)
def test_parse_line_never_raises_on_damaged_lines(edits: list[tuple[int, str]], line: str) -> None:
    fields = line.split(",")
    for index, text in edits:
        if index < len(fields):
            fields[index] = text
        else:
            fields.append(text)
    damaged = ",".join(fields)
    msg = parse_line(damaged)
    if msg is not None:
        assert msg == parse_line_strict(damaged)
        for value in (msg.altitude_ft, msg.ground_speed_kt, msg.vertical_rate_fpm, msg.lat):
            assert value is None or math.isfinite(value)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("37000", "1e999", "altitude inf"),
        ("37000", "-inf", "altitude -inf"),
        ("-1.028260,,", "-1.028260,1e400,", "vertical rate inf"),
        ("2021/10/07,12:00:01.000", "99999999999999999999/1/1,12:00:01.000", "date/time"),
    ],
)
def test_infinite_or_overflowing_numbers_are_malformed(old: str, new: str, reason: str) -> None:
    with pytest.raises(SbsParseError, match=reason):
        parse_line_strict(GOOD_MSG3.replace(old, new))


def test_generated_time_falls_back_to_logged_time() -> None:
    line = GOOD_MSG3.replace(",2021/10/07,12:00:01.000,", ",,,")
    msg = parse_line_strict(line)
    assert msg is not None and msg.time_generated == at(T0 + 1.02)


# -------------------------------------------------------------------------------- assembly


def test_assembly_identification_velocity_position() -> None:
    assembler = StateAssembler()
    out = feed_lines(
        assembler,
        msg1("4CA2D6", 0.0, "RYR1427"),
        msg4("4CA2D6", 0.5, "450", "90", "-832"),
        msg3("4CA2D6", 1.0, "37000", "51.457350", "-1.028260"),
    )
    assert out[:2] == [None, None]
    assert out[2] == StateVector(
        icao24="4ca2d6",
        callsign="RYR1427",
        time=T0 + 1.0,
        lat=51.45735,
        lon=-1.02826,
        altitude_m=37000 * FT_TO_M,
        ground_speed_mps=450 * KT_TO_MPS,
        track_deg=90.0,
        vertical_rate_mps=-832 * FPM_TO_MPS,
        on_ground=False,
    )
    state = out[2]
    assert state.altitude_m == pytest.approx(11277.6)
    assert state.ground_speed_mps == pytest.approx(231.5)
    assert state.vertical_rate_mps == pytest.approx(-4.22656)


def test_assembly_position_first_waits_for_velocity_callsign_comes_later() -> None:
    assembler = StateAssembler()
    out = feed_lines(
        assembler,
        msg3("4CA2D6", 0.0, "37000", "51.45", "-1.02"),  # no velocity yet
        msg4("4CA2D6", 0.4, "450", "90", "0"),
        msg3("4CA2D6", 0.9, "37025", "51.46", "-1.01"),
        msg1("4CA2D6", 1.2, "BAW12"),
        msg3("4CA2D6", 1.5, "37050", "51.47", "-1.00"),
    )
    assert out[0] is None and out[1] is None and out[3] is None
    first, second = out[2], out[4]
    assert first is not None and first.callsign is None
    assert first.altitude_m == pytest.approx(37025 * 0.3048)
    assert second is not None and second.callsign == "BAW12" and second.lat == 51.47


def test_assembly_keeps_aircraft_apart() -> None:
    assembler = StateAssembler()
    out = feed_lines(
        assembler,
        msg4("AAAAAA", 0.0, "100", "10", "0"),
        msg4("BBBBBB", 0.1, "200", "20", "0"),
        msg3("AAAAAA", 0.2, "1000", "48.0", "2.0"),
        msg3("BBBBBB", 0.3, "2000", "49.0", "3.0"),
    )
    a, b = out[2], out[3]
    assert a is not None and b is not None
    assert (a.icao24, a.track_deg, a.altitude_m) == ("aaaaaa", 10.0, 1000 * FT_TO_M)
    assert (b.icao24, b.track_deg, b.altitude_m) == ("bbbbbb", 20.0, 2000 * FT_TO_M)
    assert len(assembler) == 2


def test_velocity_older_than_max_age_is_not_used() -> None:
    lines = (msg4("4CA2D6", 0.0, "450", "90", "0"), msg5("4CA2D6", 10.5, "37000"))
    late = msg3("4CA2D6", 10.5, "37000", "51.45", "-1.02")
    assert feed_lines(StateAssembler(), *lines, late)[-1] is None
    lenient = StateAssembler(max_velocity_age_s=20.0)
    assert feed_lines(lenient, *lines, late)[-1] is not None


def test_altitude_from_surveillance_reply_when_position_has_none() -> None:
    assembler = StateAssembler()
    out = feed_lines(
        assembler,
        msg4("4CA2D6", 0.0, "450", "90", "0"),
        msg3("4CA2D6", 0.5, "", "51.45", "-1.02"),  # no altitude known at all
        msg5("4CA2D6", 1.0, "12000"),
        msg3("4CA2D6", 1.5, "", "51.46", "-1.01"),
    )
    assert out[1] is None
    assert out[3] is not None and out[3].altitude_m == pytest.approx(12000 * 0.3048)
    stale_alt = StateAssembler(max_altitude_age_s=0.2)
    out = feed_lines(
        stale_alt,
        msg4("4CA2D6", 0.0, "450", "90", "0"),
        msg5("4CA2D6", 1.0, "12000"),
        msg3("4CA2D6", 1.5, "", "51.46", "-1.01"),
    )
    assert out[-1] is None


def test_stale_aircraft_are_dropped_with_their_callsign() -> None:
    assembler = StateAssembler(stale_after_s=60.0)
    feed_lines(assembler, msg1("AAAAAA", 0.0, "OLD1"), msg4("AAAAAA", 0.0, "100", "10", "0"))
    feed_lines(assembler, msg4("BBBBBB", 30.0, "100", "10", "0"))
    assert len(assembler) == 2
    feed_lines(assembler, msg4("BBBBBB", 59.0, "100", "10", "0"))  # 60 s: still kept (not >)
    assert "aaaaaa" in assembler
    # 61 s of feed time after AAAAAA was last heard from: swept away by someone else's message.
    feed_lines(assembler, msg4("BBBBBB", 61.0, "100", "10", "0"))
    assert "aaaaaa" not in assembler and len(assembler) == 1
    assert assembler.expire(assembler.now + 61.0) == 1
    assert len(assembler) == 0


def test_gap_longer_than_stale_time_starts_afresh() -> None:
    """No callsign or velocity survives a silence longer than the stale time, even when no
    sweep happened in between (a single-aircraft feed)."""
    assembler = StateAssembler(stale_after_s=5.0, max_velocity_age_s=100.0)
    out = feed_lines(
        assembler,
        msg1("AAAAAA", 0.0, "OLD1"),
        msg4("AAAAAA", 0.0, "100", "10", "0"),
        msg3("AAAAAA", 6.0, "1000", "48.0", "2.0"),  # 6 s later: velocity forgotten
        msg4("AAAAAA", 6.5, "100", "10", "0"),
        msg3("AAAAAA", 7.0, "1000", "48.0", "2.0"),
    )
    assert out[2] is None
    assert out[4] is not None and out[4].callsign is None


def test_positions_never_go_back_in_time() -> None:
    assembler = StateAssembler()
    out = feed_lines(
        assembler,
        msg4("AAAAAA", 0.0, "100", "10", "0"),
        msg3("AAAAAA", 2.0, "1000", "48.0", "2.0"),
        msg3("AAAAAA", 1.0, "1000", "47.9", "2.0"),  # late arrival from a merged feed
    )
    assert out[1] is not None and out[2] is None


def test_on_ground_flag_and_track_normalisation() -> None:
    assembler = StateAssembler()
    ground = msg3("AAAAAA", 1.0, "100", "48.0", "2.0").replace(",0,0,0,0\r\n", ",0,0,0,-1\r\n")
    out = feed_lines(assembler, msg4("AAAAAA", 0.0, "10", "360", "0"), ground)
    assert out[1] is not None and out[1].on_ground is True and out[1].track_deg == 0.0


def test_unit_constants() -> None:
    assert FT_TO_M == 0.3048
    assert KT_TO_MPS == pytest.approx(0.514444, abs=1e-6)
    assert FPM_TO_MPS == pytest.approx(0.00508)
    assert 1000 * FT_TO_M / 60 == pytest.approx(1000 * FPM_TO_MPS)


# ------------------------------------------------------------------------------ formatting


def test_format_lines_match_dump1090_layout() -> None:
    state = StateVector(
        icao24="4ca2d6",
        callsign="RYR1427",
        time=T0 + 1.5,
        lat=51.45735,
        lon=-1.02826,
        altitude_m=37000 * FT_TO_M,
        ground_speed_mps=450 * KT_TO_MPS,
        track_deg=89.6,
        vertical_rate_mps=-832 * FPM_TO_MPS,
        on_ground=False,
    )
    stamp = "2021/10/07,12:00:01.500,2021/10/07,12:00:01.500"
    assert format_msg3(state) == (
        f"MSG,3,1,1,4CA2D6,1,{stamp},,37000,,,51.457350,-1.028260,,,0,0,0,0"
    )
    assert format_msg4(state) == f"MSG,4,1,1,4CA2D6,1,{stamp},,,450,90,,,-832,,,,,"
    assert format_msg1(state) == f"MSG,1,1,1,4CA2D6,1,{stamp},RYR1427,,,,,,,,,,,"
    assert all(len(f(state).split(",")) == 22 for f in (format_msg1, format_msg3, format_msg4))


states = st.builds(
    StateVector,
    icao24=st.from_regex(r"[0-9a-f]{6}", fullmatch=True),
    callsign=st.from_regex(r"[A-Z][A-Z0-9]{0,7}", fullmatch=True),
    time=st.floats(1.5e9, 2.0e9),
    lat=st.floats(-90.0, 90.0),
    lon=st.floats(-180.0, 180.0),
    altitude_m=st.floats(-500.0, 25_000.0),
    ground_speed_mps=st.floats(0.0, 400.0),
    track_deg=st.floats(0.0, 360.0, exclude_max=True),
    vertical_rate_mps=st.floats(-60.0, 60.0),
    on_ground=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(states)
def test_round_trip_format_parse_assemble(state: StateVector) -> None:
    """Equal up to the feed's resolution: 1 ms, 1e-6 degree, 1 ft, 1 kt, 1 degree, 1 ft/min."""
    assembler = StateAssembler()
    out = feed_lines(assembler, format_msg1(state), format_msg4(state), format_msg3(state))
    got = out[-1]
    assert got is not None
    eps = 1e-9
    assert got.icao24 == state.icao24 and got.callsign == state.callsign
    assert got.on_ground == state.on_ground
    assert abs(got.time - state.time) <= 0.0005 + 1e-6
    assert abs(got.lat - state.lat) <= 5e-7 + eps
    assert abs(got.lon - state.lon) <= 5e-7 + eps
    assert abs(got.altitude_m - state.altitude_m) <= 0.5 * FT_TO_M + eps
    assert abs(got.ground_speed_mps - state.ground_speed_mps) <= 0.5 * KT_TO_MPS + eps
    track_error = abs((got.track_deg - state.track_deg + 180.0) % 360.0 - 180.0)
    assert track_error <= 0.5 + eps
    assert abs(got.vertical_rate_mps - state.vertical_rate_mps) <= 0.5 * FPM_TO_MPS + eps


# ---------------------------------------------------------------------------- asyncio client


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def state_at(second: float, lat: float) -> StateVector:
    return StateVector(
        icao24="4ca2d6",
        callsign="RYR1427",
        time=T0 + second,
        lat=lat,
        lon=2.0,
        altitude_m=10_000.0,
        ground_speed_mps=200.0,
        track_deg=45.0,
        vertical_rate_mps=0.0,
        on_ground=False,
    )


def test_client_reads_states_and_reconnects_after_the_server_closes() -> None:
    first, second = state_at(1.0, 48.0), state_at(2.0, 48.1)
    sessions = [
        # Session 1: real-feed noise around one complete state, then the server hangs up.
        [
            "STA,,5,179,400AE7,10103,2008/11/28,14:58:51.153,2008/11/28,14:58:51.153,RM",
            format_msg1(first),
            "complete garbage",
            "",
            format_msg4(first),
            format_msg3(first),
        ],
        # Session 2: no callsign line; the assembler's state survived the reconnection.
        [format_msg4(second), format_msg3(second)],
    ]

    async def scenario() -> tuple[list[StateVector], Any, int]:
        accepted = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            lines = sessions[accepted] if accepted < len(sessions) else []
            accepted += 1
            writer.write("".join(line + "\r\n" for line in lines).encode("ascii"))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        got: list[StateVector] = []
        stop = asyncio.Event()

        async def on_state(state: StateVector) -> None:
            got.append(state)
            if len(got) == 2:
                stop.set()

        async with server:
            stats = await read_sbs(
                "127.0.0.1",
                port,
                on_state=on_state,
                stop=stop,
                backoff_initial=0.01,
                backoff_max=0.05,
                rng=random.Random(7),
            )
        return got, stats, accepted

    got, stats, accepted = run(scenario())
    assert [(s.time, s.lat, s.callsign) for s in got] == [
        (at(first.time), 48.0, "RYR1427"),
        (at(second.time), 48.1, "RYR1427"),
    ]
    assert accepted >= 2 and stats.connections >= 2
    assert stats.states == 2 and stats.malformed == 1
    assert stats.messages == 5  # 3 + 2 MSG lines; STA and the heartbeat are not messages


def test_client_backs_off_while_refused_and_stops_promptly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    calls: list[StateVector] = []

    async def scenario() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, stop.set)
        started = loop.time()
        stats = await read_sbs(
            "127.0.0.1",
            port,
            on_state=calls.append,
            stop=stop,
            backoff_initial=0.02,
            backoff_max=0.08,
            rng=random.Random(1),
        )
        return stats, loop.time() - started

    with caplog.at_level(logging.INFO, logger="deconfliction.feeds.sbs"):
        stats, elapsed = run(scenario())
    retries = [r for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert stats.connections == 0 and calls == []
    assert len(retries) >= 3 and elapsed < 1.0


def test_backoff_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(10)]
    steps = [min(30.0, 0.5 * 2**n) for n in range(10)]
    assert all(0.5 * s <= d < s for d, s in zip(delays, steps, strict=True))
    assert backoff_delay(10_000, 0.5, 30.0, rng) < 30.0  # no overflow after a long outage
    again = random.Random(3)
    assert delays == [backoff_delay(n, 0.5, 30.0, again) for n in range(10)]


def test_client_accepts_a_sync_callback_and_survives_an_overlong_line() -> None:
    state = state_at(1.0, 48.0)

    async def scenario() -> tuple[list[StateVector], Any]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"MSG," + b"9" * 100_000 + b"\r\n")  # over the 64 KiB line limit
            for line in (format_msg4(state), format_msg3(state)):
                writer.write(line.encode("ascii") + b"\r\n")
            await writer.drain()
            await reader.read()  # keep the connection open until the client leaves

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        got: list[StateVector] = []
        stop = asyncio.Event()

        def on_state(s: StateVector) -> None:
            got.append(s)
            stop.set()

        async with server:
            stats = await read_sbs("127.0.0.1", port, on_state=on_state, stop=stop)
        return got, stats

    got, stats = run(scenario())
    assert len(got) == 1 and math.isclose(got[0].lat, 48.0)
    assert stats.connections == 1 and stats.malformed >= 1
