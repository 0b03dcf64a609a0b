"""The result document, as DESIGN.md lists it.

Per-step series (``loss``, ``grad_norm``, ``trajectory``, ``validation_loss``) and landscape
grids are numpy arrays in the job's dtype, straight from the device: they may hold NaN or Inf, which
``optcore.dumps`` writes as null. Scalars are Python numbers, non-finite ones None.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

import jax
import numpy as np
import optax
from numpy.typing import NDArray

from .program import CONVERGED, DIVERGED, FLAT, VECTOR, Carry
from .trees import PyTree
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


class GroupRecords:
    """One group's records over all calls, joined once: arrays of [B, R, ...] (real runs
    only, records ``every`` steps apart)."""

    def __init__(self, runner: JobRunner, g: GroupRun) -> None:
        if g.carry is None:
            raise RuntimeError("the group has not run")
        calls = g.records
        keep = runner.every // g.layout.stride  # > 1 when records were taken more often

        def joined(name: str) -> NDArray[Any]:  # in the job's dtype: float32 is written short
            return np.concatenate([getattr(c, name) for c in calls], axis=1)[:, ::keep]

        self.loss, self.grad_norm = joined("loss"), joined("grad_norm")
        self.params = joined("params")
        self.count: NDArray[np.integer[Any]] = joined("valid").sum(axis=1)
        last = calls[-1]
        self.final_loss = last.final_loss
        self.final_grad_norm = last.final_grad_norm
        self.final_validation = last.final_validation
        carry = g.carry._replace(opt_state=None)  # per run: everything but the optimizer state
        self.carry: Carry[NDArray[Any]] = jax.tree.map(
            lambda a: np.asarray(a)[: g.size], jax.device_get(carry)
        )
        self.vector = runner.job.objective.vector
        self.final_params: NDArray[Any] | None = self.carry.params if self.vector else None
        self.has_validation = runner.job.objective.has_validation
        self.validation = joined("validation") if self.has_validation else None

    def final_tree(self, b: int) -> PyTree:
        """Run b's final params as a pytree of numpy arrays."""
        return jax.tree.map(lambda a: np.asarray(a[b]), self.carry.params)

    def path(self, b: int, n: int) -> np.ndarray:
        """Run b's recorded (flattened) params and its final ones, as rows."""
        final = np.concatenate([np.ravel(x) for x in jax.tree.leaves(self.final_tree(b))])
        return np.vstack([self.params[b, :n], final[None]]).astype(np.float64)


def _run_doc(runner: JobRunner, run_index: int, rec: GroupRecords, b: int) -> dict[str, Any]:
    run = runner.job.runs[run_index]
    carry = rec.carry
    every = runner.every
    n = int(rec.count[b])  # records are valid up to the step where the run stopped
    steps = list(range(0, n * every, every))
    loss, grad_norm = rec.loss[b, :n], rec.grad_norm[b, :n]
    final_step = int(carry.step[b])
    final_params = rec.final_params[b] if rec.final_params is not None else None
    status = int(carry.status[b])
    trajectory = rec.params[b, :n] if runner.job.snapshot == VECTOR else None
    held_out = rec.validation[b, :n] if rec.validation is not None else None
    if n == 0 or steps[-1] != final_step:  # the last state, when it fell between records
        steps.append(final_step)
        loss = np.append(loss, rec.final_loss[b])
        grad_norm = np.append(grad_norm, rec.final_grad_norm[b])
        if trajectory is not None and final_params is not None:  # a vector's: both or neither
            trajectory = np.concatenate([trajectory, final_params[None]])
        if held_out is not None:
            held_out = np.append(held_out, rec.final_validation[b])
    # best over every evaluated point: the final one too (taken after the last recorded step)
    best, best_step = carry.best_loss[b], int(carry.best_step[b])
    if np.isfinite(rec.final_loss[b]) and not rec.final_loss[b] >= best:
        best, best_step = rec.final_loss[b], final_step
    doc: dict[str, Any] = {
        "label": run.label,
        **_optimizer_doc(run.config),
        "seed": run.seed,
        "status": STATUS.get(status, "max_steps"),
        "steps": final_step,
        "diverged_at": int(carry.diverged_at[b]) if status == DIVERGED else None,
        "final": {
            "loss": finite(rec.final_loss[b]),
            "params": finite(final_params) if final_params is not None else None,
        },
        "best": {
            "loss": finite(best),
            "step": best_step if np.isfinite(best) else None,
        },
        "step": steps,
        "loss": loss,
        "grad_norm": grad_norm,
    }
    if trajectory is not None:
        doc["trajectory"] = trajectory
    if held_out is not None:
        doc["validation_loss"] = held_out
    return doc


def assemble_runs(runner: JobRunner) -> AssembledRuns:
    """Per run of the job: its document, its final params (a pytree of numpy arrays) and
    its recorded flat params (rows) when a landscape plane needs them, else None."""
    job = runner.job
    docs: dict[int, dict[str, Any]] = {}  # every run is a member of one group
    finals: list[PyTree] = [None] * len(job.runs)
    paths: list[NDArray[np.float64] | None] = [None] * len(job.runs)
    for g in runner.groups:
        records = GroupRecords(runner, g)
        for b, i in enumerate(g.group.members):
            docs[i] = _run_doc(runner, i, records, b)
            finals[i] = records.final_tree(b)
            if job.snapshot == FLAT:
                paths[i] = records.path(b, int(records.count[b]))
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
