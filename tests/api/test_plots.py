"""Every plot kind decodes as a picture of the expected size with something drawn on it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import optcore
from api import plots

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = (int(plots.SIZE[0] * plots.DPI), int(plots.SIZE[1] * plots.DPI))


@pytest.fixture(scope="module")
def figure1():
    job = json.loads((ROOT / "examples" / "figure1.json").read_text())
    job["steps"] = 1500
    return optcore.run(job)


@pytest.fixture(scope="module")
def network():
    return optcore.run(
        {
            "objective": {"name": "sine_regression", "params": {"hidden": [8, 8], "samples": 64}},
            "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
            "steps": 300,
            "record": {"every": 10, "landscape": {"kind": "random", "resolution": 25, "log": True}},
        }
    )


def _picture(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == EXPECTED
    return np.asarray(image.convert("L"), dtype=float)


@pytest.mark.parametrize("kind", plots.KINDS)
def test_figure1_result_draws_every_kind_as_a_non_blank_png(figure1, kind):
    pixels = _picture(plots.render(figure1, kind, "png"))
    assert pixels.std() > 10  # not a blank canvas


@pytest.mark.parametrize("kind", ["loss", "surface", "landscape"])
def test_network_result_draws_its_kinds(network, kind):
    assert _picture(plots.render(network, kind, "png")).std() > 10


def test_svg_parses_and_holds_one_line_per_run(figure1):
    root = ET.fromstring(plots.render(figure1, "loss", "svg"))
    assert root.tag.endswith("svg")
    text = plots.render(figure1, "loss", "svg").decode()
    for run in figure1["runs"]:
        assert run["label"] in text


def test_contour_needs_a_grid_and_says_so(network):
    with pytest.raises(plots.NoData, match="grid"):
        plots.render(network, "contour", "png")


def test_contour_draws_the_trajectories_on_the_picture(figure1):
    """The picture differs from one without the runs: the paths are drawn."""
    bare = {**figure1, "runs": [{**r, "trajectory": None} for r in figure1["runs"]]}
    with_paths = _picture(plots.render(figure1, "contour", "png"))
    without = _picture(plots.render(bare, "contour", "png"))
    assert np.abs(with_paths - without).mean() > 1


def test_cli_plot_draws_a_saved_result_offline(tmp_path, figure1):
    saved = tmp_path / "result.json"
    saved.write_bytes(optcore.dumps(figure1))  # numpy arrays: written as the worker does
    out = tmp_path / "contour.png"
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "plot", str(saved), "--kind", "contour", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert _picture(out.read_bytes()).std() > 10
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "plot",
            str(saved),
            "--kind",
            "surface",
            "-o",
            str(tmp_path / "x.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 0  # figure 1 has a grid: a surface can be drawn


def _with_runs(result: dict, **changes) -> dict:
    return {**result, "runs": [{**run, **changes} for run in result["runs"]]}


def test_a_label_matplotlib_math_text_cannot_parse_is_drawn_as_text(figure1):
    label = r"$\frac{"
    result = {**figure1, "runs": [{**figure1["runs"][0], "label": label}]}
    for kind in ("loss", "contour"):
        svg = plots.render(result, kind, "svg").decode()
        assert f"{label} (" in svg  # the legend entry, as written


def test_long_curves_are_thinned_to_at_most_max_points(figure1):
    n = 20 * plots.MAX_POINTS
    run = figure1["runs"][0]
    long = {
        **figure1,
        "runs": [
            {
                **run,
                "step": list(range(n)),
                "loss": [1.0 + 1.0 / (i + 1) for i in range(n)],
                "trajectory": [[0.001 * i, 1.0] for i in range(n)],
            }
        ],
    }
    kept = plots.thinned(list(range(n)))
    assert len(kept) <= plots.MAX_POINTS and kept[0] == 0 and kept[-1] == n - 1
    for kind in ("loss", "contour"):
        lines = plots.figure(long, kind).axes[0].get_lines()
        longest = max(len(line.get_xdata()) for line in lines)
        assert plots.MAX_POINTS // 2 < longest <= plots.MAX_POINTS


def _grid_result(figure1: dict, x: list, y: list, z: list) -> dict:
    return {**figure1, "landscape": {**figure1["landscape"], "x": x, "y": y, "z": z}}


@pytest.mark.parametrize(
    "change",
    [
        lambda r: _grid_result(r, [-1e308, 1e308], [-1e308, 1e308], [[1, 2], [3, None]]),
        lambda r: _grid_result(r, [0, 1e-300], [0, 1e-300], [[1, 2], [3, 4]]),
        lambda r: _grid_result(r, [0, 1], [0, 1], [[1e308, -1e308], [-1e308, 1e308]]),
        lambda r: _grid_result(r, [0, 1], [0, 1], [[None, None], [None, None]]),
        lambda r: _with_runs(r, loss=[None] * 3, step=[0, 1, 2], trajectory=[[None, None]] * 3),
        lambda r: _with_runs(r, loss=[1e308, -1e308, 1e308], step=[0, 1, 2]),
        lambda r: _with_runs(r, trajectory=[[1e308, -1e308], [-1e308, 1e308]]),
    ],
    ids=["box-1e308", "box-1e-300", "z-1e308", "z-null", "runs-null", "loss-1e308", "path-1e308"],
)
@pytest.mark.parametrize("kind", plots.KINDS)
def test_extreme_values_give_a_picture_or_no_data_never_an_error(figure1, change, kind):
    try:
        data = plots.render(change(figure1), kind, "png")
    except plots.NoData as exc:  # the API's 409, never a 500
        assert "cannot be drawn" in str(exc) or "too small, too large" in str(exc)
    else:
        assert _picture(data).std() > 0


def test_plots_never_load_pyplot():
    code = "import api.plots, sys; print('matplotlib.pyplot' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr
