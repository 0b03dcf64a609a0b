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
