"""How the page loads: plotly.js deferred and gzipped, modules and JSON over 1 KB gzipped."""

from __future__ import annotations

import re

GZIP = {"Accept-Encoding": "gzip"}


def test_plotly_is_deferred_and_the_page_is_modules(client):
    html = client.get("/").text
    assert re.search(r'<script src="/static/plotly.min.js" defer></script>', html)
    assert '<script type="module" src="/static/app.js"></script>' in html
    for name in re.findall(r'from "\./([a-z]+\.js)"', client.get("/static/app.js").text):
        assert client.get(f"/static/{name}").status_code == 200, name


def test_plotly_modules_and_catalog_are_sent_gzipped(client):
    plotly = client.get("/static/plotly.min.js", headers=GZIP)
    assert plotly.headers["content-encoding"] == "gzip"
    assert int(plotly.headers["content-length"]) < len(plotly.content) / 2
    for path in ("/static/app.js", "/v1/objectives", "/v1/optimizers"):
        assert client.get(path, headers=GZIP).headers.get("content-encoding") == "gzip", path
    small = client.get("/healthz", headers=GZIP)
    assert "content-encoding" not in small.headers  # under 1 KB: not worth compressing


def test_only_the_page_files_are_served(client):
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/static/..%2Fmain.py").status_code == 404
