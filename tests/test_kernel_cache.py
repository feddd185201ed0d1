"""The tactical kernels are compiled once and loaded from numba's on-disk cache after that, so a
fresh process's first detection never waits for the compiler (``make install`` fills the cache
with ``python -m deconfliction.engine.kernel_cache``)."""

from __future__ import annotations

import json
import subprocess
import sys

REPORT = ("import json; from deconfliction.engine import kernel_cache; "
          "print(json.dumps([[s.name, s.loaded, s.compiled] for s in kernel_cache.warm_up()]))")


def _first_detection_in_a_new_process() -> dict[str, tuple[int, int]]:
    out = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True,
                         check=True, timeout=600).stdout
    return {name: (loaded, compiled) for name, loaded, compiled in json.loads(out)}


def test_a_new_process_loads_every_kernel_from_the_cache() -> None:
    _first_detection_in_a_new_process()  # fills the cache if this checkout's install did not
    states = _first_detection_in_a_new_process()
    assert set(states) == {"slice_grid", "slice_pairs", "assemble"}
    for name, (loaded, compiled) in states.items():
        assert compiled == 0, f"{name} was compiled again in a new process"
        assert loaded >= 1, f"{name} was not loaded from the cache"
