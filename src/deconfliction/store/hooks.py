"""After-commit hooks: how the live stream learns, without polling, that a party's stream grew."""

from __future__ import annotations

import logging

from deconfliction.store.base import CommitHook

log = logging.getLogger(__name__)


class CommitHooks:
    """Mixed into a store: ``on_commit`` registers, ``_committed`` runs after each commit."""

    def __init__(self) -> None:
        self._hooks: list[CommitHook] = []

    def on_commit(self, hook: CommitHook) -> None:
        self._hooks.append(hook)

    def _committed(self, parties: set[str]) -> None:
        if not parties:
            return
        for hook in self._hooks:
            try:
                hook(parties)
            except Exception:  # a hook never undoes or fails a committed transaction
                log.exception("after-commit hook failed")
