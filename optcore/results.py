"""The result document: finite floats only (NaN and Inf become null), as DESIGN.md lists it."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import optax

from .runner import CONVERGED, DIVERGED

if TYPE_CHECKING:
    from .runner import JobRunner

STATUS = {CONVERGED: "converged", DIVERGED: "diverged"}


def finite(value: Any) -> Any:
    """A JSON-safe copy: numpy arrays to lists, non-finite floats to None."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return v if np.isfinite(v) else None
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def versions() -> dict[str, str]:
    try:
        own = metadata.version("optserve")
    except metadata.PackageNotFoundError:
        own = "0.1.0"
    return {"optserve": own, "jax": jax.__version__, "optax": optax.__version__}


def _optimizer_doc(config: dict) -> dict:
    doc = {"optimizer": config["optimizer"], "hyperparameters": dict(config["hyperparameters"])}
    for key in ("schedule", "clip_norm"):
        if config.get(key) is not None:
            doc[key] = config[key]
    if config.get("inner") is not None:
        doc["inner"] = _optimizer_doc(config["inner"])
    return doc


def _run_doc(runner: JobRunner, run_index: int, group_index: int, b: int) -> dict:
    run = runner.job.runs[run_index]
    carry = runner._carries[group_index]
    chunks = [records[group_index] for records in runner._records]
    valid = np.concatenate([c.valid[b] for c in chunks])
    n = int(valid.sum())  # records are valid up to the step where the run stopped
    steps = np.arange(n) * runner.program.every
    loss = np.concatenate([c.loss[b] for c in chunks])[:n]
    grad_norm = np.concatenate([c.grad_norm[b] for c in chunks])[:n]
    final_step = int(carry.step[b])
    final_params = np.asarray(carry.params[b])
    final_loss = chunks[-1].final_loss[b]
    status = int(carry.status[b])
    if runner.program.record_params:
        trajectory = np.concatenate([c.params[b] for c in chunks])[:n]
    if n == 0 or steps[-1] != final_step:
        steps = np.append(steps, final_step)
        loss = np.append(loss, final_loss)
        grad_norm = np.append(grad_norm, chunks[-1].final_grad_norm[b])
        if runner.program.record_params:
            trajectory = np.concatenate([trajectory, final_params[None]])
    doc = {
        "label": run.label,
        **_optimizer_doc(run.config),
        "seed": run.seed,
        "status": STATUS.get(status, "max_steps"),
        "steps": final_step,
        "diverged_at": int(carry.diverged_at[b]) if status == DIVERGED else None,
        "final": {"loss": finite(final_loss), "params": finite(final_params)},
        "best": {"loss": finite(carry.best_loss[b]), "step": int(carry.best_step[b])
                 if np.isfinite(carry.best_loss[b]) else None},
        "step": steps.tolist(),
        "loss": finite(loss),
        "grad_norm": finite(grad_norm),
    }
    if runner.program.record_params:
        doc["trajectory"] = finite(trajectory)
    return doc


def assemble(runner: JobRunner) -> dict:
    job = runner.job
    where = {}
    for g, group in enumerate(runner.groups):
        for b, i in enumerate(group.members):
            where[i] = (g, b)
    runs = [_run_doc(runner, i, *where[i]) for i in range(len(job.runs))]
    result = {
        "id": None,
        "status": "succeeded",
        "objective": {"name": job.objective.name, "params": dict(job.objective.params),
                      "dimension": job.objective.dim, "minima": job.objective.minima,
                      "minimum_value": job.objective.minimum_value},
        "runs": runs,
        "landscape": None,
        "timing": {k: round(v, 3) for k, v in runner.timing.items()},
        "device": jax.default_backend(),
        "dtype": job.spec.dtype,
        "versions": versions(),
    }
    if job.spec.record.landscape is not None:
        from .landscape import grid2d_for_job

        result["landscape"], ms = grid2d_for_job(job)
        result["timing"]["landscape_ms"] = round(ms, 3)
    return result
