"""The server's logging: one line a record on stderr, as text or as JSON, written by a thread.

Records are queued by the event loop (`logging.handlers.QueueHandler`: no write to a slow
terminal or pipe holds the loop) and written by a `QueueListener` thread. Text lines read
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
import time
from logging.handlers import QueueHandler, QueueListener
from typing import Any, TextIO

__all__ = ["FIELDS", "JsonFormatter", "configure", "text_formatter"]

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


def configure(level: str, form: str, stream: TextIO | None = None) -> QueueListener:
    """Send every record at ``level`` or above to ``stream`` (stderr) in ``form`` ("text" or
    "json"); the server's own start-up lines (``deconfliction.server``) always. Returns the
    running listener: stop it to flush at exit."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else text_formatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(QueueHandler(records))
    root.setLevel(level.upper())
    logging.getLogger("deconfliction.server").setLevel(logging.INFO)
    # uvicorn's start-up lines repeat ours ("Uvicorn running on ..."), and alembic's say which
    # plugins it loaded: their warnings only
    for chatty in ("uvicorn.error", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    listener = QueueListener(records, handler)
    listener.start()
    return listener
