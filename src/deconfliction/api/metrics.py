"""``/metrics``: the server's figures in the Prometheus text format (prometheus_client).

Off by default (``[metrics] enabled = true`` turns it on). Who may read it: a request from
loopback (a scraper or sidecar on the host that runs the line: whoever runs the host sees the
process anyway), or from anywhere with an observer's bearer token. Not other parties: request
counts by route and stream counts tell when a party is active and how busy, which is another
party's operational picture; observers read everything on the line already.

One registry per app (`Metrics`), never prometheus_client's process-global one, so two apps in
one process (tests) count apart. Requests are counted by route template (``/v1/operations/
{operation_id}``), never by raw path, so ids add no label values; a path that matches no route
counts as ``unmatched``.
"""

from __future__ import annotations

import ipaddress

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from deconfliction.api.deps import party_for
from deconfliction.api.problems import error_response, problem
from deconfliction.model.party import Role
from deconfliction.service import errors
from deconfliction.service import ledger as ledger_service
from deconfliction.service.line import Line

__all__ = ["METRICS_PATH", "Metrics"]

METRICS_PATH = "/metrics"
# request latency buckets (s): a loopback answer takes ~1 ms; a dry run of a large
# declaration up to seconds; past the 10 s mark a client has likely given up
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The line's metrics: requests by route, method and status; request latency by route;
    open event streams; detection cycle time; write units waiting for the writer; whether this
    process runs the line's clocks; signed ledger size."""

    path = METRICS_PATH

    def __init__(self, line: Line) -> None:
        self.line = line
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "deconfliction_http_requests", "HTTP requests answered, by route template, "
            "method and status", ("route", "method", "status"), registry=self.registry)
        self.latency = Histogram(
            "deconfliction_http_request_duration_seconds", "Time from a request's arrival "
            "to the start of its response, by route template", ("route",),
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.streams = Gauge(
            "deconfliction_open_streams", "Event streams (SSE) open in this process",
            registry=self.registry)
        self.streams.set_function(lambda: float(sum(line.live.presence.streams.values())))
        self.cycle = Histogram(
            "deconfliction_detection_cycle_seconds", "Time one tactical detection cycle "
            "took (this process, when it runs the line's clocks)",
            buckets=CYCLE_BUCKETS, registry=self.registry)
        self.writes = Gauge(
            "deconfliction_pending_writes", "Write units queued for or holding the database "
            "writer", registry=self.registry)
        self.writes.set_function(lambda: float(line.store.pending_writes()))
        self.leader = Gauge(
            "deconfliction_leader", "1 when this process runs the line's clocks (detection "
            "cycle, conformance timers, escalation, ledger signer); today every serve process "
            "does, one per line", registry=self.registry)
        self.leader.set(1.0)
        self.ledger = Gauge(
            "deconfliction_ledger_signed_leaves", "Leaves under the latest signed tree head",
            registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    async def render(self) -> bytes:
        """The text exposition, with the detection cycles since the last scrape and the
        ledger's size read now."""
        times = self.line.live.cycle_times
        while times:
            self.cycle.observe(times.popleft())
        try:
            head = await ledger_service.latest_head(self.line)
            self.ledger.set(head.tree_size)
        except errors.NotFound:
            self.ledger.set(0)
        return generate_latest(self.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``GET /metrics``: loopback, or an observer's token (see the module)."""
        if scope.get("method") not in ("GET", "HEAD"):
            await problem(405, "method_not_allowed", "Method Not Allowed")(scope, receive, send)
            return
        if not _loopback(scope):
            authorization = None
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    authorization = value.decode("latin-1")
            try:
                party = await party_for(self.line, authorization)
            except errors.LineError as error:
                await error_response(error)(scope, receive, send)
                return
            if party.role is not Role.OBSERVER:
                await problem(403, "forbidden", "metrics are for observers (or from loopback)"
                              )(scope, receive, send)
                return
        body = await self.render()
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                   (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body",
                    "body": b"" if scope.get("method") == "HEAD" else body})


def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False
