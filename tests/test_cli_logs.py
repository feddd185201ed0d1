"""The server's log lines (`cli.logs`): JSON lines carry a record's fields; a record that finds
the queue full (stderr not read) is dropped, and the writer says how many."""

from __future__ import annotations

import io
import json
import logging
import queue

from deconfliction.cli import logs


def test_json_lines_carry_the_fields() -> None:
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        writer = logs.configure("info", "json", out)
        logging.getLogger("deconfliction.access").info(
            "%s %s %s", "GET", "/v1/health", 200,
            extra={"method": "GET", "path": "/v1/health", "status": 200, "party": None})
        logging.getLogger("deconfliction.other").debug("below the level")
        writer.stop()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in kept:
            root.addHandler(handler)
        root.setLevel(level)
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "GET /v1/health 200" and record["level"] == "info"
    assert record["logger"] == "deconfliction.access" and record["time"].endswith("Z")
    assert {"method": "GET", "path": "/v1/health", "status": 200,
            "party": None}.items() <= record.items()


def test_a_full_queue_drops_and_counts() -> None:
    records: queue.Queue[logging.LogRecord | None] = queue.Queue(2)
    handing = logs._Handing(records)
    log = logging.getLogger("test.logs.full")
    log.propagate = False
    log.addHandler(handing)
    try:
        for i in range(5):
            log.warning("line %d", i)
    finally:
        log.removeHandler(handing)
    assert handing.dropped == 3
    out = io.StringIO()
    writer = logs.LogWriter(handing, records, logs.text_formatter(), out)
    writer.start()
    writer.stop()
    lines = out.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "line 0", "line 1", "3 log records dropped: stderr was not read fast enough"]
