"""The operator console at ``/`` and the API's documentation page at ``/docs``: web pages
built from ``console/`` by npm into ``console_dist/`` (package data). ``/docs`` is Swagger UI
(from the npm package swagger-ui-dist) reading ``/openapi.json``, every file of it served from
the package, so it works offline (FastAPI's own ``/docs`` loads Swagger UI from a CDN and is
turned off in ``api/app.py``). Without a build, each page says how to make one — never a 500.

Only ``/``, ``/docs`` and ``/assets/…`` (both pages' hashed files) are served, so every other
path (``/v1/…``, ``/openapi.json``, unknown ones) keeps the API's own answers.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DIST = Path(__file__).resolve().parents[2] / "console_dist"

HOW_TO_BUILD = """\
<p>Build them (Node.js 20.19 or newer and npm are needed) and reload this page:</p>
<pre>make install          # or, by hand:
cd console &amp;&amp; npm ci &amp;&amp; npm run build</pre>"""

NOT_BUILT = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Console not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>The console has not been built</h1>
<p>This line is running and its API answers under /v1 (described by
<a href="/openapi.json">/openapi.json</a>), but the web console's files are missing from the
installed package.</p>
{HOW_TO_BUILD}
</body></html>
"""

DOCS_NOT_BUILT = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API docs not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>The API docs page has not been built</h1>
<p>This line is running and its API answers under /v1. Its machine-readable description is at
<a href="/openapi.json">/openapi.json</a> (OpenAPI); the page that shows it here (Swagger UI) is
built with the web console, whose files are missing from the installed package.</p>
{HOW_TO_BUILD}
</body></html>
"""


class _Assets(StaticFiles):
    """Static files with a JavaScript type for ``.mjs`` whatever the platform's mime table
    says (the map's worker is a module script, which browsers refuse under another type), and
    a 404 rather than an error while there is no build."""

    async def check_config(self) -> None:
        if self.directory is not None and not Path(self.directory).is_dir():
            raise HTTPException(404, "the console is not built")  # checked again next time
        await super().check_config()

    def file_response(self, full_path: str | PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith(".mjs"):
            response.headers["content-type"] = "text/javascript; charset=utf-8"
        return response


def install(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the console and the API docs page from ``dist`` (call after the API routers)."""
    index = dist / "index.html"
    docs = dist / "docs.html"

    @app.get("/", include_in_schema=False, response_model=None)
    async def console() -> FileResponse | HTMLResponse:
        if index.is_file():
            # the page is small and names hashed assets: always fetch it fresh
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(NOT_BUILT, headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False, response_model=None)
    async def api_docs() -> FileResponse | HTMLResponse:
        if docs.is_file():
            return FileResponse(docs, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(DOCS_NOT_BUILT, headers={"Cache-Control": "no-cache"})

    # mounted even before a build exists, so a build made while the line runs is served
    app.mount("/assets", _Assets(directory=dist / "assets", check_dir=False),
              name="console-assets")
