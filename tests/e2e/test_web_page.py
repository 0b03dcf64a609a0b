"""The web page in headless Chromium: races, a diverged run that breaks nothing, a log chart
of negative losses, the phone layout and an axe-core accessibility check."""

from __future__ import annotations

from .web_browser import AXE, needs_chromium, new_page

pytestmark = needs_chromium


def test_a_diverged_run_is_drawn_and_the_next_race_still_draws(page):
    p = page.page
    page.choose("rosenbrock", {"adam": 0.03, "nesterov": 0.05})
    p.fill("#obj-dim", "3")
    p.fill("#steps", "400")
    page.run()
    loss = page.traces("loss")
    names = [t["name"] for t in loss]
    assert "nesterov (diverged)" in names and "adam" in names
    assert "diverged here" in names  # the last finite point is marked
    assert page.non_finite_values("loss") == 0
    # the random plane is centred on nesterov (run 0), so every value overflowed: no surface,
    # and a sentence that says why instead of a WebGL error
    assert page.traces("surface") == []
    assert "overflowed" in p.text_content("#surface-note")
    assert "overflowed" in p.text_content("#contour-note")

    p.fill("#landscape-run", "1")  # the plane through adam's end instead
    page.run()
    assert [t["type"] for t in page.traces("surface")] == ["surface"]
    assert page.non_finite_values("surface") == 0
    assert "not drawn" in p.text_content("#contour-note")  # 3-D paths are not plane coordinates
    p.fill("#landscape-run", "")

    page.choose("rosenbrock", {"adam": 0.03, "nesterov": 0.001, "rmsprop": 0.003})
    p.fill("#obj-dim", "2")
    p.fill("#steps", "1500")
    page.run()
    contour = page.traces("contour")
    assert contour[0]["type"] == "contour"
    lines = sorted(t["name"] for t in contour if t["mode"] == "lines")
    assert lines == ["adam", "nesterov", "rmsprop"]
    assert [t["name"] for t in contour if t["mode"] == "markers"] == ["start", "end", "minimum"]
    assert len([t for t in page.traces("loss") if t["mode"] == "lines"]) == 3
    assert [t["type"] for t in page.traces("surface")] == ["surface"]
    layout = p.evaluate("document.getElementById('contour').layout")
    assert layout["yaxis"]["scaleanchor"] == "x"  # equal aspect
    assert layout["xaxis"]["range"] == [-2, 2]  # the box, not an autoscale to a diverged path
    assert layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
    assert "succeeded" in p.text_content("#status")
    page.screenshot("workbench.png")
    assert page.errors == []


def test_the_default_race_differs_between_optimizers(page):
    """The per-objective learning rates make the first race on Rosenbrock a race."""
    page.page.select_option("#objective", "booth")
    page.page.select_option("#objective", "rosenbrock")
    rates = {
        name: float(page.page.input_value(f"#hp-{name}-learning_rate"))
        for name in ("adam", "nesterov", "rmsprop")
    }
    assert len(set(rates.values())) == 3, rates
    assert rates["adam"] > rates["nesterov"]


def test_styblinski_tang_negative_losses_get_a_shifted_log_chart(page):
    p = page.page
    page.choose("styblinski_tang", {"adam": 0.05, "gd": 0.003})
    p.fill("#steps", "500")
    page.run()
    lines = [t for t in page.traces("loss") if t["mode"] == "lines"]
    assert len(lines) == 2 and all(t["points"] > 10 for t in lines)
    assert page.non_finite_values("loss") == 0
    axis = p.evaluate("document.getElementById('loss').layout.yaxis")
    assert axis["type"] == "log"
    assert "min" in axis["title"]["text"] and "ε" in axis["title"]["text"]
    values = p.evaluate("document.getElementById('loss').data.flatMap(t => t.y)")
    assert min(values) > 0
    assert page.errors == []


def test_axe_finds_no_serious_accessibility_violation(page):
    p = page.page
    p.add_script_tag(path=str(AXE))
    violations = p.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id}: ${v.nodes.length} x ${v.nodes[0].target.join(" ")}`)"""
    )
    assert violations == []


def test_phone_viewport_has_no_horizontal_scroll(browser, service):
    page = new_page(browser, service.url, 390, 844)
    page.open()
    page.choose("rosenbrock", {"adam": 0.03, "rmsprop": 0.003})
    page.page.fill("#steps", "500")
    page.run()
    width = page.page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    assert width[0] <= width[1] and width[2] <= width[1], width
    page.screenshot("workbench-phone.png")
    assert page.errors == []
