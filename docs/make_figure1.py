"""Draws docs/figure1.png, the README's picture, from a real run of examples/figure1.json."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

import optcore  # noqa: E402

HERE = Path(__file__).resolve().parent


def main():
    result = optcore.run(json.loads((HERE.parent / "examples" / "figure1.json").read_text()))
    land = result["landscape"]
    x, y, z = (np.asarray(land[k], float) for k in ("x", "y", "z"))
    fig, ax = plt.subplots(figsize=(8, 6.4), dpi=110)
    levels = np.logspace(-1, 3.6, 24)
    ax.contourf(x, y, z, levels=levels, norm=LogNorm(), cmap="Greys", alpha=0.55)
    ax.contour(x, y, z, levels=levels, norm=LogNorm(), colors="0.55", linewidths=0.4)
    for run in result["runs"]:
        path = np.asarray(run["trajectory"], float)
        label = f"{run['label']} ({run['status']}, {run['steps']} steps)"
        ax.plot(path[:, 0], path[:, 1], lw=1.6, label=label)
    ax.plot(*result["runs"][0]["trajectory"][0], "ko", ms=6, label="start")
    ax.plot(1, 1, marker="*", color="orange", ms=16, mec="k", label="minimum (1, 1)")
    ax.set(
        xlim=(x[0], x[-1]),
        ylim=(y[0], y[-1]),
        xlabel="x",
        ylabel="y",
        title="Six optimizers on the Rosenbrock valley (examples/figure1.json)",
    )
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(HERE / "figure1.png")


if __name__ == "__main__":
    main()
