"""The web page's jobs in headless Chromium: an expression with a parse error shown under the
editor, a sweep and its chart, a job link that survives a reload, and cancel from the list."""

from __future__ import annotations

from .stack import long_job, wait_for
from .web_browser import needs_chromium, new_page

pytestmark = needs_chromium


def test_expression_parse_error_shows_under_the_editor_then_the_job_runs(page):
    p = page.page
    page.choose("expression", {"adam": 0.05, "momentum": 0.01})
    p.fill("#expression", "(x - 1)**2 + 3*(y + 0.5)**2 +")
    p.fill("#steps", "300")
    p.click("#submit")
    p.wait_for_function("document.getElementById('err-expression').textContent.length > 0")
    assert "refused" in p.text_content("#status")
    assert p.text_content("#err-general") == ""  # next to its field, not in a status box
    assert all("422" in e for e in page.errors)  # the browser logs the refused request itself
    page.errors.clear()

    p.fill("#expression", "(x - 1)**2 + 3*(y + 0.5)**2")
    page.run()
    assert p.text_content("#err-expression") == ""
    contour = page.traces("contour")
    assert contour[0]["type"] == "contour"
    assert sorted(t["name"] for t in contour if t["mode"] == "lines") == ["adam", "momentum"]
    assert len([t for t in page.traces("loss") if t["mode"] == "lines"]) == 2
    assert page.errors == []


def test_sweep_chart_has_one_point_per_value(page):
    p = page.page
    page.choose("rosenbrock", {"adam": 0.01, "rmsprop": 0.003})
    p.click("#more-adam > summary")
    p.click("#more-rmsprop > summary")
    p.select_option("#sweep-adam-param", "learning_rate")
    p.fill("#sweep-adam-values", "0.001, 0.01, 0.1")
    p.select_option("#sweep-rmsprop-param", "learning_rate")
    p.fill("#sweep-rmsprop-values", "0.001, 0.01")
    p.fill("#steps", "500")
    page.run()
    sweep = {t["name"]: t["points"] for t in page.traces("sweep")}
    assert sweep == {"adam (learning_rate)": 3, "rmsprop (learning_rate)": 2}
    xs = p.evaluate("document.getElementById('sweep').data.find(t => t.name.startsWith('adam')).x")
    assert xs == [0.001, 0.01, 0.1]
    assert p.evaluate("document.getElementById('sweep').layout.xaxis.type") == "log"
    assert len([t for t in page.traces("loss") if t["mode"] == "lines"]) == 5
    page.screenshot("workbench-sweep.png")
    for name in ("adam", "rmsprop"):  # leave the form as the other tests expect it
        p.select_option(f"#sweep-{name}-param", "")
    assert page.errors == []


def test_a_job_link_survives_a_reload_and_opens_in_a_fresh_browser(page, browser, service):
    p = page.page
    page.choose("himmelblau", {"adam": 0.05, "nesterov": 0.001})
    p.fill("#steps", "300")
    job_id = page.run()
    assert p.url.endswith(f"#/jobs/{job_id}")
    lines = sorted(t["name"] for t in page.traces("loss") if t["mode"] == "lines")
    minima = [t for t in page.traces("contour") if t["name"] == "minima"]
    assert len(minima) == 1 and minima[0]["points"] == 4  # Himmelblau's four, in one entry

    p.reload()
    p.wait_for_selector(f"body[data-shown='{job_id}']", state="attached", timeout=60_000)
    assert job_id[:8] in p.text_content("#status")
    assert p.input_value("#objective") == "himmelblau"
    assert sorted(t["name"] for t in page.traces("loss") if t["mode"] == "lines") == lines

    fresh = new_page(browser, service.url)  # no local storage: the form comes from the result
    fresh.open(f"/#/jobs/{job_id}")
    fresh.page.wait_for_selector(f"body[data-shown='{job_id}']", state="attached", timeout=60_000)
    assert fresh.page.input_value("#objective") == "himmelblau"
    assert fresh.page.is_checked("#opt-nesterov") and fresh.page.is_checked("#opt-adam")
    assert fresh.errors == [] and page.errors == []


def test_cancel_from_the_job_list(page, client):
    job_id = client.post("/v1/jobs", json=long_job()).json()["id"]
    p = page.page
    p.click("#refresh-jobs")
    button = f"tr[data-job='{job_id}'] button.cancel"
    p.wait_for_selector(button, timeout=30_000)
    p.click(button)
    job = wait_for(client, job_id, timeout=120)
    assert job["status"] == "canceled"
    p.wait_for_selector(f"tr[data-job='{job_id}'] .badge.canceled", timeout=30_000)
    assert p.query_selector(button) is None
    assert page.errors == []
