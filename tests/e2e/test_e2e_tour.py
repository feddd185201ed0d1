"""The README's quick tour runs as written: ``examples/tour.sh`` is that tour as a script (a
fresh line of its own on a free port, times relative to now, tokens in variables); it must run
to the end, and the README must show exactly its commands (between the ``tour`` markers)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "tour.sh"
README = ROOT / "README.md"
TOUR_TIMEOUT_S = 300  # a bound for a hung run, not a timing assertion


def script_tour() -> str:
    text = SCRIPT.read_text()
    return text.split("# --- tour ---\n", 1)[1].split("# --- end of tour ---\n", 1)[0]


def readme_tour() -> str:
    found = re.search(r"<!-- tour: examples/tour\.sh -->\n```sh\n(.*?)```\n<!-- end of tour -->",
                      README.read_text(), re.S)
    assert found, "README.md has no tour block between the tour markers"
    return found.group(1)


def test_the_readme_shows_the_scripts_commands():
    assert readme_tour() == script_tour()


@pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")),
                    reason="the tour needs curl and jq")
def test_the_tour_runs_as_written(tmp_path):
    env = {**os.environ, "PORT": str(free_port()), "TOUR": str(tmp_path)}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=TOUR_TIMEOUT_S, check=False)
    log = tmp_path / "server.log"
    assert done.returncode == 0, (
        f"tour.sh exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}\n"
        f"server log:\n{log.read_text() if log.exists() else '(none)'}")
    assert "false" not in done.stdout.split(), "a check of the tour answered false"
    assert re.search(r"^ok: \d+ leaves, \d+ entries in full", done.stdout, re.M), done.stdout
