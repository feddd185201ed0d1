"""The alert lifecycle: raised → updated → cleared, from one set of detections per cycle.

A detector (tactical conflicts, constraint incursions, conformance) runs once per *detection
cycle* (default every second) and reports a set of *candidate* detections, each under a hashable
:data:`AlertKey` with a payload. :class:`AlertBook` turns that noisy stream into alerts:

* **raised** when the key was detected in ``k`` of the last ``n`` cycles (default 2 of 4), so a
  single-cycle blip never alerts;
* **updated** in each cycle in which a raised key is detected with a payload that differs
  *materially* (``changed(last_reported, new)``, default ``!=``) from the payload last reported
  in a transition;
* **cleared** once the key has not been detected for ``hysteresis_s`` seconds (default 5 s,
  measured in time, not cycles: ``now - last_detected >= hysteresis_s``); a re-detection within
  the hysteresis keeps the alert raised under the same id, without a new "raised".

Confirmation and hysteresis follow DAIDALUS / RTCA DO-365 alerting practice (alerts confirmed
over several cycles, held for a few seconds before they are removed) — DESIGN.md, Numbers.

A cycle may be *bounded*: ``step(..., admit=...)`` asks before each transition whether it may be
told now; one refused is deferred, not lost (a raise stays a candidate and is raised in a later
cycle while still detected, an update is reported later against the payload last told, a clear
is retried next cycle). :func:`most_urgent` picks, from a cycle's detector arrays, which
detections to hand the book when there are more than the parties' room allows.

Everything is deterministic: time is passed in, alert ids come from an injected factory, and
transitions come out in a fixed order (raised and updated in the order of the detections
mapping, then cleared in the order the keys were first tracked). Memory is bounded: a key that
is not raised is forgotten as soon as its detections have left the confirmation window (a
cleared key too: detections made just before clearing still count towards raising it again).

Examples
--------
>>> from itertools import count
>>> ids = (f"alert-{i}" for i in count(1))
>>> book = AlertBook(lambda: next(ids))
>>> key = ("conflict", "ac-12", "ac-40")
>>> book.step(0.0, {key: 30.0})
[]
>>> [(t.kind, t.alert_id, t.payload) for t in book.step(1.0, {key: 29.0})]
[('raised', 'alert-1', 29.0)]
>>> [(t.kind, t.payload) for t in book.step(2.0, {key: 28.0})]
[('updated', 28.0)]
>>> book.step(3.0, {}), book.step(6.9, {})
([], [])
>>> [(t.kind, t.alert_id, t.time) for t in book.step(7.0, {})]
[('cleared', 'alert-1', 7.0)]
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from deconfliction.model.units import Seconds

__all__ = [
    "AlertKey",
    "TransitionKind",
    "Transition",
    "ActiveAlert",
    "AlertBook",
    "alert_key",
    "most_urgent",
    "Admit",
    "DEFAULT_CONFIRM",
    "DEFAULT_HYSTERESIS_S",
]

AlertKey = Hashable
"""What an alert is about, e.g. ``("conflict", "ac-12", "ac-40")`` (see :func:`alert_key`)."""

TransitionKind = Literal["raised", "updated", "cleared"]

Admit = Callable[[AlertKey, Any, TransitionKind], bool]
"""``admit(key, payload, kind)``: whether a transition may be told in this cycle (False defers
it to a later cycle)."""

# DAIDALUS / RTCA DO-365 practice (DESIGN.md, Numbers): confirm an alert when it was detected in
# 2 of the last 4 cycles; keep it 5 s after the last detection before clearing it.
DEFAULT_CONFIRM: tuple[int, int] = (2, 4)
DEFAULT_HYSTERESIS_S: Seconds = 5.0

# Times are float seconds; 0.1 + 5.0 != 5.1 exactly, so "5 s have passed" allows this slack.
_TIME_EPS_S = 1e-9

_PAIR_KINDS = frozenset({"conflict", "loss_of_separation"})


def alert_key(kind: str, subject: str, other: str) -> tuple[str, str, str]:
    """The canonical key of an alert about ``subject`` and ``other``.

    For the pair kinds (``conflict``, ``loss_of_separation``) the two aircraft ids are sorted,
    so ``(a, b)`` and ``(b, a)`` are one alert; for ``constraint_incursion`` and
    ``nonconformance`` the order is (aircraft, constraint or operation id).

    Examples
    --------
    >>> alert_key("conflict", "ac-40", "ac-12")
    ('conflict', 'ac-12', 'ac-40')
    >>> alert_key("constraint_incursion", "ac-40", "c-1")
    ('constraint_incursion', 'ac-40', 'c-1')
    """
    if kind in _PAIR_KINDS and other < subject:
        subject, other = other, subject
    return (kind, subject, other)


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of an alert, to be told to the parties concerned.

    ``payload`` is the detection's payload: for "raised" and "updated" the one that caused the
    transition, for "cleared" the last one detected. ``time`` is the cycle's ``now``.
    """

    kind: TransitionKind
    key: AlertKey
    payload: Any
    time: Seconds
    alert_id: str


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """The book's view of a raised alert: ``payload`` as last reported, ``last_detected`` None
    until re-detected after a :meth:`AlertBook.restore` (the stored record is
    :class:`deconfliction.model.alert.Alert`)."""

    alert_id: str
    key: AlertKey
    payload: Any
    raised_at: Seconds
    last_detected: Seconds | None


class _Record:
    """What the book holds about one key (raised or candidate)."""

    __slots__ = ("hits", "alert_id", "reported", "latest", "raised_at", "last_detected")

    def __init__(self, window: int) -> None:
        self.hits: deque[int] = deque(maxlen=window)  # cycle numbers of recent detections
        self.alert_id: str | None = None  # set once raised
        self.reported: Any = None  # payload last told in a transition
        self.latest: Any = None  # payload last detected
        self.raised_at: float = 0.0
        self.last_detected: float | None = None


class AlertBook:
    """The set of alerts, advanced one detection cycle at a time by :meth:`step`.

    Parameters
    ----------
    new_id : callable
        Returns a fresh alert id on each call (inject a counter in tests, UUIDs in service).
    confirm : (int, int), default (2, 4)
        Raise once detected in ``k`` of the last ``n`` cycles, ``1 <= k <= n``.
    hysteresis_s : float, default 5.0
        Clear once not detected for this long (s, >= 0).
    changed : callable, default ``operator.ne``
        ``changed(last_reported, new) -> bool``: whether a new payload of a raised alert is
        worth an "updated". Supply one for payloads whose ``!=`` is not a plain bool (arrays) or
        to ignore small changes.
    """

    __slots__ = ("_new_id", "_k", "_n", "_hysteresis_s", "_changed", "_records", "_cycle", "_now")

    def __init__(
        self,
        new_id: Callable[[], str],
        *,
        confirm: tuple[int, int] = DEFAULT_CONFIRM,
        hysteresis_s: Seconds = DEFAULT_HYSTERESIS_S,
        changed: Callable[[Any, Any], bool] = operator.ne,
    ) -> None:
        k, n = confirm
        if not 1 <= k <= n:
            raise ValueError(f"confirm must be (k, n) with 1 <= k <= n, got {confirm!r}")
        if not hysteresis_s >= 0:
            raise ValueError(f"hysteresis_s must be >= 0, got {hysteresis_s!r}")
        self._new_id = new_id
        self._k = int(k)
        self._n = int(n)
        self._hysteresis_s = float(hysteresis_s)
        self._changed = changed
        self._records: dict[AlertKey, _Record] = {}
        self._cycle = 0
        self._now: float | None = None

    @property
    def tracked(self) -> int:
        """How many keys the book holds (raised alerts and unconfirmed candidates)."""
        return len(self._records)

    def step(self, now: Seconds, detections: Mapping[AlertKey, Any], *,
             admit: Admit | None = None) -> list[Transition]:
        """Advance one detection cycle at time ``now`` with this cycle's detections.

        Parameters
        ----------
        now : float
            UTC seconds; never less than the previous cycle's.
        detections : mapping
            Every key detected in this cycle, with its payload (most urgent first when the
            cycle is bounded: ``admit`` is asked in this order).
        admit : callable, optional
            Asked before each transition; False defers it: a raise waits (the key stays a
            candidate and is raised in a later cycle if still confirmed), an update is told in
            a later cycle (compared with the payload last told), a clear is retried next cycle.

        Returns
        -------
        list of Transition
            Raised and updated alerts in the order of ``detections``, then cleared ones.
        """
        now = float(now)
        if self._now is not None and now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        self._cycle += 1
        cycle = self._cycle
        oldest_in_window = cycle - self._n + 1
        out: list[Transition] = []

        for key, payload in detections.items():
            record = self._records.get(key)
            if record is None:
                record = self._records[key] = _Record(self._n)
            record.hits.append(cycle)
            record.latest = payload
            record.last_detected = now
            if record.alert_id is not None:
                if self._changed(record.reported, payload) and (
                        admit is None or admit(key, payload, "updated")):
                    record.reported = payload
                    out.append(Transition("updated", key, payload, now, record.alert_id))
            elif sum(1 for c in record.hits if c >= oldest_in_window) >= self._k and (
                    admit is None or admit(key, payload, "raised")):
                record.alert_id = self._new_id()
                record.reported = payload
                record.raised_at = now
                out.append(Transition("raised", key, payload, now, record.alert_id))

        # Keys not detected this cycle: clear raised ones past the hysteresis, forget candidates
        # whose detections can no longer count in the next cycle's window.
        forget_before = cycle - self._n + 2
        gone: list[AlertKey] = []
        for key, record in self._records.items():
            if record.alert_id is not None:
                if record.last_detected is None:  # restored: the hysteresis starts now
                    record.last_detected = now
                    continue
                if now - record.last_detected < self._hysteresis_s - _TIME_EPS_S:
                    continue
                if admit is not None and not admit(key, record.latest, "cleared"):
                    continue  # still raised; retried next cycle
                out.append(Transition("cleared", key, record.latest, now, record.alert_id))
                record.alert_id = None  # a candidate again while its detections still count
            if not record.hits or record.hits[-1] < forget_before:
                gone.append(key)
        for key in gone:
            del self._records[key]
        return out

    def active(self) -> list[ActiveAlert]:
        """The raised alerts, in the order their keys were first tracked."""
        return [
            ActiveAlert(r.alert_id, key, r.reported, r.raised_at, r.last_detected)
            for key, r in self._records.items()
            if r.alert_id is not None
        ]

    def restore(self, key: AlertKey, alert_id: str, payload: Any, raised_at: Seconds) -> None:
        """Rebuild a raised alert after a restart (from the store), without any transition.

        The alert is then held like any other: it clears once not detected for the hysteresis,
        counted from the first cycle after the restore (a restart does not clear alerts before
        the detector has looked again).

        Raises
        ------
        ValueError
            If ``key`` is already raised.
        """
        record = self._records.get(key)
        if record is not None and record.alert_id is not None:
            raise ValueError(f"alert {key!r} is already raised as {record.alert_id!r}")
        if record is None:
            record = self._records[key] = _Record(self._n)
        record.alert_id = alert_id
        record.reported = payload
        record.latest = payload
        record.raised_at = float(raised_at)
        record.last_detected = None


def most_urgent(
    time_s: npt.ArrayLike,
    separation_m: npt.ArrayLike,
    group_a: npt.ArrayLike,
    group_b: npt.ArrayLike,
    room: npt.ArrayLike,
    *,
    held: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int64]:
    """The detections of one cycle to hand the book, most urgent first.

    Urgency is least time to the event (loss of separation, entry), then least predicted
    separation. Each detection concerns one or two groups (parties; ``group_b`` -1 for none):
    every ``held`` row (an alert already raised) is kept, and of the others each group ``g``
    admits its ``room[g]`` most urgent; a row is kept when either of its groups admits it, so a
    party whose room is used up never hides a conflict from the other party concerned. At most
    ``sum(room)`` rows besides the held ones; O(n log n), no loop over rows.

    Examples
    --------
    Rows 0 and 1 concern groups 0 and 1, row 2 group 0 only, row 3 group 1 only; group 0 has
    room for two, group 1 for one (row 1, the most urgent, takes it):

    >>> most_urgent([30.0, 0.0, 10.0, 5.0], [0.0, 900.0, 0.0, 0.0], [0, 0, 0, 1],
    ...             [1, 1, -1, -1], [2, 1]).tolist()
    [1, 2]
    >>> most_urgent([30.0, 0.0, 10.0], [0.0, 0.0, 0.0], [0, 0, 0], [-1, -1, -1], [0],
    ...             held=[True, False, False]).tolist()
    [0]
    """
    t = np.asarray(time_s, dtype=np.float64)
    sep = np.asarray(separation_m, dtype=np.float64)
    ga = np.asarray(group_a, dtype=np.int64)
    gb = np.asarray(group_b, dtype=np.int64)
    space = np.asarray(room, dtype=np.int64)
    n = t.shape[0]
    kept = np.zeros(n, dtype=np.bool_) if held is None else np.asarray(held, dtype=np.bool_).copy()
    order = np.lexsort((sep, t))  # most urgent first
    # one entry per (row, group it concerns), the held rows aside, each row at its urgency
    rows = order[~kept[order]]
    m = rows.shape[0]
    gb_rows = np.where(gb[rows] == ga[rows], -1, gb[rows])
    group = np.concatenate([ga[rows], gb_rows])
    position = np.concatenate([np.arange(m, dtype=np.int64)] * 2)
    valid = group >= 0
    group, position = group[valid], position[valid]
    if group.shape[0]:
        by_group = np.argsort(group * max(m, 1) + position)  # by group, then urgency
        group, position = group[by_group], position[by_group]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        runs = np.diff(np.r_[starts, group.shape[0]])
        rank = np.arange(group.shape[0]) - np.repeat(starts, runs)
        kept[rows[position[rank < space[group]]]] = True
    return order[kept[order]].astype(np.int64)
