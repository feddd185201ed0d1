"""Every example in the package's docstrings runs and shows what it says (``make test`` runs
them: one test per module that has examples)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import deconfliction

# Alembic's migration scripts run only inside a migration (env.py reads alembic's context).
SKIP = ("deconfliction.store.migrations",)


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(deconfliction.__path__, "deconfliction."):
        if info.name.startswith(SKIP) or info.ispkg:
            continue
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None, info.name
        if ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_examples_are_found() -> None:
    # The walk itself works: these modules are known to carry examples.
    assert {"deconfliction.engine.merkle", "deconfliction.model.time"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.attempted > 0, f"{name}: no example ran (a '>>> ' outside a docstring?)"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
