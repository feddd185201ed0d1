"""The strategic index's keys: under which space-time cells each stored volume is filed.

The store files volumes under the keys it is given and searches key ranges; which cells a volume
covers (`engine.cells.cover`) and whether a record is indexed at all (an ended operation, a
withdrawn constraint are not: nothing can conflict with them) is decided here, in the service.
"""

from __future__ import annotations

from collections.abc import Sequence

from deconfliction.engine.cells import cover
from deconfliction.engine.footprint import geographic_bounds
from deconfliction.model.constraint import Constraint, ConstraintState
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.volume import Volume

__all__ = ["VolumeCells", "constraint_cells", "operation_cells", "volume_cells"]

VolumeCells = list[list[int]]
"""The cell keys of each volume, in the volumes' order; empty: not indexed."""


def volume_cells(volumes: Sequence[Volume]) -> VolumeCells:
    """The cell keys each volume is filed under (its own bounds; searches add the minima)."""
    return [cover(geographic_bounds(v.footprint), 0.0, v.time_start, v.time_end).tolist()
            for v in volumes]


def operation_cells(operation: Operation) -> VolumeCells:
    """An operation's keys: none once it has ended."""
    return [] if operation.state is OperationState.ENDED else volume_cells(operation.volumes)


def constraint_cells(constraint: Constraint) -> VolumeCells:
    """A constraint's keys: only while it is active."""
    return volume_cells(constraint.volumes) if constraint.state is ConstraintState.ACTIVE else []
