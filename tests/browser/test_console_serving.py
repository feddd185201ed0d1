"""How the service serves the console and the API docs page: ``/``, ``/docs`` and ``/assets``
only, and a clear page (not a 500) when the console was never built. No browser needed."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI

from deconfliction.api.routes import console


def get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    """GET each path from the app in-process."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return [await client.get(p) for p in paths]

    # in a thread of its own: Playwright's sync API may hold this thread's event loop
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_a_missing_build_says_how_to_build_it(tmp_path: Path):
    app = FastAPI()
    console.install(app, dist=tmp_path / "nothing-here")
    r, asset = get(app, "/", "/assets/index.js")
    assert asset.status_code == 404
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "npm ci" in r.text and "npm run build" in r.text and "make install" in r.text


def test_a_build_is_served_at_the_root(tmp_path: Path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "assets" / "worker-abc.mjs").write_text("export {};")
    app = FastAPI()
    console.install(app, dist=tmp_path)
    page, worker, missing = get(app, "/", "/assets/worker-abc.mjs", "/assets/nope.js")
    assert page.status_code == 200 and "<title>console</title>" in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


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


def test_the_api_keeps_its_paths_beside_the_console(line):
    """On a real server: the console at "/", and the API, its docs and its 404s unchanged."""
    base = line.server.base_url
    root = httpx.get(base + "/")
    assert root.status_code == 200 and "<title>Deconfliction line" in root.text
    assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "deconfliction"
    assert httpx.get(base + "/docs").status_code == 200
    unknown = httpx.get(base + "/v1/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "/" not in httpx.get(base + "/openapi.json").json()["paths"]
