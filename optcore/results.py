"""The result document, as DESIGN.md lists it.

Per-step series (``loss``, ``grad_norm``, ``trajectory``, ``validation_loss``) and landscape
grids are numpy arrays in the job's dtype, straight from the device: they may hold NaN or Inf,
which ``optcore.dumps`` writes as null. ``step`` (the step of each record) is an int64 array.
Scalars are Python numbers, non-finite ones None.
"""

from __future__ import annotations

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
        if config.get(key) is not None:
            doc[key] = config[key]
    if config.get("inner") is not None:
        doc["inner"] = _optimizer_doc(config["inner"])
    return doc


def _with_final(
    columns: list[NDArray[Any]], final: NDArray[Any], counts: NDArray[Any]
) -> NDArray[Any]:
    """Recorded columns ([B, R] each) as one array with one more slot, where run b's final
    value goes at its ``counts[b]`` (so that its series is a contiguous row prefix): a
    series, [B, R + 1], from one column and ``final`` [B]; a trajectory, [B, R + 1, d], from
    d columns and ``final`` [B, d]. Slots past the final are left unset: only the prefix is
    ever read."""
    first = columns[0]
    out = np.empty((first.shape[0], first.shape[1] + 1, *final.shape[1:]), first.dtype)
    if final.ndim == 1:
        out[:, :-1] = first
    else:
        for i, column in enumerate(columns):
            out[:, :-1, i] = column
    out[np.arange(len(counts)), counts] = final
    return out


class GroupRecords:
    """One group's records over all calls, joined once: arrays of [B, R + 1, ...] (real
    runs only, records ``every`` steps apart), and per-run scalars as Python lists, all
    worked out for the whole group at once."""

    def __init__(self, runner: JobRunner, g: GroupRun) -> None:
        if g.carry is None:
            raise RuntimeError("the group has not run")
        calls = g.records
        keep = runner.every // g.layout.stride  # > 1 when records were taken more often

        def joined(parts: list[NDArray[Any]]) -> NDArray[Any]:  # float32 stays (written short)
            whole = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            return whole[:, ::keep] if keep > 1 else whole

        def columns(name: str) -> list[NDArray[Any]]:
            return [joined(list(parts)) for parts in zip(*(getattr(c, name) for c in calls))]

        self.final_params_tree: PyTree = jax.tree.map(
            lambda a: a[: g.size], to_host(g.carry.params)
        )
        last = calls[-1]
        final_loss, final_grad_norm, best = (last.finals[:, i] for i in range(3))
        final_step, status, diverged_at, best_step = last.counters.astype(np.int64).T
        valid = joined([c.valid for c in calls]).sum(axis=1)
        every = runner.every
        # the last state is appended when it fell between records
        extra = (valid == 0) | ((valid - 1) * every != final_step)
        self.count = valid + extra  # the length of each run's series
        self.records = valid
        slot = valid  # where the final value goes (ignored unless extra)

        recorded = columns("series")

        def series(column: int, final: NDArray[Any]) -> NDArray[Any]:
            return _with_final([recorded[column]], final, slot)

        self.loss = series(0, final_loss)
        self.grad_norm = series(1, final_grad_norm)
        self.final_loss = final_loss
        self.vector = runner.job.objective.vector
        self.final_params: NDArray[Any] | None = self.final_params_tree if self.vector else None
        self.params = columns("params")  # a vector's coordinates, or one flattened array
        self.trajectory: NDArray[Any] | None = None
        if runner.job.snapshot == VECTOR and self.final_params is not None:
            self.trajectory = _with_final(self.params, self.final_params, slot)
        self.validation: NDArray[Any] | None = None
        if runner.job.objective.has_validation:
            self.validation = series(2, last.finals[:, 3])
        # best over every evaluated point: the final one too (taken after the last step)
        final_better = np.isfinite(self.final_loss) & ~(self.final_loss >= best)
        best = np.where(final_better, self.final_loss, best)
        best_step = np.where(final_better, final_step, best_step)
        self.scalars = {
            "steps": final_step.tolist(),
            "status": [STATUS.get(s, "max_steps") for s in status.tolist()],
            "diverged_at": np.where(status == DIVERGED, diverged_at, -1).tolist(),
            "final_loss": finite(self.final_loss),
            "best_loss": finite(best),
            "best_step": np.where(np.isfinite(best), best_step, -1).tolist(),
            "final_params": (finite(self.final_params) if self.final_params is not None else None),
            "count": self.count.tolist(),
            "records": valid.tolist(),
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
    steps = np.arange(n, dtype=np.int64) * every
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
