"""Headless Debian Chromium driven by Playwright, for the web page's tests: a page that records
console errors, and helpers to run the form and read the charts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
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
# a first job compiles its programs, slowly on a busy CI machine
JOB_TIMEOUT_MS = int(os.environ.get("WEB_JOB_TIMEOUT_MS", 180_000))

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium): the "
    "browser tests of the web page did not run",
)


class Page:
    """A Playwright page on the service, with every console error and page error kept."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )

    def open(self, path: str = "/") -> None:
        self.page.goto(f"{self.url}{path}")
        self.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)

    def choose(self, objective: str, optimizers: dict[str, float]) -> None:
        """Select an objective and exactly these optimizers at these learning rates."""
        self.page.select_option("#objective", objective)
        for box in self.page.query_selector_all("input.pick:checked"):
            box.uncheck()
        for name, rate in optimizers.items():
            self.page.check(f"#opt-{name}")
            self.page.fill(f"#hp-{name}-learning_rate", str(rate))

    def run(self) -> str:
        """Submit the form and wait for the job's charts; returns the job id."""
        before = self.page.evaluate("document.body.dataset.shown || ''")
        self.page.click("#submit")
        self.page.wait_for_function(
            "(before) => document.body.dataset.shown && document.body.dataset.shown !== before",
            arg=before,
            timeout=JOB_TIMEOUT_MS,
        )
        return self.page.evaluate("document.body.dataset.shown")

    def traces(self, chart: str) -> list[dict]:
        """Each trace of a chart: its type, mode, name and point count."""
        return self.page.evaluate(
            """(id) => (document.getElementById(id).data || []).map(t => ({
                type: t.type, mode: t.mode || null, name: t.name || "",
                points: (t.x || t.z || []).length }))""",
            chart,
        )

    def non_finite_values(self, chart: str) -> int:
        """How many x, y or z values of a chart are null or not finite (what breaks WebGL)."""
        return self.page.evaluate(
            """(id) => (document.getElementById(id).data || []).reduce((n, t) =>
                n + ["x", "y", "z"].flatMap(k => (t[k] || []).flat())
                    .filter(v => typeof v !== "number" || !Number.isFinite(v)).length, 0)""",
            chart,
        )

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def chromium() -> Iterator:
    """One headless Chromium for a test module (Playwright's sync API allows one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, url: str, width: int = 1280, height: int = 900) -> Page:
    return Page(browser.new_page(viewport={"width": width, "height": height}), url)
