"""The web page in headless Chromium: race three optimizers on Rosenbrock and see their paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium): the "
    "browser test of the web page did not run",
)


def test_page_races_three_optimizers_and_draws_one_path_each(service):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{service.url}/")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert page.input_value("#objective") == "rosenbrock"
        for box in page.query_selector_all("input.pick:checked"):
            box.uncheck()
        for name in ("adam", "nesterov", "rmsprop"):
            page.check(f"#opt-{name}")
        page.fill("#hp-adam-learning_rate", "0.02")
        page.fill("#steps", "1500")
        page.fill("#resolution", "61")
        page.click("#submit")
        page.wait_for_function(
            "document.getElementById('status').textContent.includes('succeeded')", timeout=120_000
        )
        names = page.evaluate("""() => document.getElementById('contour').data
            .filter(t => t.type === 'scatter' && t.mode === 'lines').map(t => t.name)""")
        assert sorted(n.split(" ")[0] for n in names) == ["adam", "nesterov", "rmsprop"]
        kinds = page.evaluate("() => document.getElementById('contour').data.map(t => t.type)")
        assert "contour" in kinds
        assert page.evaluate("() => document.getElementById('loss').data.length") == 3
        assert page.evaluate("() => document.getElementById('surface').data[0].type") == "surface"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)
        assert errors == []
        browser.close()
    assert (ARTIFACTS / "web-page.png").stat().st_size > 10_000
