"""The real command line in a child process, exactly as an operator of the line runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from support.databases import Database

CLI_TIMEOUT_S = 60


def run_cli(
    db: Database, *args: str, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess:
    """Run ``python -m deconfliction ARGS... <db options>`` and return the finished process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "deconfliction", *args, *db.args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def add_party(db: Database, name: str, role: str) -> str:
    """``party add NAME --role ROLE``: exit 0, the bearer token alone on stdout."""
    proc = run_cli(db, "party", "add", name, "--role", role)
    assert proc.returncode == 0, (
        f"`party add {name} --role {role}` exited {proc.returncode}\n"
        f"stdout: {proc.stdout!r}\nstderr: {proc.stderr}"
    )
    token = proc.stdout.strip()
    assert token and len(token.split()) == 1 and "\n" not in token, (
        f"`party add` must print the bearer token alone on stdout, got {proc.stdout!r}"
    )
    return token


class CLI:
    """The CLI helpers as a fixture's value: ``cli.run(db, *args)``, ``cli.add_party(db, ...)``."""

    run = staticmethod(run_cli)
    add_party = staticmethod(add_party)
