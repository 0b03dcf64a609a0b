"""The web page at / and its static files (ES modules, no build step). The charting library
is plotly.js from the plotly package installed with optserve: nothing is fetched from the
internet. plotly.js (4.8 MB) is gzipped once per process and sent compressed to browsers
that accept it; everything else over 1 KB is gzipped by the app's GZipMiddleware."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..problems import Problem

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}
PLOTLY = "plotly.min.js"
CACHE_DAY = {"Cache-Control": "public, max-age=86400"}


def _plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / PLOTLY))


@lru_cache(maxsize=1)
def _plotly_gzip() -> bytes:
    return gzip.compress(_plotly_js().read_bytes(), compresslevel=6)


def static_names() -> set[str]:
    """The files the page may load: the modules and the stylesheet beside index.html."""
    return {p.name for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES}


@router.get("/", response_class=HTMLResponse)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/static/{name}")
def static(name: str, request: Request) -> Response:
    if name == PLOTLY:
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers = {**CACHE_DAY, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
            return Response(_plotly_gzip(), media_type="text/javascript", headers=headers)
        return FileResponse(_plotly_js(), media_type="text/javascript", headers=CACHE_DAY)
    if name not in static_names():
        raise Problem(404, f"no static file {name}", kind="not-found")
    path = STATIC / name
    return FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )
