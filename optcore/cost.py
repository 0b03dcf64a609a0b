"""What a job will cost, estimated from its spec alone, before anything is expanded or run.

``estimate(spec)`` counts the runs (the sweep products, arithmetically), the numbers the job
records, the parameters held at once and the floating-point operations of its steps and its
landscape. ``overruns(cost, limits)`` says which limits it passes. The API refuses such a job
at submission; a CLI run on one's own machine is not limited.

FLOPs are an estimate, not a measurement: the dense layers of a network dominate and are
counted exactly (2 per multiply-add, backward twice forward); a test function or an expression
and an optimizer's update are charged a fixed amount per parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import objectives
from .learning import LearningObjective
from .spec import MAX_TRAJECTORY_DIM, JobSpec, landscape_kind
from .sweeps import sweep_size

UPDATE_FLOPS = 40  # per parameter and step: an optimizer's update, its moments, a clip
VECTOR_FLOPS = 40  # per coordinate: a test function's value and gradient
EXPRESSION_FLOPS = 4  # per character of an expression: its value and gradient
RECORDED_PER_STEP = 3  # step, loss, gradient norm


@dataclass(frozen=True)
class Cost:
    runs: int
    parameters: int  # of one run
    recorded_values: int  # numbers the runs record, snapshots for a plane, landscape values
    parameter_memory: int  # parameters held at once: runs x parameters
    flops: float
    landscape_points: int
    landscape_flops: float

    @property
    def step_flops(self) -> float:
        return self.flops - self.landscape_flops


@dataclass(frozen=True)
class Limits:
    """Per job (the service's settings OPTSERVE_MAX_RECORDED_VALUES, ..._PARAMETERS and
    ..._JOB_FLOPS hold the defaults)."""

    recorded_values: int
    parameters: int
    job_flops: float


@dataclass(frozen=True)
class Overrun:
    limit: str  # the Limits field
    field: str  # the part of the job to change
    value: float  # the job's figure
    maximum: float
    message: str


def estimate(spec: JobSpec, objective: Any = None) -> Cost:
    """The cost of ``spec``; ``objective`` is its resolved objective when already at hand."""
    if objective is None:
        objective = objectives.resolve(spec.objective.model_dump(exclude_none=True))
    runs = sum(sweep_size(run) for run in spec.runs)
    dim = int(objective.dim)
    records = spec.steps // spec.record.every + 2  # the first, every n-th and the last
    per_record = RECORDED_PER_STEP + bool(objective.has_validation)
    kind = landscape_kind(spec, objective)
    if objective.vector and dim <= MAX_TRAJECTORY_DIM:
        per_record += dim  # the trajectory
    elif kind in ("random", "pca"):
        per_record += dim  # flattened params kept to project the path onto the plane
    points = _landscape_points(spec, kind)
    step, record, point = _flops_per(objective, spec.objective.expression)
    landscape = points * point + (_pca_flops(records, dim) if kind == "pca" else 0.0)
    flops = runs * (spec.steps * step + records * record) + landscape
    search = _search_steps(spec)  # a tuned run's candidates each take steps before the race
    return Cost(
        runs=runs,
        parameters=dim,
        recorded_values=runs * records * per_record + _landscape_values(spec, kind),
        parameter_memory=max(runs, _search_runs(spec)) * dim,
        flops=float(flops + search * step),
        landscape_points=points,
        landscape_flops=float(landscape),
    )


def _search_runs(spec: JobSpec) -> int:
    """Runs of the tuning search: every candidate of every tuned run, held at once."""
    return sum(sweep_size(run) * run.tune.candidates for run in spec.runs if run.tune)


def _search_steps(spec: JobSpec) -> int:
    return sum(
        sweep_size(run) * run.tune.candidates * (run.tune.steps or spec.steps)
        for run in spec.runs
        if run.tune
    )


def _landscape_points(spec: JobSpec, kind: str | None) -> int:
    landscape = spec.record.landscape
    if landscape is None:
        return 0
    nx, ny = landscape.shape
    return nx if kind == "interpolation" else nx * ny


def _landscape_values(spec: JobSpec, kind: str | None) -> int:
    """x, y and z of a plane; x and z of a line."""
    landscape = spec.record.landscape
    if landscape is None:
        return 0
    nx, ny = landscape.shape
    return 2 * nx if kind == "interpolation" else nx * ny + nx + ny


def _flops_per(objective: Any, expression: str | None) -> tuple[float, float, float]:
    """FLOPs of one step, one record (losses on the whole data) and one landscape point."""
    dim = objective.dim
    if isinstance(objective, LearningObjective):
        macs = sum(a * b for a, b in zip(objective.layers, objective.layers[1:], strict=False))
        train = len(objective.train[0])
        held = len(objective.held_out[0]) if objective.held_out is not None else 0
        batch = objective.batch_size or train
        forward = 2 * macs  # per sample
        return (
            3 * forward * batch + UPDATE_FLOPS * dim,
            forward * (train + held),
            forward * train + 4 * dim,  # the loss at centre + a d1 + b d2
        )
    value = EXPRESSION_FLOPS * len(expression) if expression else VECTOR_FLOPS * dim
    return value + UPDATE_FLOPS * dim, value, value


def _pca_flops(records: int, dim: int) -> float:
    return 4.0 * records * dim * min(records, dim)  # a thin SVD of the path


def overruns(cost: Cost, limits: Limits) -> list[Overrun]:
    """The limits this job passes, each with the part of the job to change."""
    out = []
    if cost.recorded_values > limits.recorded_values:
        out.append(
            Overrun(
                "recorded_values",
                "record.every",
                cost.recorded_values,
                limits.recorded_values,
                f"the job would record {cost.recorded_values:,} numbers over {cost.runs:,} "
                f"run{'s' if cost.runs > 1 else ''} (record less often or run fewer)",
            )
        )
    if cost.parameter_memory > limits.parameters:
        out.append(
            Overrun(
                "parameters",
                "runs" if cost.runs > 1 else "objective.params.hidden",
                cost.parameter_memory,
                limits.parameters,
                f"{cost.runs:,} runs x {cost.parameters:,} parameters = "
                f"{cost.parameter_memory:,} parameters held at once (use fewer runs or a "
                "smaller network)",
            )
        )
    if cost.flops > limits.job_flops:
        landscape = cost.landscape_flops > cost.step_flops
        out.append(
            Overrun(
                "job_flops",
                "record.landscape.resolution" if landscape else "steps",
                cost.flops,
                limits.job_flops,
                f"the job would take about {cost.flops:.3g} floating-point operations "
                f"({cost.landscape_flops:.3g} of them for {cost.landscape_points:,} landscape "
                f"points: {'lower the resolution' if landscape else 'run fewer steps or runs'})",
            )
        )
    return out
