"""Pictures of a result document: the seed's Figure 1 (contour with trajectories) and
Figure 2 (the loss surface), loss curves and a landscape map.

``render(result, kind, fmt)`` returns PNG or SVG bytes, or raises ``NoData`` saying why the
result cannot give that picture. The API caches what it renders beside the result; the CLI
draws from a saved result file.

Renders run in the API's thread pool, concurrently: matplotlib's object API only (a Figure
with its own Agg canvas, no pyplot and its global figure manager), every curve thinned to
``MAX_POINTS``, labels drawn as plain text (a run label is user text, not math), and
non-finite values and degenerate axes drawn around rather than raised on.
"""

from __future__ import annotations

import io
import json
import math
import threading
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

KINDS = ("contour", "loss", "surface", "landscape")
FORMATS = ("png", "svg")
SIZE = (9.0, 6.5)  # inches
DPI = 100
MAX_POINTS = 10_000  # per curve: more than the picture has pixels across


class NoData(Exception):
    """The result lacks what this kind of picture needs, or its values cannot be drawn."""


def thinned(values: list[Any]) -> list[Any]:
    """At most MAX_POINTS of the items, evenly spread, the first and last kept: taken from
    the list before any conversion, so a long curve costs nothing more than a short one."""
    n = len(values)
    if n <= MAX_POINTS:
        return values
    return [values[i] for i in np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))]


def _array(values: list[Any]) -> np.ndarray:
    return (
        np.array([np.nan if v is None else v for v in values], dtype=float)
        if values and not isinstance(values[0], list)
        else np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    )


def _grid(
    result: dict[str, Any], kinds: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    land = result.get("landscape")
    if not land or land.get("kind") not in kinds or "y" not in land:
        wanted = " or ".join("grid" if k == "grid2d" else k for k in kinds)
        raise NoData(
            f"the job recorded no {wanted} landscape: add record.landscape "
            f"(kind {wanted}) to the job"
        )
    x, y = _array(land["x"]), _array(land["y"])
    if len(x) < 2 or len(y) < 2 or not (_limits(x[0], x[-1]) and _limits(y[0], y[-1])):
        raise NoData("the landscape's box is too small, too large or not finite to draw")
    return x, y, _array(land["z"]), land


def _positive(z: np.ndarray, already_log: bool) -> tuple[np.ndarray, bool]:
    """Values for a log colour scale: above the minimum, floored at its lowest percentile so
    that an exact 0 (the minimum on the grid) does not flatten every other level."""
    if already_log:
        return z, False
    finite = z[np.isfinite(z)]
    if not finite.size:
        return z, True
    with np.errstate(over="ignore", invalid="ignore"):  # a span beyond 1.8e308 becomes NaN
        shifted = z - min(0.0, float(finite.min()))
    above = shifted[np.isfinite(shifted) & (shifted > 0)]
    floor = float(np.percentile(above, 0.5)) if above.size else 1.0
    return np.where(np.isfinite(shifted), np.maximum(shifted, floor), np.nan), True


def _run_label(run: dict[str, Any]) -> str:
    return f"{run['label']} ({run['status']})"


def _legend(ax: Axes, **kwargs: Any) -> None:
    legend = ax.legend(**kwargs)
    for text in legend.get_texts():
        text.set_parse_math(False)  # "$\frac{" in a label is text, not broken math


def _limits(lo: float, hi: float) -> tuple[float, float] | None:
    """Axis limits matplotlib can draw, or None to leave them automatic."""
    finite = math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)
    return (lo, hi) if finite and hi - lo > 1e-300 else None


def _set_box(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    xlim, ylim = _limits(x[0], x[-1]), _limits(y[0], y[-1])
    if xlim:
        ax.set_xlim(xlim)
    if ylim:
        ax.set_ylim(ylim)


def _trajectories(ax: Axes, result: dict[str, Any]) -> int:
    drawn = 0
    for run in result["runs"]:
        path = run.get("trajectory")
        if not path or len(path[0]) < 2:
            continue
        p = _array(thinned(path))[:, :2]
        (line,) = ax.plot(p[:, 0], p[:, 1], lw=1.8, label=_run_label(run))
        ax.plot(p[-1, 0], p[-1, 1], "o", ms=4, color=line.get_color())
        drawn += 1
    if drawn:
        first = _array(result["runs"][0]["trajectory"][:1])[0]
        ax.plot(first[0], first[1], "ko", ms=7, label="start", zorder=5)
    return drawn


def _contour(fig: Figure, result: dict[str, Any]) -> None:
    x, y, z, land = _grid(result, ("grid2d",))
    ax = fig.add_subplot()
    zz, log = _positive(z, land.get("log", False))
    finite = zz[np.isfinite(zz)]
    if log and finite.size and finite.min() < finite.max():
        levels = np.geomspace(finite.min(), finite.max(), 30)
        norm = LogNorm(vmin=levels[0], vmax=levels[-1])
        ax.contourf(x, y, zz, levels=levels, norm=norm, cmap="viridis", alpha=0.85)
        ax.contour(x, y, zz, levels=levels, norm=norm, colors="white", linewidths=0.3)
    else:
        ax.contourf(x, y, zz, levels=30, cmap="viridis", alpha=0.85)
    _trajectories(ax, result)
    for i, m in enumerate(result["objective"].get("minima") or []):
        ax.plot(
            m[0],
            m[1],
            marker="*",
            ms=18,
            color="orange",
            mec="black",
            ls="none",
            label="minimum" if i == 0 else None,
            zorder=6,
        )
    _set_box(ax, x, y)
    ax.set(xlabel="x", ylabel="y")
    _title(ax, f"{result['objective']['name']}: trajectories over the contour (log scale)")
    _legend(ax, loc="best", fontsize=8, framealpha=0.9)


def _loss(fig: Figure, result: dict[str, Any]) -> None:
    ax = fig.add_subplot()
    positive = True
    for run in result["runs"]:
        loss = _array(thinned(run["loss"]))
        ax.plot(thinned(run["step"]), loss, lw=1.6, label=_run_label(run))
        positive &= bool(np.all(loss[np.isfinite(loss)] > 0))
    ax.set_yscale("log" if positive else "symlog")
    ax.set(xlabel="step", ylabel="loss", title="Loss against step")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, loc="best", fontsize=8)


def _surface(fig: Figure, result: dict[str, Any]) -> None:
    x, y, z, land = _grid(result, ("grid2d", "random", "pca"))
    ax = fig.add_subplot(projection="3d")
    xx, yy = np.meshgrid(x, y)
    shown = z if land.get("log") else np.log(_positive(z, False)[0])
    ax.plot_surface(
        xx,
        yy,
        np.where(np.isfinite(shown), shown, np.nan),
        cmap="viridis",
        linewidth=0,
        antialiased=True,
        rcount=min(len(y), 120),
        ccount=min(len(x), 120),
    )
    name = {"grid2d": ("x", "y"), "random": ("alpha", "beta"), "pca": ("PC 1", "PC 2")}
    labels = name[land["kind"]]
    ax.set(xlabel=labels[0], ylabel=labels[1], zlabel="log loss")
    _title(ax, f"Loss surface ({land['kind']}): {result['objective']['name']}")


def _landscape(fig: Figure, result: dict[str, Any]) -> None:
    x, y, z, land = _grid(result, ("grid2d", "random", "pca"))
    ax = fig.add_subplot()
    shown = z if land.get("log") else np.log(_positive(z, False)[0])
    filled = ax.contourf(x, y, shown, levels=30, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="log loss")
    drawn = _trajectories(ax, result)
    note = ""
    if land["kind"] == "pca" and land.get("explained_variance"):
        ev = land["explained_variance"]
        note = f" (PC 1 {ev[0]:.0%}, PC 2 {ev[1]:.0%} of the path's variance)"
    _set_box(ax, x, y)
    _title(ax, f"Landscape ({land['kind']}){note}")
    if drawn:
        _legend(ax, loc="best", fontsize=8)


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text).set_parse_math(False)


# matplotlib's mathtext parser (tick labels such as 10^n) is shared by every thread: two plot
# requests drawing at once corrupted it (a 500 that schemathesis found).
_RENDERING = threading.Lock()

DRAW = {"contour": _contour, "loss": _loss, "surface": _surface, "landscape": _landscape}


DRAWING_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


def figure(result: dict[str, Any], kind: str) -> Figure:
    """The picture as a Figure with its own Agg canvas, laid out, not yet rendered."""
    if kind not in DRAW:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if any(isinstance(v, np.ndarray) for run in result["runs"] for v in run.values()):
        from optcore import dumps  # a document from optcore.run: its JSON form, as served

        result = json.loads(dumps(result))
    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    try:
        DRAW[kind](fig, result)
        fig.tight_layout()
    except DRAWING_ERRORS as exc:
        raise _cannot_draw(kind, exc) from exc
    return fig


def render(result: dict[str, Any], kind: str, fmt: str = "png") -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be png or svg, not {fmt}")
    out = io.BytesIO()
    with _RENDERING:
        fig = figure(result, kind)
        try:
            fig.savefig(out, format=fmt, dpi=DPI)
        except DRAWING_ERRORS as exc:
            raise _cannot_draw(kind, exc) from exc
    return out.getvalue()


def _cannot_draw(kind: str, exc: Exception) -> NoData:
    # Values at the edge of float range (a diverged run, an extreme box) that matplotlib
    # cannot scale: a picture of them does not exist; that is no server fault (409, not 500).
    return NoData(f"the result's values cannot be drawn as a {kind} plot: {exc}")
