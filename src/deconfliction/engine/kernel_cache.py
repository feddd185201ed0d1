"""The tactical detector's compiled kernels, compiled when the package is installed.

numba compiles a kernel on its first call, for the argument types of that call: tens of seconds
for the detector's kernels on a busy 2-core machine, which the first detection cycle of a fresh
process would otherwise wait for. The kernels are compiled with ``cache=True``, so numba keeps
what it compiled on disk (beside the module, in ``__pycache__``) and a later process loads it.
``make install`` and ``make install-test`` run this module once (``python -m
deconfliction.engine.kernel_cache``): it runs the detector on a small picture with a conflict,
so that every kernel is compiled for exactly the types the detector passes, and the cache holds
them before any server, demo or test starts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba.core.dispatcher import Dispatcher

from deconfliction.engine import _tactical_kernels as _k
from deconfliction.engine.tactical import detect_conflicts
from deconfliction.model.track import TrackArrays

#: The kernels the detector calls (the helpers they call are compiled into them).
KERNELS: dict[str, Dispatcher[Callable[..., Any]]] = {
    "slice_grid": _k.slice_grid, "slice_pairs": _k.slice_pairs, "assemble": _k.assemble}


@dataclass(frozen=True)
class KernelState:
    """How a kernel came to be ready in this process: signatures loaded from the on-disk cache
    (``loaded``) and compiled here (``compiled``)."""

    name: str
    loaded: int
    compiled: int


def warm_up() -> list[KernelState]:
    """Run the detector once on two aircraft converging head-on (a conflict, so that every
    kernel runs), loading each kernel from the cache or compiling it into the cache."""
    picture = TrackArrays(
        ("warm-up-1", "warm-up-2"), np.array([36.0, 36.0]), np.array([37.0, 37.2]),
        np.array([8000.0, 8000.0]), np.array([200.0, 200.0]), np.array([90.0, 270.0]),
        np.zeros(2), np.array([0, 1]), time_s=0.0)
    found = detect_conflicts(picture, horizontal_m=9260.0, vertical_m=304.8, look_ahead_s=120.0)
    assert len(found.i) == 1, "the warm-up picture holds one conflict"
    return state()


def state() -> list[KernelState]:
    """Each kernel's cache hits and compilations in this process so far."""
    return [KernelState(name, sum(kernel.stats.cache_hits.values()),
                        sum(kernel.stats.cache_misses.values()))
            for name, kernel in KERNELS.items()]


def main() -> int:
    states = warm_up()
    compiled = [s.name for s in states if s.compiled]
    loaded = [s.name for s in states if s.loaded and not s.compiled]
    print(f"tactical kernels: compiled into the cache {compiled or 'none'}, "
          f"loaded from it {loaded or 'none'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
