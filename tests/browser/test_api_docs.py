"""The API's documentation page at ``/docs``: Swagger UI built from the npm package
swagger-ui-dist into the console's build and served from the package, so it works with no
internet (FastAPI's own ``/docs`` loads Swagger UI from a CDN). Without a build, ``/docs``
says how to make one and points at ``/openapi.json`` — never a 500."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from deconfliction.api.routes import console

DOCS_PAGE = console.DIST / "docs.html"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

needs_build = pytest.mark.skipif(
    not DOCS_PAGE.is_file(), reason=f"the console is not built ({DOCS_PAGE} missing: make console)")


def get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    """GET each path from the app in-process."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return [await client.get(p) for p in paths]

    # in a thread of its own: Playwright's sync API may hold this thread's event loop
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


class _Resources(HTMLParser):
    """The scripts and stylesheets (and preloads) a page names."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        elif tag == "link" and a.get("href"):
            self.links.append(a["href"] or "")


def _resources(html: str) -> _Resources:
    parser = _Resources()
    parser.feed(html)
    return parser


# ---------------------------------------------------------------------------------------------
# Served by the app (no browser)
# ---------------------------------------------------------------------------------------------


def test_without_a_build_docs_says_how_to_build_it(tmp_path: Path):
    app = FastAPI(docs_url=None, redoc_url=None)
    console.install(app, dist=tmp_path)  # an empty directory: nothing built
    docs, asset = get(app, "/docs", "/assets/docs.js")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert docs.headers["cache-control"] == "no-cache"
    assert "API docs page has not been built" in docs.text
    assert 'href="/openapi.json"' in docs.text and "machine-readable" in docs.text
    assert "npm ci" in docs.text and "npm run build" in docs.text and "make install" in docs.text
    assert asset.status_code == 404


def test_a_built_docs_page_is_served_at_docs(tmp_path: Path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "docs.html").write_text("<!doctype html><title>deconfliction API</title>")
    app = FastAPI(docs_url=None, redoc_url=None)
    console.install(app, dist=tmp_path)
    docs, root = get(app, "/docs", "/")
    assert docs.status_code == 200 and "<title>deconfliction API</title>" in docs.text
    assert docs.headers["content-type"].startswith("text/html")
    assert docs.headers["cache-control"] == "no-cache"
    assert "<title>console</title>" in root.text


@needs_build
def test_the_docs_page_loads_nothing_from_elsewhere(line):
    """On a real server (the app as ``deconfliction serve`` makes it): ``/docs`` is the packaged
    page, naming only same-origin scripts and stylesheets, each of which is served."""
    base = line.server.base_url
    docs = httpx.get(base + "/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "<title>deconfliction API</title>" in docs.text
    assert "cdn.jsdelivr.net" not in docs.text

    found = _resources(docs.text)
    named = found.scripts + found.links
    for ref in named:
        parts = urlsplit(ref)
        assert not parts.scheme and not parts.netloc, f"/docs names an outside resource: {ref}"
    assets = [urljoin(base + "/docs", ref) for ref in named]
    assets = [url for url in assets if urlsplit(url).path.startswith("/assets/")]
    assert any(url.endswith(".js") for url in assets), named
    assert any(url.endswith(".css") for url in assets), named
    for url in assets:
        r = httpx.get(url)
        assert r.status_code == 200, url
    # FastAPI's own documentation pages (CDN-loaded) are off
    assert httpx.get(base + "/redoc").status_code == 404
    assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "deconfliction"


# ---------------------------------------------------------------------------------------------
# In a browser with no internet
# ---------------------------------------------------------------------------------------------


def test_the_docs_render_with_no_internet(browser, line, page_for_report, shot):
    from playwright.sync_api import expect

    base = line.server.base_url
    origin = urlsplit(base)
    outside: list[str] = []  # requests that tried to leave this machine (aborted)
    failed: list[str] = []  # same-origin requests that failed or were refused
    errors: list[str] = []

    def only_loopback(route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    def same_origin(url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)

    context = browser.new_context()
    page = context.new_page()
    page_for_report.pages.append(page)
    page.route("**/*", only_loopback)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: failed.append(f"{req.url}: {req.failure}")
            if same_origin(req.url) else None)
    page.on("response", lambda resp: failed.append(f"{resp.url}: HTTP {resp.status}")
            if same_origin(resp.url) and resp.status >= 400 else None)
    try:
        page.goto(base + "/docs")
        expect(page).to_have_title("deconfliction API")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("deconfliction")
        operation = page.locator('.opblock-summary-path[data-path="/v1/messages"]').first
        expect(operation).to_be_visible()
        expect(page.locator(".swagger-ui .opblock-tag-section").first).to_be_visible()
        shot(page, "docs")
        # checked before the page closes (closing cancels what is still in flight)
        assert not outside, f"the docs page reached beyond this machine: {outside}"
        assert not failed, f"same-origin requests failed: {failed}"
        assert not errors, f"errors in the page: {errors}"
    finally:
        context.close()
