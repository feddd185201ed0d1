"""The ``deconfliction`` command: its actions (``main``), the ledger and incident actions, the
demo scenario, the incident charts, and the server's start-up heap settling."""

from deconfliction.cli.main import main

__all__ = ["main"]
