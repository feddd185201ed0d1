"""The line's cost model: how much one request, one party or one minute may ask of it.

A neutral line is shared by parties that may be hostile to each other, so every request's cost
is bounded by these limits (the ``[limits]`` table of ``line.toml``, read by `config`). A
request over a limit is refused with a problem that names the limit and its value (400 for a
shape the line will not take, 413 for a body too large, 429 with ``Retry-After`` for a rate).
The defaults are what a real operator can live with while every request stays cheap on a
2-core machine; README "Limits" says why for each.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Limits", "LIMIT_NAMES"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-request, per-party and per-minute limits (all positive)."""

    body_bytes: int = 1 << 20
    """Largest request body (bytes): 1 MiB holds a full-size operation or track batch."""

    nesting_depth: int = 32
    """Deepest JSON nesting in a body (objects and arrays): our deepest valid body is 6."""

    vertices_per_polygon: int = 1_000
    """Vertices of one polygon footprint, all rings (ASTM F3548-21 allows up to 10,000; this
    bound keeps buffering the worst shape within the 200 ms a declaration may cost)."""

    vertices_per_operation: int = 5_000
    """Vertices over all volumes of one operation or constraint."""

    volumes_per_operation: int = 100
    """Volumes in one operation or constraint."""

    area_km2: float = 10_000.0
    """Footprint area of one volume, km² (ASTM F3548-21: a constraint at most 10,000 km²)."""

    span_km: float = 1_000.0
    """Longest side of one footprint's bounding box, km (a thin sliver of small area must not
    touch thousands of index cells)."""

    footprint_complexity: int = 2_500
    """Complexity of one polygon footprint: its vertices once every edge is cut into steps of
    at most 0.01° (~1.1 km), as the engine follows lon/lat-straight edges (RFC 7946 §3.1.1).
    Every distance, region and index near a footprint costs in proportion to it, however
    jagged (bench/geometry.py); 2,500 keeps a dry run of the worst pair of footprints it
    admits near 0.1 s on a loaded 2-core machine, and admits a 10,000 km² square (~400) or a
    1,000-vertex outline of a 1,000 km corridor at mid-latitudes (~2,300)."""

    altitude_range_m: float = 30_000.0
    """Height of one volume's altitude band, m (ground to ~FL980: any airspace flown)."""

    duration_s: float = 30 * 86_400.0
    """Length of one volume's time window, s (the 30-day planning horizon, ASTM F3548-21)."""

    reports_per_batch: int = 2_000
    """State reports in one POST /v1/tracks."""

    new_aircraft_per_batch: int = 500
    """Aircraft a batch may name that the line has not seen from this party before."""

    new_aircraft_per_minute: int = 2_000
    """New aircraft one party may register in a minute (a token bucket; 429 past it)."""

    messages_per_minute: int = 600
    """Hotline messages one party may send in a minute (a token bucket), counted once per
    recipient (a broadcast to 12 parties is 12), and replies made again to a message already
    answered; a first reply is never limited (an answer to a distress call is never refused)."""

    unanswered_per_recipient: int = 20
    """Messages one party may have awaiting a final reply from one recipient (each is escalated
    every deadline until answered): this bounds the escalation work a sender causes, whatever
    it sends. Over Syria the line carried 10-12 calls a day at its busiest."""

    link_tests_per_minute: int = 6
    """Link tests one party may send in a minute (each goes to every party's stream)."""

    settings_per_minute: int = 30
    """Changes one party may make in a minute to its own settings: status (told to every
    party), escalation contacts, webhook (set or removed; a target's name is resolved)."""

    declarations_per_minute: int = 600
    """Operations declared, replaced or ended, and constraints published, replaced or withdrawn,
    by one party in a minute (dry runs are not counted): each is stored, indexed and may be told
    to other parties (those it overrides; every party, for a constraint). Ten a second is past
    any fleet's planning; without it the number was bounded only by the server time a party
    may use."""

    alerts_per_cycle: int = 100
    """Alerts one detection cycle (one second) may raise or update for one party, and as many
    clears: the most urgent first (least time to loss of separation, then least predicted
    separation); the rest stay detected and are told in later cycles. A duty officer cannot
    read a hundred new alerts a second, and the cycle's writes then stay a few tenths of a
    second whatever a party stacks (1,000 aircraft on one point are 250,000 pairs)."""

    active_alerts: int = 2_000
    """Raised alerts concerning one party at once. The tactical bench's sky (10,000 aircraft
    at random in a 1,000 km square, five parties) holds ~3,700 conflicts within 120 s, ~1,500
    per party; past this many a party is in an emergency no list will help with, and what is
    held back is raised as alerts clear. An alert concerning two parties is raised while
    either has room, so a party that fills its own never hides a conflict from the other."""

    streams_per_party: int = 8
    """Event streams (SSE) one party may hold open at once on one server process: a duty
    officer's client, a console tab or two and a spare; the next one is a 429."""

    stream_buffer_events: int = 256
    """Events held for one stream that has not sent them yet (its send buffer). A stream whose
    client stops reading fills it and is dropped; the client resumes with ``Last-Event-ID``
    and loses nothing (the durable event table is the truth)."""

    send_timeout_s: float = 30.0
    """How long a connection's send buffer may stay full before the client is cut off (a
    client that does not read). 256 KiB drains in 30 s even at 70 kbit/s."""

    header_timeout_s: float = 10.0
    """From a request's first byte to its last header line; a client that trickles headers is
    cut off after it (slowloris). Honest clients send their headers in one packet."""

    body_timeout_s: float = 30.0
    """From a request's headers to the last byte of its body; a client that trickles its body
    is cut off after it (a 1 MiB body needs only 280 kbit/s to make it)."""

    keep_alive_s: float = 5.0
    """How long an idle keep-alive connection is kept waiting for its next request."""

    connections: int = 2_000
    """Concurrent connections one server process serves (each costs a file descriptor and a
    little memory). A connection arriving at the cap cuts the one that has waited longest for
    a request's headers; only when every connection has a request in hand is it refused, with
    a 503 problem naming this limit (`api.server`)."""

    webhook_response_bytes: int = 4_096
    """Bytes of a webhook receiver's answer that are read; the rest is never read (the status
    is what counts)."""

    webhook_response_s: float = 10.0
    """Longest a webhook POST may take from connecting to the answer's end, however the
    receiver trickles it."""

    requests_in_flight: int = 16
    """Requests one party may have in one server process at once (an event stream until its
    response starts); the next is a 429 before its body is read. An honest client has a few
    (the e2e tests' bursts use 8 threads); one party cannot queue hundreds ahead of others."""

    costly_jobs: int = 2
    """Costly jobs (validating volumes off the event loop, a declaration's or dry run's
    strategic assessment, a constraint's check) one server process runs at once, each of a
    different party, the waiting parties taken in turn (`service.fair_gate`): the cores of a
    small host. More would only contend with the event loop for the interpreter lock."""

    costly_jobs_queued: int = 8
    """A party's costly jobs that may wait for their turn (one runs); the next is a 429.
    The e2e tests' bursts of 8 threads fit; a flood of dry runs waits behind itself."""

    server_ms_per_s: int = 250
    """Server time (the process's CPU, ms, each second split among the requests in the server)
    one party's requests may take per second while other parties are being served: a quarter
    of the one core a server process runs its requests on. Over it, its next requests get a
    429 before their bodies are read until the debt is paid back (``Retry-After``). Alone on
    the line a party may use it all. Each honest party of the hostile bench (100 aircraft at
    1 Hz, a declaration every 6 s, a message a second) is charged ~25 ms a second."""

    server_ms_burst: int = 2_000
    """Server time one party may spend at once before ``server_ms_per_s`` applies (the
    bucket's depth): a few of the costliest requests the other limits let through."""


LIMIT_NAMES = frozenset(f.name for f in fields(Limits))
"""The keys the ``[limits]`` table may hold."""
