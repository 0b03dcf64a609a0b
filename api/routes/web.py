"""The web page at / and its static files; the charting library is plotly.js from the plotly
package installed with optserve (no build step, nothing fetched from the internet)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from ..problems import Problem

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static"
FILES = {"app.js": "text/javascript", "style.css": "text/css"}


def _plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get("/", response_class=HTMLResponse)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(
            _plotly_js(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )
    if name not in FILES:
        raise Problem(404, f"no static file {name}", kind="not-found")
    return FileResponse(STATIC / name, media_type=FILES[name])
