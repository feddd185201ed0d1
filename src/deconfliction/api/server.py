"""The HTTP server: uvicorn (uvloop, httptools) with deadlines no client can stretch.

uvicorn bounds neither how long a request's headers or body may take to arrive, nor how much
header a client may send, nor how long a response may sit unread in a full send buffer: one
client trickling a byte a second, or never reading, would hold its connection (and what the
server buffered for it) forever. :class:`GuardedProtocol` adds, per connection:

* a header deadline (``header_timeout_s``): from the connection to its first request's last
  header line (a byte now and then does not stretch it), or from a later request's first
  byte; and at most :data:`MAX_HEADER_BYTES` of request line and headers (a 431 past it);
* a body deadline (``body_timeout_s``): from the headers to the body's last byte;
* a send deadline (``send_timeout_s``): a send buffer that stays full this long belongs to a
  client that does not read; the connection is cut;
* a way for the app to cut its connection at once (:func:`abort_connection`: an event stream
  whose client stopped reading), and to bound what its connection buffers, in the process and
  in the kernel (:func:`limit_send_buffer`: an event stream).

* at most ``connections`` at once: a connection arriving past it evicts the connection that
  has waited longest for a request's headers (idle since it connected or since its last
  response, or trickling headers). An honest client sends its headers in one packet, so it is
  never the one evicted, and a flood of idle sockets cannot shut it out (2,100 sockets of one
  byte each, re-opened when cut, kept 150 of 161 honest requests out before). Only when every
  other connection has a request in hand is the newcomer refused: a 503 problem naming
  ``connections``.

uvicorn's own keep-alive timeout (``keep_alive_s``) gives the rest. An honest client on a slow
network sends its headers in one packet and a 1 MiB body at 280 kbit/s within the body
deadline.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from deconfliction.model.limits import Limits

__all__ = ["CONNECTION_EXTENSION", "GuardedProtocol", "abort_connection", "limit_send_buffer",
           "listen", "serve"]

CONNECTION_EXTENSION = "deconfliction.connection"
"""The ASGI scope extension through which the app may act on its own connection."""

MAX_HEADER_BYTES = 64 * 1024  # request line and headers; more than any honest client sends


def abort_connection(scope: Scope) -> None:
    """Cut this request's connection now, dropping whatever waits to be sent (nothing happens
    where the server offers no way to: an in-process test client)."""
    extension = scope.get("extensions", {}).get(CONNECTION_EXTENSION)
    if extension is not None:
        extension["abort"]()


def limit_send_buffer(scope: Scope, size: int) -> None:
    """Hold at most about ``size`` bytes unsent for this request's connection, in the server
    and in the kernel's socket buffer (a long response to a client that may stop reading)."""
    extension = scope.get("extensions", {}).get(CONNECTION_EXTENSION)
    if extension is not None:
        extension["limit_send_buffer"](size)


def _problem(status: int, phrase: str, code: str, detail: str, *, headers: str = "",
             **extensions: Any) -> bytes:
    """A whole HTTP/1.1 response carrying an RFC 9457 problem, for refusals made below the
    app (the connection is closed after it); ``headers``: more header lines, each ending in
    CRLF."""
    body = json.dumps({"type": f"urn:deconfliction:problem:{code}", "title": phrase,
                       "status": status, "detail": detail, "code": code,
                       **extensions}).encode()
    return (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n{headers}connection: close\r\n\r\n"
            ).encode() + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header, body and send deadlines and a header size
    cap (:func:`protocol_for` makes one with the line's limits)."""

    limits: Limits = Limits()
    waiting: dict[GuardedProtocol, None] = {}
    """The server's connections waiting for a request's headers, longest waiting first (an
    insertion-ordered set: :func:`protocol_for` gives each server its own)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._send_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = False
        self._refused = False

    # deadlines -------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        self._abort()

    def _abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _limit_send_buffer(self, size: int) -> None:
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        self.transport.set_write_buffer_limits(high=size)

    # uvicorn's protocol ----------------------------------------------------------------------

    def _wait(self) -> None:
        """This connection now waits for a request's headers (it keeps its place if it was
        waiting already)."""
        self.waiting.setdefault(self, None)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_headers = True  # a connection that sends nothing is held no longer
        self._arm(self.limits.header_timeout_s)
        if len(self.connections) > self.limits.connections:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                self._refused = True  # answered a 503 when its request arrives
                return
            del self.waiting[oldest]
            oldest._abort()
        self._wait()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._disarm()
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            if not self.transport.is_closing():
                self.transport.write(_problem(
                    503, "Service Unavailable", "unavailable",
                    f"the server holds {self.limits.connections} connections, each with a "
                    "request in hand (connections); try again after Retry-After seconds",
                    headers="retry-after: 1\r\n", limit="connections",
                    value=self.limits.connections))
                self.transport.close()
            return
        super().data_received(data)
        if self._in_headers and self._header_bytes > MAX_HEADER_BYTES \
                and not self.transport.is_closing():
            # RFC 6585 §5: 431 Request Header Fields Too Large
            self.transport.write(_problem(
                431, "Request Header Fields Too Large", "headers_too_large",
                f"request line and headers exceed {MAX_HEADER_BYTES} bytes"))
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        if self._deadline is None:  # a first request's deadline runs from the connection
            self._arm(self.limits.header_timeout_s)
        self._wait()

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self.waiting.pop(self, None)
        self._arm(self.limits.body_timeout_s)
        if self.scope is not None:
            extensions = dict(self.scope.get("extensions") or {})
            extensions[CONNECTION_EXTENSION] = {
                "abort": self._abort, "limit_send_buffer": self._limit_send_buffer}
            self.scope["extensions"] = extensions
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None and not self.transport.is_closing():
            self._wait()  # idle until its next request (or the keep-alive timeout)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_deadline is None:
            self._send_deadline = self.loop.call_later(self.limits.send_timeout_s, self._abort)

    def resume_writing(self) -> None:
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None
        super().resume_writing()


def protocol_for(limits: Limits) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` class bound to these limits (uvicorn makes one instance per
    connection from the class it is given)."""
    return type("LineProtocol", (GuardedProtocol,), {"limits": limits, "waiting": {}})


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` (``OSError`` if it cannot be: a busy
    port, an address not on this machine), made before the server says it is serving."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind(address)
        sock.listen(2048)  # uvicorn's default backlog
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(app: ASGIApp, host: str, port: int, limits: Limits, *,
          graceful_shutdown_s: float, sock: socket.socket | None = None) -> None:
    """Serve ``app`` on ``host:port`` (or on ``sock``, already listening) until interrupted,
    within ``limits``. Logging is the caller's (uvicorn's own configuration and access log
    are off: `api.observe` logs each request)."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False,
        http=protocol_for(limits),  # it bounds connections itself (GuardedProtocol)
        timeout_keep_alive=max(1, math.ceil(limits.keep_alive_s)),
        timeout_graceful_shutdown=max(1, math.ceil(graceful_shutdown_s)))
    uvicorn.Server(config).run(sockets=None if sock is None else [sock])
