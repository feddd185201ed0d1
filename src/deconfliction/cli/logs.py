"""The server's logging: one line a record on stderr, as text or as JSON, written by a thread.

Records are queued by the event loop (no write to a slow terminal or pipe holds the loop) and
written by a thread, as many as are waiting in one write: at a thousand requests a second a
write and a flush per line cost the server about a sixth of its CPU. Text lines read
``2026-12-03T19:20:00.123Z INFO deconfliction.access: GET /v1/health 200 - 0.4 ms``; JSON
lines are one object each with ``time``, ``level``, ``logger``, ``message`` and the record's
fields (an access line's ``method``, ``path``, ``status``, ``party``, ``route``,
``duration_ms``).
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler
from typing import Any, TextIO

__all__ = ["FIELDS", "JsonFormatter", "LogWriter", "configure", "text_formatter"]

BATCH = 1_000  # records written at most in one write
QUEUED = 10_000  # records waiting at most: past it (stderr not read) they are dropped, counted

FIELDS = ("method", "path", "status", "party", "route", "duration_ms", "event", "version",
          "database", "backend", "profile", "url", "limits", "metrics", "log_level",
          "log_format")
"""Record attributes (``extra=``) a JSON line carries when a record has them."""


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
        f".{int(record.msecs):03d}Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": _utc(record), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _utc(record)


def text_formatter() -> logging.Formatter:
    return _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


class _Handing(QueueHandler):
    """Queues each record as it is, its message made now (its arguments may change later);
    nothing else handles it, so it is not copied, and it is formatted by the writer. A record
    that finds the queue full is dropped and counted (`LogWriter` says how many)."""

    def __init__(self, records: queue.Queue[logging.LogRecord | None]) -> None:
        super().__init__(records)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg = record.getMessage()
        record.args = None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class LogWriter:
    """The thread that formats queued records and writes them, all that wait at once."""

    def __init__(self, handing: _Handing, records: queue.Queue[logging.LogRecord | None],
                 formatter: logging.Formatter, stream: TextIO) -> None:
        self.handing = handing
        self.records = records
        self.formatter = formatter
        self.stream = stream
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self.records.put(None)  # waits for room: the writer is draining
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self.records.get()]
            while batch[-1] is not None and len(batch) < BATCH:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            lines = [self.formatter.format(r) for r in batch if r is not None]
            dropped, self.handing.dropped = self.handing.dropped, 0
            if dropped:
                lines.append(self.formatter.format(logging.makeLogRecord({
                    "name": __name__, "levelno": logging.WARNING, "levelname": "WARNING",
                    "msg": f"{dropped} log records dropped: stderr was not read fast enough"})))
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):  # stderr closed: nothing left to tell
                    pass
            if batch[-1] is None:
                return


def configure(level: str, form: str, stream: TextIO | None = None) -> LogWriter:
    """Send every record at ``level`` or above to ``stream`` (stderr) in ``form`` ("text" or
    "json"); the server's own start-up lines (``deconfliction.server``) always. Returns the
    running writer: stop it to flush at exit."""
    formatter = JsonFormatter() if form == "json" else text_formatter()
    records: queue.Queue[logging.LogRecord | None] = queue.Queue(QUEUED)
    handing = _Handing(records)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handing)
    root.setLevel(level.upper())
    logging.getLogger("deconfliction.server").setLevel(logging.INFO)
    # uvicorn's start-up lines repeat ours ("Uvicorn running on ..."), and alembic's say which
    # plugins it loaded: their warnings only
    for chatty in ("uvicorn.error", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    writer = LogWriter(handing, records, formatter, stream or sys.stderr)
    writer.start()
    return writer
