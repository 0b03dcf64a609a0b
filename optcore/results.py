"""The result document, as DESIGN.md lists it.

Per-step series (``loss``, ``grad_norm``, ``trajectory``, ``validation_loss``) and landscape
grids are numpy arrays in the job's dtype, straight from the device: they may hold NaN or Inf,
which ``optcore.dumps`` writes as null. ``step`` (the step of each record) is an int64 array.
Scalars are Python numbers, non-finite ones None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

import jax
import numpy as np
import optax
from numpy.typing import NDArray

from .carry import CONVERGED, DIVERGED, FLAT, VECTOR
from .trees import PyTree, to_host
from .version import VERSION

if TYPE_CHECKING:
    from .runner import GroupRun, JobRunner

STATUS = {CONVERGED: "converged", DIVERGED: "diverged"}
# Per run of a job: its document, its final params (a pytree of numpy arrays), and its
# recorded flat params (rows, float64) when a landscape plane needs them, else None.
AssembledRuns: TypeAlias = tuple[
    list[dict[str, Any]], list[PyTree], list[NDArray[np.float64] | None]
]


def finite(value: Any) -> Any:
    """A JSON-safe copy: numpy arrays to lists, non-finite floats to None."""
    arr = value if getattr(value, "dtype", None) == np.float64 else np.asarray(value, np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return v if np.isfinite(v) else None
    ok = np.isfinite(arr)
    if ok.all():
        return arr.tolist()
    out = arr.astype(object)
    out[~ok] = None
    return out.tolist()


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    return (("optserve", VERSION), ("jax", jax.__version__), ("optax", optax.__version__))


def versions() -> dict[str, str]:
    return dict(_versions())


def _optimizer_doc(config: Mapping[str, Any]) -> dict[str, Any]:
    doc = {"optimizer": config["optimizer"], "hyperparameters": dict(config["hyperparameters"])}
    for key in ("schedule", "clip_norm"):
        value = config.get(key)
        if value is not None:  # a copy: configs are shared (``optimizers.resolve``)
            doc[key] = dict(value) if isinstance(value, Mapping) else value
    if config.get("inner") is not None:
        doc["inner"] = _optimizer_doc(config["inner"])
    return doc


def _with_final(
    columns: list[NDArray[Any]], final: NDArray[Any], rows: NDArray[Any], counts: NDArray[Any]
) -> NDArray[Any]:
    """Recorded columns ([B, R] each) as one array with one more slot, where run b's final
    value goes at its ``counts[b]`` (so that its series is a contiguous row prefix): a
    series, [B, R + 1], from one column and ``final`` [B]; a trajectory, [B, R + 1, d], from
    d columns and ``final`` [B, d]. ``rows``: ``arange(B)``. Slots past the final are left
    unset: only the prefix is ever read."""
    first = columns[0]
    out = np.empty((first.shape[0], first.shape[1] + 1, *final.shape[1:]), first.dtype)
    if final.ndim == 1:
        out[:, :-1] = first
    else:
        for i, column in enumerate(columns):
            out[:, :-1, i] = column
    out[rows, counts] = final
    return out


class GroupRecords:
    """One group's records over all calls, joined once: arrays of [B, R + 1, ...] (real
    runs only, records ``every`` steps apart), and per-run scalars as Python lists. The
    series are put together with numpy for the whole group; the scalars come from two
    ``tolist`` calls and plain Python: per-element numpy calls on a small group's [B]
    arrays cost more than the values (a one-run job's document: 50 numpy calls, now 20)."""

    def __init__(self, runner: JobRunner, g: GroupRun) -> None:
        if g.state is None:
            raise RuntimeError("the group has not run")
        calls, every = g.records, runner.every
        keep = every // g.layout.stride  # > 1 when records were taken more often

        def joined(parts: list[NDArray[Any]]) -> NDArray[Any]:  # float32 stays (written short)
            whole = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            return whole[:, ::keep] if keep > 1 else whole

        def columns(name: str) -> list[NDArray[Any]]:
            return [joined(list(parts)) for parts in zip(*(getattr(c, name) for c in calls))]

        self.final_params_tree: PyTree = jax.tree.map(
            lambda a: a[: g.size], to_host(g.state.params)
        )
        last = calls[-1]
        # valid records are a prefix of a run's slots, over all calls: their count, of
        # those kept when records were taken more often
        valid = calls[0].valid if len(calls) == 1 else np.sum([c.valid for c in calls], axis=0)
        if keep > 1:
            valid = -(-valid // keep)
        self.records = valid.tolist()
        # the last state is appended when it fell between records; best is over every
        # evaluated point, the final one too (taken after the last step)
        count, steps, status, diverged_at, final_loss, best_loss, best_step = ([] for _ in range(7))
        for (step, state, diverged, best_at), (loss, _, best, *_), v in zip(
            last.counters.tolist(), last.finals.tolist(), self.records, strict=True
        ):
            count.append(v + (v == 0 or (v - 1) * every != step))
            if math.isfinite(loss) and not loss >= best:
                best, best_at = loss, step
            steps.append(step)
            status.append(STATUS.get(state, "max_steps"))
            diverged_at.append(diverged if state == DIVERGED else -1)
            final_loss.append(loss if math.isfinite(loss) else None)
            finite_best = math.isfinite(best)
            best_loss.append(best if finite_best else None)
            best_step.append(best_at if finite_best else -1)
        self.count = count  # the length of each run's series
        rows, slot = np.arange(len(count)), valid  # where the final value goes (if appended)

        def with_final(columns: list[NDArray[Any]], final: NDArray[Any]) -> NDArray[Any]:
            return _with_final(columns, final, rows, slot)

        recorded = columns("series")
        self.final_loss = last.finals[:, 0]
        self.loss = with_final([recorded[0]], self.final_loss)
        self.grad_norm = with_final([recorded[1]], last.finals[:, 1])
        self.vector = runner.job.objective.vector
        self.final_params: NDArray[Any] | None = self.final_params_tree if self.vector else None
        self.params = columns("params")  # a vector's coordinates, or one flattened array
        self.trajectory: NDArray[Any] | None = None
        if runner.job.snapshot == VECTOR and self.final_params is not None:
            self.trajectory = with_final(self.params, self.final_params)
        self.validation: NDArray[Any] | None = None
        if runner.job.objective.has_validation:
            self.validation = with_final([recorded[2]], last.finals[:, 3])
        self.scalars = {
            "steps": steps,
            "status": status,
            "diverged_at": diverged_at,
            "final_loss": final_loss,
            "best_loss": best_loss,
            "best_step": best_step,
            "final_params": (finite(self.final_params) if self.final_params is not None else None),
            "count": count,
            "records": self.records,
        }

    def final_tree(self, b: int) -> PyTree:
        """Run b's final params as a pytree of numpy arrays."""
        return jax.tree.map(lambda a: np.asarray(a[b]), self.final_params_tree)

    def path(self, b: int) -> NDArray[np.float64]:
        """Run b's recorded (flattened) params and its final ones, as rows."""
        n = int(self.records[b])
        final = np.concatenate([np.ravel(x) for x in jax.tree.leaves(self.final_tree(b))])
        return np.vstack([self.params[0][b, :n], final[None]]).astype(np.float64)


def _run_doc(runner: JobRunner, run_index: int, rec: GroupRecords, b: int) -> dict[str, Any]:
    run = runner.job.runs[run_index]
    every, s = runner.every, rec.scalars
    n, recorded, final_step = s["count"][b], s["records"][b], s["steps"][b]
    steps = np.arange(0, n * every, every, dtype=np.int64)
    if n > recorded:  # the last state, when it fell between records
        steps[-1] = final_step
    diverged_at, best_step = s["diverged_at"][b], s["best_step"][b]
    final_params = s["final_params"]
    doc: dict[str, Any] = {
        "label": run.label,
        **_optimizer_doc(run.config),
        "seed": run.seed,
        "status": s["status"][b],
        "steps": final_step,
        "diverged_at": diverged_at if diverged_at >= 0 else None,
        "final": {
            "loss": s["final_loss"][b],
            "params": final_params[b] if final_params is not None else None,
        },
        "best": {
            "loss": s["best_loss"][b],
            "step": best_step if best_step >= 0 else None,
        },
        "step": steps,
        "loss": rec.loss[b, :n],
        "grad_norm": rec.grad_norm[b, :n],
    }
    if rec.trajectory is not None:
        doc["trajectory"] = rec.trajectory[b, :n]
    if rec.validation is not None:
        doc["validation_loss"] = rec.validation[b, :n]
    return doc


def assemble_runs(runner: JobRunner, landscape: bool = True) -> AssembledRuns:
    """Per run of the job: its document, and when a ``landscape`` needs them, its final
    params (a pytree of numpy arrays) and its recorded flat params (rows) for a plane."""
    job = runner.job
    docs: dict[int, dict[str, Any]] = {}  # every run is a member of one group
    finals: list[PyTree] = [None] * len(job.runs)
    paths: list[NDArray[np.float64] | None] = [None] * len(job.runs)
    for g in runner.groups:
        records = GroupRecords(runner, g)
        for b, i in enumerate(g.group.members):
            docs[i] = _run_doc(runner, i, records, b)
            if landscape:
                finals[i] = records.final_tree(b)
                if job.snapshot == FLAT:
                    paths[i] = records.path(b)
    return [docs[i] for i in range(len(job.runs))], finals, paths


def document(
    runner: JobRunner, runs: list[dict[str, Any]], landscape: dict[str, Any] | None
) -> dict[str, Any]:
    job = runner.job
    timing = {k: round(v, 3) for k, v in runner.timing.items()}
    timing["programs_compiled"] = runner.count.programs
    timing["programs_from_disk"] = runner.count.disk_hits
    return {
        "id": None,
        "status": "succeeded",
        "objective": {
            "name": job.objective.name,
            "params": dict(job.objective.params),
            "dimension": job.objective.dim,
            "minima": job.objective.minima,
            "minimum_value": job.objective.minimum_value,
        },
        "runs": runs,
        "landscape": landscape,
        "timing": timing,
        "device": jax.default_backend(),
        "dtype": job.spec.dtype,
        "versions": versions(),
    }
