"""After-commit hooks: how the live streams learn, without polling, what was appended."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from deconfliction.model.event import Event
from deconfliction.store.base import CommitHook

log = logging.getLogger(__name__)


class CommitHooks:
    """Mixed into a store: ``on_commit`` registers, ``_committed`` runs after each commit."""

    def __init__(self) -> None:
        self._hooks: list[CommitHook] = []

    def on_commit(self, hook: CommitHook) -> None:
        self._hooks.append(hook)

    def _committed(self, events: Sequence[Event]) -> None:
        if not events:
            return
        for hook in self._hooks:
            try:
                hook(events)
            except Exception:  # a hook never undoes or fails a committed transaction
                log.exception("after-commit hook failed")
