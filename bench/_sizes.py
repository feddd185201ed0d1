"""Run a benchmark once per size, each in a fresh process, so one size's memory (and peak RSS)
never counts against the next. The script calls itself with ``--one N --seed S`` and prints
one JSON line as its last line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def measure_sizes(script: str, sizes: list[int], seed: int) -> list[dict[str, Any]]:
    """The JSON rows ``script --one N --seed seed`` printed, one per size, in order."""
    rows = []
    for n in sizes:
        print(f"N = {n:,}", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, script, "--one", str(n), "--seed", str(seed)],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows
