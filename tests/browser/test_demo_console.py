"""The issue's acceptance picture: `deconfliction demo` as a user starts it, and the console
signed in as the demo's observer showing moving tracks, declared volumes, the no-fly zone and
at least one alert. The screenshot is saved as a test artefact."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

STARTUP_TIMEOUT_S = 60.0  # seeding the day on a loaded 2-core machine (kernels come compiled)
TOKEN_LINE = re.compile(r"^\s+monitor\s+observer\s+(\S+)\s*$", re.MULTILINE)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo(tmp_path: Path):
    """A running demo: (base URL, the observer's token)."""
    port = _free_port()
    out = tmp_path / "demo.out"
    with open(out, "wb") as out_f, open(tmp_path / "demo.err", "wb") as err_f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deconfliction", "demo", "--db", str(tmp_path / "demo.db"),
             "--port", str(port)],
            stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        token = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = TOKEN_LINE.search(out.read_text(errors="replace"))
            if found:
                token = found.group(1)
                try:
                    if httpx.get(base + "/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.25)
        else:
            pytest.fail(f"the demo did not start:\n{out.read_text()}\n"
                        f"{(tmp_path / 'demo.err').read_text()[-4000:]}")
        yield base, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def test_the_demo_on_the_console(demo, browser, sign_in, page_for_report, shot):
    base, token = demo
    context = browser.new_context(viewport={"width": 1600, "height": 950})
    page = context.new_page()
    page_for_report.pages.append(page)
    try:
        page.goto(base + "/#map=7.2/36.25/37.9")
        sign_in(page, token)
        expect(page.locator("#who")).to_have_text("monitor · observer")
        expect(page.locator(".area-label", has_text="NO-FLY")).to_have_count(1)
        expect(page.locator("#operations li.op").first).to_be_visible()
        expect(page.locator("#alerts li.alert").first).to_be_visible(timeout=60_000)
        labels = page.locator(".track-label")
        expect(labels.first).to_be_visible()
        assert labels.count() >= 2
        moving = labels.first.get_attribute("data-aircraft")
        before = page.locator(f'.track-label[data-aircraft="{moving}"]').get_attribute("data-lon")
        page.wait_for_function(
            """([id, lon]) => {
                const el = document.querySelector(`.track-label[data-aircraft="${id}"]`);
                return el && el.dataset.lon !== lon;
            }""", arg=[moving, before])
        shot(page, "demo-observer")
    finally:
        context.close()
