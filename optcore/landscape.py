"""Loss-landscape grids. ``z[i][j]`` is the value at ``y[i]``, ``x[j]`` (meshgrid 'xy').

Points are evaluated in pieces by one compiled function per objective (whatever the
resolution): ``rows x width`` points a call, ``width`` of them at once under ``vmap``. The
runner calls pieces for about a chunk of time between progress reports, so a cancel lands
within about a second even on a network's plane.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any, TypeAlias, cast

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from .objectives import AnyObjective, Objective
from .results import finite
from .spec import Job, LandscapeSpec
from .steps import first_params
from .trees import PyTree

CHUNK_POINTS = 1 << 10  # points of a cheap objective under one vmap
CACHE_FLOATS = 1 << 15  # activations of one vmap over a network's plane: 128 KiB
CALL_FLOPS = 5e7  # estimated work of one call of a network's plane: a few ms here
MAX_ROWS = 16

FloatArray: TypeAlias = NDArray[np.floating[Any]]
Axis: TypeAlias = Sequence[float] | FloatArray  # the coefficients of a direction
Bounds: TypeAlias = Sequence[Sequence[float]]  # [[xmin, xmax], [ymin, ymax]]
# (center, d1, d2, a [rows, width], b [rows, width]) -> values [rows, width]
Piece: TypeAlias = Callable[[PyTree, PyTree, PyTree, FloatArray, FloatArray], jax.Array]

_PIECES: dict[tuple[Hashable, ...], tuple[Piece, int, int]] = {}


def _piece_fn(objective: AnyObjective, dtype: str) -> tuple[Piece, int, int]:
    """(jit(values at center + a d1 + b d2 for a [rows, width] of (a, b)), rows, width).

    A network's point is a whole forward pass: vmaps of a few points whose activations fit
    in a core's cache ran 2.5x faster here than vmaps of a thousand (memory-bound)."""
    key = (objective.cache_key(), dtype)
    if key in _PIECES:
        return _PIECES[key]
    if isinstance(objective, Objective):  # a test function: no layers
        width, rows = CHUNK_POINTS, MAX_ROWS
    else:
        samples = len(objective.train[0])
        width = int(max(1, CACHE_FLOATS // max(1, samples * max(objective.layers))))
        per_point = 2.0 * objective.dim * samples
        rows = int(max(1, min(MAX_ROWS, CALL_FLOPS // (per_point * width))))

    def at(center: PyTree, d1: PyTree, d2: PyTree, a: jax.Array, b: jax.Array) -> jax.Array:
        params = jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1, d2)
        return objective.value(params)

    def piece(center: PyTree, d1: PyTree, d2: PyTree, a: jax.Array, b: jax.Array) -> jax.Array:
        batch = jax.vmap(at, in_axes=(None, None, None, 0, 0))
        return cast(jax.Array, jax.lax.map(lambda ab: batch(center, d1, d2, ab[0], ab[1]), (a, b)))

    _PIECES[key] = (jax.jit(piece), rows, width)
    return _PIECES[key]


class PointEvaluation:
    """z[i][j] = value(center + xs[j] d1 + ys[i] d2), a piece at a time."""

    def __init__(
        self,
        objective: AnyObjective,
        center: PyTree,
        d1: PyTree,
        d2: PyTree,
        xs: Axis,
        ys: Axis,
        dtype: str,
    ) -> None:
        self.x64 = dtype == "float64"
        self.dt: type[np.floating[Any]] = np.float64 if self.x64 else np.float32
        self.fn, rows, width = _piece_fn(objective, dtype)
        self.shape = (len(ys), len(xs))
        self.total = len(ys) * len(xs)
        aa, bb = np.meshgrid(np.asarray(xs, self.dt), np.asarray(ys, self.dt), indexing="xy")
        per_call = rows * width
        pad = (-self.total) % per_call
        self.a = np.concatenate([aa.ravel(), np.zeros(pad, self.dt)]).reshape(-1, rows, width)
        self.b = np.concatenate([bb.ravel(), np.zeros(pad, self.dt)]).reshape(-1, rows, width)
        in_dtype = partial(jax.tree.map, lambda t: np.asarray(t, self.dt))
        self.plane = (in_dtype(center), in_dtype(d1), in_dtype(d2))
        self.z: list[NDArray[Any]] = []
        self.seconds_per_call: float | None = None

    @property
    def done(self) -> bool:
        return len(self.z) == len(self.a)

    @property
    def points_done(self) -> int:
        return min(self.total, len(self.z) * int(self.a[0].size))

    def advance(self, seconds: float) -> None:
        """Evaluate pieces for about ``seconds`` (at least one)."""
        t0 = time.perf_counter()
        with jax.enable_x64(self.x64):
            while not self.done:
                i = len(self.z)
                t_call = time.perf_counter()
                self.z.append(np.asarray(self.fn(*self.plane, self.a[i], self.b[i])))
                self.seconds_per_call = time.perf_counter() - t_call
                if time.perf_counter() - t0 >= seconds:
                    break

    def chunks_left(self, seconds: float) -> int:
        left = (len(self.a) - len(self.z)) * (self.seconds_per_call or 0.0)
        return math.ceil(left / seconds)

    def values(self) -> NDArray[Any]:
        while not self.done:
            self.advance(float("inf"))
        z = np.concatenate([c.ravel() for c in self.z])[: self.total]
        return z.reshape(self.shape)


def _axes(bounds: Bounds, shape: tuple[int, int], dtype: str) -> tuple[FloatArray, FloatArray]:
    dt = np.float64 if dtype == "float64" else np.float32
    (x0, x1), (y0, y1) = bounds
    return np.linspace(x0, x1, shape[0]).astype(dt), np.linspace(y0, y1, shape[1]).astype(dt)


def _grid_evaluation(
    objective: AnyObjective, bounds: Bounds, shape: tuple[int, int], dtype: str
) -> tuple[FloatArray, FloatArray, PointEvaluation]:
    xs, ys = _axes(bounds, shape, dtype)
    basis = np.eye(2)
    return xs, ys, PointEvaluation(objective, np.zeros(2), basis[0], basis[1], xs, ys, dtype)


def grid2d(
    objective: AnyObjective, bounds: Bounds, shape: tuple[int, int], dtype: str = "float32"
) -> tuple[FloatArray, FloatArray, NDArray[Any]]:
    """The objective over a box: returns ``(x, y, z)`` numpy arrays, z of shape (ny, nx)."""
    xs, ys, evaluation = _grid_evaluation(objective, bounds, shape, dtype)
    return xs, ys, evaluation.values()


class JobLandscape:
    """A job's landscape, evaluated piece by piece, then its document."""

    def __init__(
        self, evaluation: PointEvaluation, finish: Callable[[NDArray[Any]], dict[str, Any]]
    ) -> None:
        self.evaluation = evaluation
        self.finish = finish
        self.total = evaluation.total

    @property
    def done(self) -> bool:
        return self.evaluation.done

    @property
    def points_done(self) -> int:
        return self.evaluation.points_done

    def advance(self, seconds: float) -> None:
        self.evaluation.advance(seconds)

    def chunks_left(self, seconds: float) -> int:
        return self.evaluation.chunks_left(seconds)

    def document(self) -> dict[str, Any]:
        return self.finish(self.evaluation.values())


def _spec(job: Job) -> LandscapeSpec:
    spec = job.spec.record.landscape
    if spec is None:
        raise ValueError("the job records no landscape")
    return spec


def evaluation_for_job(
    job: Job,
    runs: list[dict[str, Any]],
    finals: list[PyTree],
    paths: list[NDArray[np.float64] | None],
) -> JobLandscape:
    if _spec(job).kind == "grid":
        return _grid_for_job(job)
    return _plane_for_job(job, finals, paths, runs)


def _grid_for_job(job: Job) -> JobLandscape:
    spec = _spec(job)
    bounds = spec.bounds or job.objective.box
    if bounds is None:  # refused by the spec's checks: a grid is for test functions
        raise ValueError("a grid landscape needs bounds")
    xs, ys, evaluation = _grid_evaluation(job.objective, bounds, spec.shape, job.spec.dtype)

    def finish(z: NDArray[Any]) -> dict[str, Any]:
        return {
            "kind": "grid2d",
            "x": xs,
            "y": ys,
            "z": z,
            "bounds": [list(b) for b in bounds],
        }

    return JobLandscape(evaluation, finish)


# -- planes through parameter space (Li et al. 2018), for any objective ---------------------


def filter_normalize(
    direction: FloatArray, weights: FloatArray, mode: str, bias: str
) -> FloatArray:
    """Scale a random direction like the weights it perturbs. Kernels are (in, out): a filter
    is one output unit, the last axis, so norms run over every other axis.

    Leaves of at most one dimension (biases, norm scales) follow Li et al.'s ``net_plotter.py``
    (``normalize_directions_for_weights``): ``bias="zero"`` zeroes their direction, and
    ``bias="keep"`` makes it the weights themselves, not a rescaled random draw."""
    if direction.ndim <= 1:
        return np.zeros_like(direction) if bias == "zero" else np.array(weights, copy=True)
    if mode == "none":
        return direction
    axes = tuple(range(direction.ndim - 1)) if mode == "filter" else None
    d_norm = np.sqrt(np.sum(direction**2, axis=axes, keepdims=axes is not None))
    w_norm = np.sqrt(np.sum(weights**2, axis=axes, keepdims=axes is not None))
    return direction * w_norm / (d_norm + 1e-10)


def random_directions(
    center: PyTree, seed: int, mode: str = "filter", bias: str = "zero"
) -> tuple[PyTree, PyTree]:
    """Two Gaussian directions, one draw per leaf, normalised against ``center``."""
    leaves, treedef = jax.tree.flatten(center)
    out = []
    for which in (0, 1):
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), which), len(leaves))
        drawn = [
            np.asarray(
                jax.random.normal(
                    k,
                    np.shape(w),
                    jnp.float64 if np.asarray(w).dtype == np.float64 else jnp.float32,
                )
            )
            for k, w in zip(keys, leaves, strict=True)
        ]
        out.append(
            jax.tree.unflatten(
                treedef,
                [
                    filter_normalize(d, np.asarray(w), mode, bias)
                    for d, w in zip(drawn, leaves, strict=True)
                ],
            )
        )
    return out[0], out[1]


def pca_directions(
    path: FloatArray, center: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Top-2 principal directions of ``path - center`` (rows are flat params), unit norm, and
    the share of variance they explain."""
    offsets = path - center
    centred = offsets - offsets.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    share = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    if vt.shape[0] < 2:  # a path of two points spans one direction: complete the plane
        extra = np.zeros_like(vt[0])
        extra[np.argmin(np.abs(vt[0]))] = 1.0
        extra -= extra @ vt[0] * vt[0]
        vt = np.vstack([vt[0], extra / np.linalg.norm(extra)])
    return vt[0], vt[1], share


def project(path: FloatArray, center: FloatArray, d1: FloatArray, d2: FloatArray) -> FloatArray:
    """Coordinates (a, b) with path ~ center + a d1 + b d2, by least squares."""
    basis = np.stack([d1, d2], axis=1)
    coords, *_ = np.linalg.lstsq(basis, (path - center).T, rcond=None)
    return cast(FloatArray, coords.T)


def plane_values(
    objective: AnyObjective,
    center: PyTree,
    d1: PyTree,
    d2: PyTree,
    xs: Axis,
    ys: Axis,
    dtype: str = "float32",
) -> NDArray[Any]:
    """z[i][j] = value(center + xs[j] d1 + ys[i] d2)."""
    return PointEvaluation(objective, center, d1, d2, xs, ys, dtype).values()


def _log(z: NDArray[Any]) -> NDArray[Any]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(z > 0, np.log(np.where(z > 0, z, 1.0)), np.nan)


def _flat(tree: PyTree) -> FloatArray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def _unflat(flat: FloatArray, like: PyTree) -> PyTree:
    leaves, treedef = jax.tree.flatten(like)
    out, i = [], 0
    for leaf in leaves:
        size = np.size(leaf)
        out.append(flat[i : i + size].reshape(np.shape(leaf)))
        i += size
    return jax.tree.unflatten(treedef, out)


def _initial_params(job: Job, run_index: int, dtype: str) -> PyTree:
    """The run's start, derived as the runner derives it."""
    run = job.runs[run_index]
    with jax.enable_x64(dtype == "float64"):
        x0 = jnp.asarray(run.start, jnp.float64 if dtype == "float64" else jnp.float32)
        params = first_params(job.objective, x0, jax.random.PRNGKey(run.seed))
        return jax.tree.map(np.asarray, params)


def _plane_for_job(
    job: Job,
    finals: list[PyTree],
    paths: list[NDArray[np.float64] | None],
    docs: list[dict[str, Any]],
) -> JobLandscape:
    """The random, PCA or interpolation landscape around run ``spec.run``.

    ``finals[i]``: run i's final params (pytree of numpy); ``paths[i]``: its recorded flat
    params (rows), or None. Its document sets each run's ``trajectory`` to its projection on
    the plane."""
    spec = _spec(job)
    dtype = job.spec.dtype
    r = spec.run
    center = finals[r]
    center_flat = _flat(center)
    doc: dict[str, Any] = {
        "kind": spec.kind,
        "center": {"run": docs[r]["label"], "step": docs[r]["steps"]},
        "log": spec.log,
    }
    if spec.kind == "interpolation":
        start = _initial_params(job, r, dtype)
        direction = jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), center, start)
        (lo, hi), _ = spec.bounds or ((-0.5, 1.5), (0.0, 1.0))
        xs = np.linspace(lo, hi, spec.shape[0])
        zero = jax.tree.map(np.zeros_like, direction)

        def line(z: NDArray[Any]) -> dict[str, Any]:
            doc.update(
                x=xs,
                z=_log(z[0]) if spec.log else z[0],
                description="value at start + x (final - start): 0 is the start, 1 the end",
            )
            return doc

        evaluation = PointEvaluation(job.objective, start, direction, zero, xs, np.zeros(1), dtype)
        return JobLandscape(evaluation, line)
    if spec.kind == "pca":
        path = recorded if (recorded := paths[r]) is not None else center_flat[None]
        d1_flat, d2_flat, share = pca_directions(np.vstack([path, center_flat]), center_flat)
        d1, d2 = _unflat(d1_flat, center), _unflat(d2_flat, center)
        doc["explained_variance"] = finite(share)
    else:
        seed = job.spec.seed if spec.seed is None else spec.seed
        d1, d2 = random_directions(center, seed, spec.normalization, spec.bias)
        d1_flat, d2_flat = _flat(d1), _flat(d2)
        cos = d1_flat @ d2_flat / (np.linalg.norm(d1_flat) * np.linalg.norm(d2_flat) + 1e-30)
        doc.update(normalization=spec.normalization, bias=spec.bias, seed=seed, cosine=float(cos))
    projected = [
        project(p, center_flat, d1_flat, d2_flat) if p is not None else None for p in paths
    ]
    if spec.bounds is not None:
        (x0, x1), (y0, y1) = spec.bounds
    elif spec.kind == "pca" and (around := projected[r]) is not None:
        lo, hi = around.min(axis=0), around.max(axis=0)
        margin = np.maximum(0.25 * (hi - lo), 1e-3 + 0.05 * np.abs(hi - lo).max())
        (x0, y0), (x1, y1) = lo - margin, hi + margin
    else:
        (x0, x1), (y0, y1) = (-1.0, 1.0), (-1.0, 1.0)
    nx, ny = spec.shape
    xs, ys = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)

    def plane(z: NDArray[Any]) -> dict[str, Any]:
        doc.update(x=xs, y=ys, z=_log(z) if spec.log else z)
        for run_doc, coords in zip(docs, projected, strict=True):
            if coords is not None:
                run_doc["trajectory"] = coords
        return doc

    return JobLandscape(PointEvaluation(job.objective, center, d1, d2, xs, ys, dtype), plane)
