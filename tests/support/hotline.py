"""Hotline and event-stream helpers: a server configuration with short reply deadlines, a
Server-Sent Events client on ``GET /v1/events``, and message shortcuts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from support.waiting import wait_for

__all__ = ["DEADLINES", "HEARTBEAT_S", "HOT_CONFIG", "SSE", "Frame", "recipient", "send",
           "thread", "wait_for"]

DEADLINES = {"distress": 1, "urgent": 2, "routine": 30}
HEARTBEAT_S = 0.5
HOT_CONFIG = (
    "detection_interval_s = 0\n"
    "[hotline]\n"
    "deadlines_s = {distress = 1, urgent = 2, routine = 30}\n"
    "[stream]\n"
    f"heartbeat_s = {HEARTBEAT_S}\n"
)


@dataclass
class Frame:
    id: int | None
    event: str | None
    data: dict | None
    comment: str | None = None


@dataclass
class SSE:
    """``GET /v1/events`` with ``Accept: text/event-stream`` as one party."""

    base_url: str
    token: str
    after: int | None = None
    last_event_id: int | None = None
    frames: list[Frame] = field(default_factory=list)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        params = {"after": self.after} if self.after is not None else {}
        self._client = httpx.Client(base_url=self.base_url,
                                    timeout=httpx.Timeout(10.0, read=10.0))
        self._cm = self._client.stream("GET", "/v1/events", headers=headers, params=params)
        self.response = self._cm.__enter__()
        assert self.response.status_code == 200, self.response.read()
        ctype = self.response.headers["content-type"]
        assert ctype.startswith("text/event-stream"), ctype
        self._lines = self.response.iter_lines()

    def next_frame(self) -> Frame:
        fields: dict[str, str] = {}
        comment = None
        for line in self._lines:
            if line == "":
                if fields or comment is not None:
                    if "retry" in fields and len(fields) == 1:
                        fields = {}
                        continue
                    frame = Frame(int(fields["id"]) if "id" in fields else None,
                                  fields.get("event"),
                                  json.loads(fields["data"]) if "data" in fields else None,
                                  comment)
                    self.frames.append(frame)
                    return frame
                continue
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        raise AssertionError("the event stream ended")

    def events_until(self, done: Callable[[list[Frame]], bool], timeout_s: float = 15.0
                     ) -> list[Frame]:
        """Read frames until ``done(events so far)``; heartbeats keep the reads short."""
        deadline = time.monotonic() + timeout_s
        got: list[Frame] = []
        while not done(got):
            if time.monotonic() > deadline:
                pytest.fail(f"stream: timed out; got {[(f.id, f.event) for f in got]}")
            frame = self.next_frame()
            if frame.comment is None:
                got.append(frame)
        return got

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self._client.close()


def send(api, sender: str, to: str, urgency: str = "routine", **extra: Any) -> dict:
    body = {"to": to, "urgency": urgency, "subject": extra.pop("subject", "test"),
            "body": extra.pop("body", ""), **extra}
    return api.expect(api.as_(sender).post("/v1/messages", json=body), 201)


def thread(api, party: str, message_id: str) -> dict:
    return api.expect(api.as_(party).get(f"/v1/messages/{message_id}"), 200)


def recipient(api, party: str, message_id: str, name: str) -> dict:
    return next(r for r in thread(api, party, message_id)["recipients"] if r["party"] == name)
