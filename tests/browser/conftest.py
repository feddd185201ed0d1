"""Browser tests of the operator console: Playwright for Python driving Debian's Chromium
(``/usr/bin/chromium``, installed by ``make install-test``; Playwright's own browsers are never
downloaded) against a real ``deconfliction serve`` process made by the end-to-end harness.

Fixtures:

* ``line`` (session): one SQLite server with fast detection (the tactical harness's
  ``FAST_CONFIG``) and the harness's parties (blue, red, mission, watch, spare), with its
  :class:`API`. Tests share it, each in its own place on the map and with its own aircraft.
* ``browser`` (session) and ``open_console`` (function): a page signed in as a party;
  ``sign_in(page, token)`` for pages opened otherwise.
* ``tactical`` (session): the e2e tactical helpers (``Flight``, ``Feeder``, ``head_on``).
* ``shot`` (function): save a screenshot under ``tests/artifacts/browser/`` (printed).

Everything skips, saying why, when Chromium, Playwright or the built console is missing.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support import tactical as _tactical
from support.api import API
from support.server import RUNNING, ServerFactory

CHROMIUM = os.environ.get("DECONFLICTION_CHROMIUM", "/usr/bin/chromium")
TESTS = Path(__file__).resolve().parents[1]
ARTIFACTS = TESTS / "artifacts" / "browser"
CONSOLE_INDEX = TESTS.parent / "src" / "deconfliction" / "console_dist" / "index.html"
# Software WebGL (SwiftShader) in a headless browser with no GPU: the map needs WebGL.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
VIEWPORT = {"width": 1440, "height": 900}
WAIT_MS = 15_000  # the longest any expectation waits (bounded waits only, no timing asserts)


def _unavailable() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium not found at {CHROMIUM} "
                "(make install-test installs Debian's chromium as root)")
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CONSOLE_INDEX.is_file():
        return f"the console is not built ({CONSOLE_INDEX} missing: make console)"
    return None


def pytest_collection_modifyitems(config, items):  # noqa: ARG001 - pytest hook signature
    reason = _unavailable()
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent \
                and {"browser", "open_console"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


# ---------------------------------------------------------------------------------------------
# The line
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def line(session_databases, cli, tmp_path_factory) -> Iterator[Any]:
    """A running server (SQLite, fast detection) with the harness's parties, and its API."""
    factory = ServerFactory(session_databases, {"_cli": cli}, session_databases,
                            tmp_path_factory.mktemp("browser-line"))
    server = factory.start("sqlite", config=_tactical.FAST_CONFIG)
    api = API(server)
    yield api
    api.close()
    factory.stop_all()


@pytest.fixture(scope="session")
def tactical() -> ModuleType:
    """The tactical harness's helpers: ``Flight``, ``Feeder``, ``head_on``, ``uid``."""
    return _tactical


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001 - pytest hook signature
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        page = item.funcargs.get("page_for_report")
        for i, p in enumerate(getattr(page, "pages", [])):
            try:
                path = ARTIFACTS / f"{_slug(item.name)}-failure-{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                p.screenshot(path=str(path))
                report.sections.append(("screenshot", str(path)))
            except Exception as exc:  # noqa: BLE001 - the report must still be made
                report.sections.append(("screenshot", f"could not take one: {exc}"))
        for srv in list(RUNNING):
            report.sections.append((f"server stderr ({srv.base_url})", srv.log_text(8000)))


# ---------------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # per module, not per session: Playwright's sync API keeps an event loop running on the
    # main thread while it is open, which would break later tests that call asyncio.run()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Pages:
    """The pages a test opened (screenshotted when it fails)."""

    def __init__(self) -> None:
        self.pages: list[Any] = []
        self.errors: list[str] = []


@pytest.fixture
def page_for_report() -> Pages:
    return Pages()


@pytest.fixture
def open_console(browser, line, page_for_report) -> Iterator[Callable[..., Any]]:
    """``open_console("blue", view=(lon, lat, zoom))``: a new page signed in as that party."""
    contexts = []

    def open_(party: str, *, view: tuple[float, float, float] | None = None) -> Any:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: page_for_report.errors.append(f"{party}: {exc}"))
        page_for_report.pages.append(page)
        url = line.server.base_url + "/"
        if view is not None:
            lon, lat, zoom = view
            url += f"#map={zoom}/{lat}/{lon}"
        page.goto(url)
        _sign_in(page, line.tokens[party])
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not page_for_report.errors, f"errors in the page: {page_for_report.errors}"


def _sign_in(page: Any, token: str) -> None:
    """Sign in on the page's sign-in form; return once the stream is live and the map ready."""
    from playwright.sync_api import expect

    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true")


@pytest.fixture(scope="session")
def sign_in() -> Callable[[Any, str], None]:
    return _sign_in


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@pytest.fixture
def shot(request) -> Callable[[Any, str], Path]:
    """Save a screenshot of ``page`` as a test artefact and print where it is."""

    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{_slug(request.node.name)}-{_slug(name)}.png"
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    return take


@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts(request: pytest.FixtureRequest) -> None:
    """Screenshots of this run only: the first process of a run to get here empties the folder.
    Parallel workers (pytest-xdist) share the run's ``testrunuid``; a lock and a marker file make
    the first one of them clean and the others leave the folder (and each other's shots) alone."""
    if _unavailable() is not None:
        return
    run = getattr(request.config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    marker = ARTIFACTS / ".run"
    with open(ARTIFACTS.parent / ".browser.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == run:
            return
        if ARTIFACTS.is_dir():
            shutil.rmtree(ARTIFACTS)
        ARTIFACTS.mkdir(parents=True)
        marker.write_text(run)
