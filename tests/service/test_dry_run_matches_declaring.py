"""A dry run (``check_operation``) and declaring the same plan at the same instant meet the very
same refusal, member for member — suggestions' shifts included, which for a short-notice plan
are measured from "now". With the line's clock fixed, nothing moves between the two calls (the
end-to-end test over HTTP compares what does not depend on the second it was asked in)."""

from __future__ import annotations

import pytest

from deconfliction.model.party import Role
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import operations
from deconfliction.service.errors import Refusal, ShortNoticeRefused
from deconfliction.service.line import Line
from support.service_level import T0, FakeClock, add_parties

pytestmark = pytest.mark.anyio

CENTRE = (37.0, 36.0)


async def test_short_notice_refusal_is_the_same_dry_run_or_declared(
        line: Line, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    clock.at(0.0)
    # starts in 10 minutes: inside the notice period, so declared at short notice
    soon = (Volume(CircleFootprint(CENTRE, 1000.0), 1000.0, 2000.0, T0 + 600, T0 + 4200),)
    first = await operations.declare_operation(
        line, made["blue"], operations.DeclareOperation(soon), clock())
    assert first.operation.short_notice is True

    clock.at(1.0)
    plan = operations.DeclareOperation(soon, priority=5, key=(first.operation.ovn,))
    checked = await operations.check_operation(line, made["red"], plan, clock())
    assert isinstance(checked, ShortNoticeRefused), checked
    with pytest.raises(Refusal) as declared:
        await operations.declare_operation(line, made["red"], plan, clock())

    assert type(declared.value) is type(checked)
    assert declared.value.detail == checked.detail
    assert declared.value.extensions == checked.extensions
    assert [c["operation_id"] for c in checked.extensions["conflicts"]] == [first.operation.id]
    # the time shifts that leave the notice period are measured from now
    later = [s["shift_s"] for s in checked.extensions["suggestions"]
             if s["kind"] == "time_shift" and s["shift_s"] > 0]
    assert later, checked.extensions["suggestions"]
