"""Costly jobs pass a fair gate (`service.fair_gate`): one job of a party at a time, at most
``costly_jobs`` in the process, the waiting parties in turn; a party with
``costly_jobs_queued`` jobs waiting is refused; a waiter that goes away leaves its place."""

from __future__ import annotations

import asyncio

import pytest

from deconfliction.model.limits import Limits
from deconfliction.model.party import Role
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import operations
from deconfliction.service.errors import RateLimited
from deconfliction.service.fair_gate import FairGate
from deconfliction.service.line import Line
from support.service_level import T0, FakeClock, add_parties

pytestmark = pytest.mark.anyio


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(20):
        await asyncio.sleep(0)


class Jobs:
    """Jobs that hold the gate until released, recording when each was admitted."""

    def __init__(self, gate: FairGate, limits: Limits) -> None:
        self.gate, self.limits = gate, limits
        self.admitted: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    def start(self, party: str, name: str) -> asyncio.Task[None]:
        self.release[name] = asyncio.Event()

        async def run() -> None:
            async with self.gate.job(party, self.limits):
                self.admitted.append(name)
                await self.release[name].wait()

        return asyncio.create_task(run())

    async def finish(self, name: str) -> None:
        self.release[name].set()
        await settle()


async def test_another_partys_job_goes_before_a_burst_queued_behind_itself() -> None:
    jobs = Jobs(FairGate(), Limits(costly_jobs=1, costly_jobs_queued=16))
    tasks = [jobs.start("evil", f"evil{k}") for k in range(10)]
    await settle()
    tasks.append(jobs.start("blue", "blue0"))
    await settle()
    assert jobs.admitted == ["evil0"]
    assert jobs.gate.waiting("evil") == 9 and jobs.gate.waiting("blue") == 1
    await jobs.finish("evil0")
    assert jobs.admitted == ["evil0", "blue0"]  # not evil1, queued long before
    await jobs.finish("blue0")
    for k in range(1, 10):
        await jobs.finish(f"evil{k}")
    await asyncio.gather(*tasks)
    assert jobs.admitted[2:] == [f"evil{k}" for k in range(1, 10)]
    assert jobs.gate.running == 0 and jobs.gate.waiting("evil") == 0


async def test_at_most_costly_jobs_run_and_one_of_each_party() -> None:
    jobs = Jobs(FairGate(), Limits(costly_jobs=2))
    tasks = [jobs.start(p, f"{p}{k}") for k in range(2) for p in ("a", "b", "c")]
    await settle()
    assert sorted(jobs.admitted) == ["a0", "b0"]
    assert jobs.gate.running == 2
    await jobs.finish("a0")
    assert jobs.admitted[2] == "c0"  # c waited longest; a's next job waits for b and c
    await jobs.finish("b0")
    assert jobs.admitted[3] == "a1"
    await jobs.finish("c0")
    assert jobs.admitted[4] == "b1"
    for name in ("a1", "b1"):
        await jobs.finish(name)
    await jobs.finish("c1")
    await asyncio.gather(*tasks)
    assert jobs.gate.running == 0


async def test_a_party_with_its_queue_full_is_refused_naming_the_limit() -> None:
    jobs = Jobs(FairGate(), Limits(costly_jobs=2, costly_jobs_queued=3))
    tasks = [jobs.start("evil", f"evil{k}") for k in range(4)]  # one runs, three wait
    await settle()
    with pytest.raises(RateLimited) as refused:
        async with jobs.gate.job("evil", jobs.limits):
            pass
    assert refused.value.extensions == {"limit": "costly_jobs_queued", "value": 3}
    assert refused.value.retry_after_s > 0
    async with jobs.gate.job("blue", jobs.limits):  # another party is not refused
        pass
    for k in range(4):
        await jobs.finish(f"evil{k}")
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_leaves_its_place() -> None:
    jobs = Jobs(FairGate(), Limits(costly_jobs=1, costly_jobs_queued=2))
    first = jobs.start("a", "a0")
    waiting = [jobs.start("a", "a1"), jobs.start("a", "a2")]
    blue = jobs.start("b", "b0")
    await settle()
    for task in [*waiting, blue]:
        task.cancel()
    await settle()
    assert jobs.gate.waiting("a") == 0 and jobs.gate.waiting("b") == 0
    late = jobs.start("a", "a3")  # the queue has room again
    await settle()
    await jobs.finish("a0")
    assert jobs.admitted == ["a0", "a3"]
    await jobs.finish("a3")
    await asyncio.gather(first, late)
    assert jobs.gate.running == 0


async def test_a_waiter_cancelled_as_it_is_admitted_passes_its_place_on() -> None:
    jobs = Jobs(FairGate(), Limits(costly_jobs=1))
    first = jobs.start("a", "a0")
    await settle()
    second = jobs.start("b", "b0")
    third = jobs.start("c", "c0")
    await settle()
    jobs.release["a0"].set()
    await asyncio.sleep(0)  # a0 leaves and admits b0, whose task has not resumed yet
    second.cancel()
    await settle()
    assert jobs.admitted == ["a0", "c0"]
    await jobs.finish("c0")
    await asyncio.gather(first, third)
    assert second.cancelled() and jobs.gate.running == 0


async def test_a_dry_run_waits_for_its_partys_turn(line: Line, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR)
    clock.at(0.0)
    plan = operations.DeclareOperation(
        (Volume(CircleFootprint((37.0, 36.0), 1000.0), 0.0, 100.0, T0 + 7200, T0 + 9000),))
    held = line.gate.job("blue", line.settings.limits)
    await held.__aenter__()
    dry_run = asyncio.create_task(operations.check_operation(line, made["blue"], plan, clock()))
    await settle()
    assert line.gate.waiting("blue") == 1 and not dry_run.done()
    await held.__aexit__(None, None, None)
    assert isinstance(await dry_run, operations.Acceptable)
    assert line.gate.running == 0
