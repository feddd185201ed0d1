"""The API's documentation page at ``/docs``: Swagger UI built from the npm package
swagger-ui-dist into the console's build and served from the package, so it works with no
internet (FastAPI's own ``/docs`` loads Swagger UI from a CDN). Without a build, ``/docs``
says how to make one and points at ``/openapi.json`` — never a 500."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from deconfliction.api.routes import console

DOCS_PAGE = console.DIST / "docs.html"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

needs_build = pytest.mark.skipif(
    not DOCS_PAGE.is_file(), reason=f"the console is not built ({DOCS_PAGE} missing: make console)")


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
# Served by a real server (no browser; the page's serving without a build is tested in
# test_console_serving.py)
# ---------------------------------------------------------------------------------------------


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


@needs_build
def test_authorize_then_try_it_out(browser, line, page_for_report, shot):
    """The document's bearer scheme gives ``/docs`` its "Authorize" button: with a party's
    token there, "Try it out" on "The calling party" answers 200 with that party."""
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page_for_report.pages.append(page)
    try:
        page.goto(line.server.base_url + "/docs")
        page.locator(".swagger-ui .btn.authorize").first.click()
        page.locator(".auth-container input").first.fill(line.server.tokens["blue"])
        page.locator(".auth-btn-wrapper .btn.modal-btn.auth.authorize").first.click()
        page.locator(".auth-btn-wrapper .btn-done").first.click()
        operation = page.locator("#operations-line-whoami")
        operation.locator(".opblock-summary").click()
        operation.locator(".try-out__btn").click()
        operation.locator(".btn.execute").click()
        answer = operation.locator(".live-responses-table tbody .response-col_status").first
        expect(answer).to_have_text("200")
        expect(operation.locator(".live-responses-table .microlight").first
               ).to_contain_text('"blue"')
        shot(page, "docs-try-it-out")
    finally:
        context.close()
