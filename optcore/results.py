"""The result document: finite floats only (NaN and Inf become null), as DESIGN.md lists it."""

from __future__ import annotations

import gc
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import optax

from .program import CONVERGED, DIVERGED, FLAT, VECTOR
from .version import VERSION

if TYPE_CHECKING:
    from .runner import JobRunner

STATUS = {CONVERGED: "converged", DIVERGED: "diverged"}


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


def _optimizer_doc(config: dict) -> dict:
    doc = {"optimizer": config["optimizer"], "hyperparameters": dict(config["hyperparameters"])}
    for key in ("schedule", "clip_norm"):
        if config.get(key) is not None:
            doc[key] = config[key]
    if config.get("inner") is not None:
        doc["inner"] = _optimizer_doc(config["inner"])
    return doc


class GroupRecords:
    """One group's records over all chunks, joined once: arrays of [B, R, ...]."""

    def __init__(self, runner: JobRunner, g: int):
        chunks = [records[g] for records in runner.records]

        def joined(field: str) -> np.ndarray:  # float64 once here, not per run and list
            return np.concatenate([getattr(c, field) for c in chunks], axis=1).astype(np.float64)

        self.loss, self.grad_norm, self.params = (
            joined("loss"),
            joined("grad_norm"),
            joined("params"),
        )
        self.count = np.concatenate([c.valid for c in chunks], axis=1).sum(axis=1)
        self.final_loss = chunks[-1].final_loss.astype(np.float64)
        self.final_grad_norm = chunks[-1].final_grad_norm.astype(np.float64)
        self.final_validation = chunks[-1].final_validation.astype(np.float64)
        self.carry = runner.carries[g]
        self.vector = runner.job.objective.vector
        self.final_params = self.carry.params.astype(np.float64) if self.vector else None
        self.has_validation = runner.job.objective.has_validation
        self.validation = joined("validation") if self.has_validation else None

    def final_tree(self, b: int):
        """Run b's final params as a pytree of numpy arrays."""
        return jax.tree.map(lambda a: np.asarray(a[b]), self.carry.params)

    def path(self, b: int, n: int) -> np.ndarray:
        """Run b's recorded (flattened) params and its final ones, as rows."""
        final = np.concatenate([np.ravel(x) for x in jax.tree.leaves(self.final_tree(b))])
        return np.vstack([self.params[b, :n], final[None].astype(np.float64)])


def _run_doc(runner: JobRunner, run_index: int, rec: GroupRecords, b: int) -> dict:
    run = runner.job.runs[run_index]
    carry = rec.carry
    n = int(rec.count[b])  # records are valid up to the step where the run stopped
    steps = list(range(0, n * runner.program.every, runner.program.every))
    loss, grad_norm = rec.loss[b, :n], rec.grad_norm[b, :n]
    final_step = int(carry.step[b])
    final_params = rec.final_params[b] if rec.vector else None
    status = int(carry.status[b])
    trajectory = rec.params[b, :n] if runner.program.snapshot == VECTOR else None
    held_out = rec.validation[b, :n] if rec.has_validation else None
    if n == 0 or steps[-1] != final_step:  # the last state, when it fell between records
        steps.append(final_step)
        loss = np.append(loss, rec.final_loss[b])
        grad_norm = np.append(grad_norm, rec.final_grad_norm[b])
        if trajectory is not None:
            trajectory = np.concatenate([trajectory, final_params[None]])
        if held_out is not None:
            held_out = np.append(held_out, rec.final_validation[b])
    best = carry.best_loss[b]
    doc = {
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
            "step": int(carry.best_step[b]) if np.isfinite(best) else None,
        },
        "step": steps,
        "loss": finite(loss),
        "grad_norm": finite(grad_norm),
    }
    if trajectory is not None:
        doc["trajectory"] = finite(trajectory)
    if held_out is not None:
        doc["validation_loss"] = finite(held_out)
    return doc


def assemble(runner: JobRunner) -> dict:
    # Building many small lists would trigger the cyclic GC over and over (it dominated the
    # time of a 1,024-run sweep); these containers hold no cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _assemble(runner)
    finally:
        if enabled:
            gc.enable()


def _assemble(runner: JobRunner) -> dict:
    job = runner.job
    runs: list[dict | None] = [None] * len(job.runs)
    finals: list = [None] * len(job.runs)
    paths: list = [None] * len(job.runs)
    for g, group in enumerate(runner.groups):
        records = GroupRecords(runner, g)
        for b, i in enumerate(group.members):
            runs[i] = _run_doc(runner, i, records, b)
            finals[i] = records.final_tree(b)
            if runner.program.snapshot == FLAT:
                paths[i] = records.path(b, int(records.count[b]))
    result = {
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
        "landscape": None,
        "timing": {k: round(v, 3) for k, v in runner.timing.items()},
        "device": jax.default_backend(),
        "dtype": job.spec.dtype,
        "versions": versions(),
    }
    if job.spec.record.landscape is not None:
        from .landscape import grid2d_for_job, plane_for_job

        if job.spec.record.landscape.kind == "grid":
            result["landscape"], ms = grid2d_for_job(job)
        else:
            result["landscape"], ms = plane_for_job(job, finals, paths, runs)
        result["timing"]["landscape_ms"] = round(ms, 3)
    return result
