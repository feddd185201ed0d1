"""The alert lifecycle: confirmation (2 of 4 cycles), updates, hysteresis, ids, memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.engine.alerting import AlertBook, Transition, alert_key, most_urgent

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=150)
A = ("conflict", "ac-12", "ac-40")
B = ("constraint_incursion", "ac-7", "c-1")


def ids() -> Callable[[], str]:
    counter = count(1)
    return lambda: f"alert-{next(counter)}"


def run(
    book: AlertBook, cycles: Iterable[Mapping[Any, Any]], *, start: float = 0.0, dt: float = 1.0
) -> list[list[Transition]]:
    """One step per cycle, ``dt`` apart; the transitions of each cycle."""
    return [book.step(start + i * dt, d) for i, d in enumerate(cycles)]


def kinds(per_cycle: list[list[Transition]]) -> list[list[str]]:
    return [[t.kind for t in ts] for ts in per_cycle]


def test_key_sorts_the_aircraft_of_pairs_only() -> None:
    assert alert_key("conflict", "ac-40", "ac-12") == ("conflict", "ac-12", "ac-40")
    assert alert_key("loss_of_separation", "b", "a") == ("loss_of_separation", "a", "b")
    assert alert_key("nonconformance", "ac-9", "op-1") == ("nonconformance", "ac-9", "op-1")


def test_single_cycle_blips_never_raise() -> None:
    book = AlertBook(ids())
    # a blip every 4th cycle: never two detections within 4 cycles
    cycles = [{A: 1} if i % 4 == 0 else {} for i in range(40)]
    assert all(ts == [] for ts in run(book, cycles))
    assert book.active() == []


@pytest.mark.parametrize(
    ("pattern", "raised_at_cycle"),
    [
        ("11", 1),  # consecutive: raised at the second detection
        ("101", 2),
        ("1001", 3),  # the first detection is still in the last 4 cycles
        ("10001", None),  # not any more
        ("100010001", None),
        ("1000101", 6),
    ],
)
def test_two_of_four_raises_at_the_right_cycle(pattern: str, raised_at_cycle: int | None) -> None:
    book = AlertBook(ids())
    per_cycle = run(book, [{A: "p"} if c == "1" else {} for c in pattern])
    raised = [i for i, ts in enumerate(per_cycle) if any(t.kind == "raised" for t in ts)]
    assert raised == ([] if raised_at_cycle is None else [raised_at_cycle])


def test_confirmation_is_configurable() -> None:
    book = AlertBook(ids(), confirm=(3, 5))
    per_cycle = run(book, [{A: 1}, {A: 1}, {}, {}, {A: 1}, {A: 1}])
    assert kinds(per_cycle) == [[], [], [], [], ["raised"], []]
    book = AlertBook(ids(), confirm=(1, 1))
    assert kinds(run(book, [{A: 1}])) == [["raised"]]
    with pytest.raises(ValueError):
        AlertBook(ids(), confirm=(3, 2))
    with pytest.raises(ValueError):
        AlertBook(ids(), hysteresis_s=-1.0)


def test_raised_transition_carries_id_payload_and_time() -> None:
    book = AlertBook(ids())
    book.step(100.0, {A: {"t_in": 50}})
    (t,) = book.step(101.0, {A: {"t_in": 49}})
    assert (t.kind, t.key, t.payload, t.time, t.alert_id) == (
        "raised",
        A,
        {"t_in": 49},
        101.0,
        "alert-1",
    )
    (alert,) = book.active()
    assert (alert.alert_id, alert.key, alert.payload, alert.raised_at) == (
        "alert-1",
        A,
        {"t_in": 49},
        101.0,
    )


def test_clears_exactly_after_hysteresis_and_not_before() -> None:
    book = AlertBook(ids())
    book.step(0.0, {A: 1})
    book.step(1.0, {A: 1})  # raised; last detected at 1.0
    for now in (2.0, 3.0, 4.0, 5.0, 5.9, 5.999):
        assert book.step(now, {}) == [], now
    (t,) = book.step(6.0, {})
    assert (t.kind, t.alert_id, t.time, t.payload) == ("cleared", "alert-1", 6.0, 1)
    assert book.active() == [] and book.tracked == 0


def test_clear_with_inexact_float_times() -> None:
    book = AlertBook(ids())
    book.step(0.1, {A: 1})
    book.step(0.2, {A: 1})
    assert book.step(5.1, {}) == []
    assert [t.kind for t in book.step(0.2 + 5.0, {})] == ["cleared"]


def test_hysteresis_is_time_not_cycles() -> None:
    book = AlertBook(ids(), hysteresis_s=5.0)
    book.step(0.0, {A: 1})
    book.step(1.0, {A: 1})
    # ten fast cycles without detection within 5 s: still raised
    for i in range(10):
        assert book.step(1.0 + 0.4 * (i + 1), {}) == []
    # one slow cycle past the hysteresis: cleared at once
    assert [t.kind for t in book.step(30.0, {})] == ["cleared"]


def test_flapping_within_hysteresis_does_not_re_raise() -> None:
    book = AlertBook(ids())
    pattern = "11" + "0001" * 10 + "00000"
    per_cycle = run(book, [{A: "same"} if c == "1" else {} for c in pattern])
    flat = [t for ts in per_cycle for t in ts]
    assert [t.kind for t in flat] == ["raised", "cleared"]
    assert {t.alert_id for t in flat} == {"alert-1"}
    # cleared 5 s after the last detection (cycle 41)
    assert flat[-1].time == 41.0 + 5.0


def test_re_detection_after_clear_is_a_new_alert() -> None:
    book = AlertBook(ids())
    pattern = "11" + "0" * 5 + "11"
    flat = [t for ts in run(book, [{A: 1} if c == "1" else {} for c in pattern]) for t in ts]
    assert [(t.kind, t.alert_id) for t in flat] == [
        ("raised", "alert-1"),
        ("cleared", "alert-1"),
        ("raised", "alert-2"),
    ]


def test_updated_only_on_material_change() -> None:
    book = AlertBook(ids())
    payloads = [10, 10, 10, 11, 11, 12, 12]
    per_cycle = run(book, [{A: p} for p in payloads])
    assert kinds(per_cycle) == [[], ["raised"], [], ["updated"], [], ["updated"], []]
    assert [t.payload for ts in per_cycle for t in ts] == [10, 11, 12]


def test_custom_change_compares_with_the_last_reported_payload() -> None:
    # a change is material when the time to conflict moved by 5 s or more since last told
    book = AlertBook(ids(), changed=lambda old, new: abs(old - new) >= 5)
    payloads = [60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50]
    per_cycle = run(book, [{A: p} for p in payloads])
    updates = [t.payload for ts in per_cycle for t in ts if t.kind == "updated"]
    assert updates == [54]


def test_re_detection_within_hysteresis_with_new_payload_is_updated() -> None:
    book = AlertBook(ids())
    per_cycle = run(book, [{A: 1}, {A: 1}, {}, {}, {A: 2}])
    assert kinds(per_cycle) == [[], ["raised"], [], [], ["updated"]]


def test_deterministic_ids_and_order() -> None:
    def scenario() -> list[tuple[str, Any, str]]:
        book = AlertBook(ids())
        cycles = [{B: 1, A: 1}, {A: 1, B: 1}, {}, {}, {}, {}, {}, {}]
        return [(t.kind, t.key, t.alert_id) for ts in run(book, cycles) for t in ts]

    first = scenario()
    assert first == scenario()
    # raised in the order of the cycle's detections mapping; cleared in first-tracked order
    assert first == [
        ("raised", A, "alert-1"),
        ("raised", B, "alert-2"),
        ("cleared", B, "alert-2"),
        ("cleared", A, "alert-1"),
    ]


def test_time_must_not_go_backwards() -> None:
    book = AlertBook(ids())
    book.step(10.0, {})
    book.step(10.0, {})  # equal is fine
    with pytest.raises(ValueError):
        book.step(9.0, {})


def test_restore_rebuilds_raised_alerts() -> None:
    book = AlertBook(ids())
    book.restore(A, "old-7", {"t_in": 30}, raised_at=1000.0)
    (alert,) = book.active()
    assert (alert.alert_id, alert.payload, alert.raised_at) == ("old-7", {"t_in": 30}, 1000.0)
    with pytest.raises(ValueError):
        book.restore(A, "old-8", {}, raised_at=1000.0)
    # re-detected with the same payload: no transition; with a new one: updated, same id
    assert book.step(2000.0, {A: {"t_in": 30}}) == []
    (t,) = book.step(2001.0, {A: {"t_in": 29}})
    assert (t.kind, t.alert_id) == ("updated", "old-7")
    # never detected again: cleared 5 s after the last detection, under its old id
    assert book.step(2005.9, {}) == []
    (t,) = book.step(2006.0, {})
    assert (t.kind, t.alert_id, t.payload) == ("cleared", "old-7", {"t_in": 29})


def test_restored_alert_gets_a_full_hysteresis_after_restart() -> None:
    book = AlertBook(ids())
    book.restore(B, "old-1", "p", raised_at=0.0)
    # the first cycle after the restart is long after raised_at: not cleared yet
    assert book.step(500.0, {}) == []
    assert book.step(504.9, {}) == []
    assert [(t.kind, t.alert_id) for t in book.step(505.0, {})] == [("cleared", "old-1")]


def test_memory_does_not_grow_with_churn() -> None:
    book = AlertBook(ids())
    for cycle in range(2000):
        # every cycle 50 brand-new keys, each detected once: never raised
        detections = {("conflict", f"a{cycle}-{k}", "b"): k for k in range(50)}
        assert book.step(float(cycle), detections) == []
        assert book.tracked <= 3 * 50  # the keys that can still count in the next window


@SETTINGS
@given(
    st.lists(
        st.sets(st.integers(min_value=0, max_value=30), max_size=12),
        min_size=1,
        max_size=80,
    ),
    st.floats(min_value=0.2, max_value=3.0),
)
def test_bounded_memory_and_consistency_under_random_churn(
    cycles: list[set[int]], dt: float
) -> None:
    """Random detections from a pool of keys: the book holds only keys that are raised or were
    detected within the window, ids are unique, and each alert goes raised → (updated)* →
    cleared."""
    book = AlertBook(ids())
    history: list[set[int]] = []
    state: dict[int, str] = {}  # key -> alert id while raised
    seen_ids: set[str] = set()
    last_seen: dict[int, float] = {}
    for i, detected in enumerate(cycles):
        now = i * dt
        transitions = book.step(now, {k: (k, i // 5) for k in detected})
        history.append(detected)
        last_seen.update({k: now for k in detected})
        for t in transitions:
            if t.kind == "raised":
                assert t.key not in state and t.alert_id not in seen_ids
                state[t.key] = t.alert_id
                seen_ids.add(t.alert_id)
                recent = history[-4:]
                assert sum(t.key in h for h in recent) >= 2
            elif t.kind == "updated":
                assert state[t.key] == t.alert_id and t.key in detected
            else:
                assert state.pop(t.key) == t.alert_id and t.key not in detected
                assert now - last_seen[t.key] >= 5.0 - 1e-9
        for key in detected:  # confirmed keys are raised
            if sum(key in h for h in history[-4:]) >= 2:
                assert key in state
        for key in state:  # raised keys are within their hysteresis
            assert now - last_seen[key] < 5.0
        recent_keys = set().union(*history[-3:])
        assert book.tracked <= len(recent_keys | set(state))
        assert {a.key for a in book.active()} == set(state)


# --- a bounded cycle: admit and most_urgent -----------------------------------------------------


def test_a_refused_raise_waits_and_is_raised_once_admitted() -> None:
    book = AlertBook(ids())
    book.step(0.0, {A: 1})
    assert book.step(1.0, {A: 1}, admit=lambda key, payload, kind: False) == []
    assert book.active() == []
    (raised,) = book.step(2.0, {A: 1}, admit=lambda key, payload, kind: True)
    assert (raised.kind, raised.alert_id) == ("raised", "alert-1")


def test_a_refused_update_is_told_later_against_the_payload_last_told() -> None:
    book = AlertBook(ids())
    run(book, [{A: 1}, {A: 1}])
    assert book.step(2.0, {A: 2}, admit=lambda key, payload, kind: kind != "updated") == []
    (updated,) = book.step(3.0, {A: 2})
    assert (updated.kind, updated.payload) == ("updated", 2)


def test_a_refused_clear_is_retried_next_cycle_and_blocks_nothing_else() -> None:
    book = AlertBook(ids())
    run(book, [{A: 1, B: 1}, {A: 1, B: 1}])
    only_b = lambda key, payload, kind: key == B  # noqa: E731
    assert [(t.kind, t.key) for t in book.step(7.0, {}, admit=only_b)] == [("cleared", B)]
    assert [a.key for a in book.active()] == [A]
    assert [(t.kind, t.key) for t in book.step(8.0, {})] == [("cleared", A)]


def _most_urgent_reference(t, sep, ga, gb, room, held):  # type: ignore[no-untyped-def]
    """One group at a time, in plain Python: each group's ``room`` most urgent rows."""
    urgency = sorted(range(len(t)), key=lambda r: (t[r], sep[r], r))
    kept = {r for r in range(len(t)) if held[r]}
    for g in range(len(room)):
        mine = [r for r in urgency if not held[r] and g in (ga[r], gb[r])]
        kept.update(mine[:room[g]])
    return [r for r in urgency if r in kept]


@SETTINGS
@given(st.data())
def test_most_urgent_keeps_each_groups_most_urgent(data: st.DataObject) -> None:
    groups = data.draw(st.integers(1, 4))
    n = data.draw(st.integers(0, 40))
    times = st.sampled_from([0.0, 0.0, 5.0, 10.0, 60.0])
    t = data.draw(st.lists(times, min_size=n, max_size=n))
    sep = data.draw(st.lists(st.sampled_from([0.0, 100.0, 900.0, float("inf")]),
                             min_size=n, max_size=n))
    ga = data.draw(st.lists(st.integers(0, groups - 1), min_size=n, max_size=n))
    gb = data.draw(st.lists(st.integers(-1, groups - 1), min_size=n, max_size=n))
    room = data.draw(st.lists(st.integers(0, 6), min_size=groups, max_size=groups))
    held = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    got = most_urgent(t, sep, ga, gb, room, held=held).tolist()
    assert got == _most_urgent_reference(t, sep, ga, gb, room, held)
    assert len(got) <= sum(held) + sum(room)
