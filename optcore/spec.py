"""The job document (pydantic v2) and its checks against the catalog.

``parse_job`` turns a plain dict into a ``Job``: the validated spec, the objective, and one
``PlannedRun`` per run with sweeps expanded. Every problem is a ``SpecError`` naming its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import objectives
from .carry import FLAT, NO_SNAPSHOT, VECTOR
from .errors import SpecError, join_field
from .labels import unique_labels
from .objectives import AnyObjective, Objective
from .ranges import check_box, unrepresentable
from .sweeps import PlannedRun, expand, labels_distinct, sweep_size

MAX_STEPS = 1_000_000
MAX_RUNS = 4096
MAX_RESOLUTION = 501
MAX_TRAJECTORY_DIM = 3  # parameters are recorded as a trajectory up to this dimension

# Strict: a boolean or a string is not a number here ("steps": true is an error, not 1 step).
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]
StrictInt = Annotated[int, Field(strict=True)]
Box = tuple[tuple[FiniteFloat, FiniteFloat], tuple[FiniteFloat, FiniteFloat]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptimizerSpec(Strict):
    optimizer: str = Field(description="a name from GET /v1/optimizers")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    inner: OptimizerSpec | None = Field(None, description="the wrapped optimizer (lookahead)")
    schedule: dict[str, Any] | None = Field(None, description="learning-rate schedule")
    clip_norm: FiniteFloat | None = Field(None, description="clip the global gradient norm")


class InitSpec(Strict):
    point: list[FiniteFloat] | None = Field(None, description="start; default: the objective's")


MAX_CANDIDATES = 4096  # per tuned run


class Distribution(Strict):
    """Where a tuned hyperparameter's candidates come from: exactly one of the three."""

    log_uniform: tuple[FiniteFloat, FiniteFloat] | None = Field(None, description="[low, high]")
    uniform: tuple[FiniteFloat, FiniteFloat] | None = Field(None, description="[low, high]")
    values: list[FiniteFloat] | None = Field(None, min_length=1, max_length=MAX_CANDIDATES)

    @model_validator(mode="after")
    def _one(self) -> Distribution:
        given = [k for k in ("log_uniform", "uniform", "values") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of log_uniform, uniform, values")
        bounds = self.log_uniform or self.uniform
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError("bounds must be [low, high] with low < high")
        if self.log_uniform is not None and self.log_uniform[0] <= 0:
            raise ValueError("log_uniform needs low > 0")
        return self


class TuneSpec(Strict):
    """Tune a run before it races: every other key is a traced hyperparameter to tune."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Distribution] = Field(init=False)

    candidates: StrictInt = Field(64, ge=1, le=MAX_CANDIDATES, description="candidates to try")
    steps: StrictInt | None = Field(
        None, ge=1, le=MAX_STEPS, description="default: the job's steps"
    )
    score: Literal["final_loss", "best_loss", "distance_to_minimum"] = "final_loss"
    method: Literal["refine", "grid", "random"] = Field(
        "refine",
        description="refine: a grid, then finer grids around the best, over `rounds` rounds; "
        "grid: one grid; random: seeded draws",
    )
    rounds: StrictInt | None = Field(
        None,
        ge=1,
        le=16,
        description="refine: rounds the candidates are spread over "
        "(default: one per 20 candidates, at most 10)",
    )
    seed: StrictInt = Field(0, ge=0, lt=2**31, description="seed of the random candidates")


class RunSpec(OptimizerSpec):
    label: str | None = Field(None, max_length=120)
    tune: TuneSpec | None = Field(
        None,
        description='e.g. {"learning_rate": {"log_uniform": [1e-5, 1]}, "candidates": 256}: '
        "the best candidate (lowest score; diverged ones never win) races",
    )
    sweep: dict[str, list[Any]] | None = Field(
        None, description="hyperparameter (or 'seed') -> values; one run per combination"
    )
    init: InitSpec | None = None


class ObjectiveSpec(Strict):
    name: str | None = Field(None, description="a name from GET /v1/objectives")
    params: dict[str, Any] = Field(default_factory=dict)
    expression: str | None = Field(
        None,
        description="instead of a name: a formula in the variables, e.g. "
        "'(1 - x)**2 + 100*(y - x**2)**2' (+ - * / **, sin cos tan exp log sqrt abs tanh, pi, e)",
    )
    variables: list[str] | None = Field(
        None, description='the expression\'s variables, in order (default ["x", "y"])'
    )
    box: Box | None = Field(None, description="plotting box of an expression objective")
    data: dict[str, Any] | None = Field(
        None, description='regression/classification: {"x": n x d, "y": n or n x k}'
    )

    @field_validator("box")
    @classmethod
    def _box(cls, v: Box | None) -> Box | None:
        return check_box(v)


class StoppingSpec(Strict):
    tolerance: FiniteFloat | None = Field(
        None, gt=0, description="converged when a step moves the parameters less than this"
    )
    grad_tolerance: FiniteFloat | None = Field(
        None, gt=0, description="converged when the gradient norm is at most this"
    )
    target_loss: FiniteFloat | None = Field(
        None, description="converged when the loss is at most this"
    )


class LandscapeSpec(Strict):
    kind: Literal["grid", "random", "pca", "interpolation"] | None = Field(
        None,
        description="grid: the objective over a box (2-D objectives); random: the plane "
        "of two filter-normalised random directions around a run's final parameters (Li et al. "
        "2018); pca: the plane of a run's trajectory's top-2 principal components; "
        "interpolation: the line from a run's start to its end. Default: grid for 2-D test "
        "functions, random otherwise.",
    )
    resolution: StrictInt | tuple[StrictInt, StrictInt] = Field(
        101, description="points per axis, or [nx, ny]"
    )
    bounds: Box | None = Field(
        None,
        description="[[xmin, xmax], [ymin, ymax]]; default: the objective's box (grid), "
        "[[-1, 1], [-1, 1]] (random), the path with a margin (pca), [[-0.5, 1.5], ...] "
        "(interpolation)",
    )
    normalization: Literal["filter", "layer", "none"] = Field(
        "filter", description="scale of the random directions (per output unit, per layer)"
    )
    bias: Literal["zero", "keep"] = Field(
        "zero",
        description="direction on leaves of at most one dimension (biases): zero, or keep = "
        "the weights themselves (Li et al.'s net_plotter.py, ignore='biasbn' vs not)",
    )
    log: bool = Field(False, strict=True, description="store log(value) (values <= 0 become null)")
    run: StrictInt = Field(0, ge=0, description="index of the run (after sweeps) at the centre")
    seed: StrictInt | None = Field(
        None, ge=0, lt=2**31, description="seed of the random directions"
    )

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: int | tuple[int, int]) -> int | tuple[int, int]:
        for n in v if isinstance(v, tuple) else (v,):
            if not 2 <= n <= MAX_RESOLUTION:
                raise ValueError(f"each axis needs 2 to {MAX_RESOLUTION} points, not {n}")
        return v

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, v: Box | None) -> Box | None:
        return check_box(v)

    @property
    def shape(self) -> tuple[int, int]:
        r = self.resolution
        return r if isinstance(r, tuple) else (r, r)


class RecordSpec(Strict):
    every: StrictInt = Field(1, ge=1, le=MAX_STEPS, description="record every n-th step")
    landscape: LandscapeSpec | None = None


class JobSpec(Strict):
    """A job: one objective, one or more runs, how long and what to record."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "objective": {"name": "rosenbrock", "params": {"a": 1.0, "b": 100.0}},
                    "runs": [
                        {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}},
                        {
                            "optimizer": "nesterov",
                            "hyperparameters": {"learning_rate": 0.001, "momentum": 0.9},
                        },
                    ],
                    "init": {"point": [-1.5, 2.0]},
                    "steps": 2000,
                    "record": {"every": 10},
                }
            ]
        },
    )

    objective: ObjectiveSpec
    runs: list[RunSpec] = Field(min_length=1, max_length=MAX_RUNS)
    init: InitSpec = Field(default_factory=InitSpec)
    steps: StrictInt = Field(1000, ge=1, le=MAX_STEPS)
    stopping: StoppingSpec = Field(default_factory=StoppingSpec)
    record: RecordSpec = Field(default_factory=RecordSpec)
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    dtype: Literal["float32", "float64"] = "float32"
    # Where the service runs the job (its queue); optcore itself runs on JAX's default device.
    device: Literal["auto", "cpu", "gpu"] = "auto"


@dataclass(frozen=True)
class Job:
    spec: JobSpec
    objective: AnyObjective
    runs: list[PlannedRun]  # those parsed: all of the job's, or the ones asked for
    total_runs: int  # the job's, after sweeps

    @property
    def snapshot(self) -> str:
        """What of each run's params the runner records: the vector itself for test
        functions of up to 3 dimensions, the flattened params when a landscape plane needs
        the path projected onto it, nothing otherwise."""
        if self.objective.vector and self.objective.dim <= MAX_TRAJECTORY_DIM:
            return VECTOR
        landscape = self.spec.record.landscape
        if landscape is not None and landscape.kind in ("random", "pca"):
            return FLAT
        return NO_SNAPSHOT


def _field_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else join_field(out, str(part))
    return out


def validate_model(doc: Any) -> JobSpec:
    if isinstance(doc, JobSpec):
        spec = doc
    elif not isinstance(doc, Mapping):
        raise SpecError("", "the job must be a JSON object")
    else:
        try:
            spec = JobSpec.model_validate(doc)
        except ValidationError as exc:
            errors = [(_field_of(e["loc"]), e["msg"]) for e in exc.errors()]
            raise SpecError.combine(errors) from None
    overflowing = list(unrepresentable(spec, ""))
    if overflowing:
        raise SpecError.combine(overflowing)
    return spec


def parse_job(doc: Any, max_runs: int = MAX_RUNS, only: range | None = None) -> Job:
    """Validate a job document completely; raise SpecError with every problem found.

    ``only``: keep just these runs (after sweeps), resolving only their configs: a shard of a
    large, already validated job. Labels are those of the whole job."""
    spec = validate_model(doc)
    _check_run_count(spec, max_runs)
    objective = objectives.resolve(spec.objective.model_dump(exclude_none=True), "objective")
    errors: list[tuple[str, str]] = []
    start = _start(spec.init, objective, "init.point", errors)
    distinct = labels_distinct(spec.runs)
    runs: list[PlannedRun | str] = []
    total = 0
    for i, run in enumerate(spec.runs):
        n = sweep_size(run)
        window = None if only is None else range(only.start - total, only.stop - total)
        own = _start(run.init, objective, f"runs[{i}].init.point", errors) if run.init else start
        try:
            runs.extend(expand(run, i, spec.seed, own, _clip(window, n), distinct))
        except SpecError as exc:
            errors.extend(exc.errors)
        total += n
    errors += _check_landscape(spec, objective, total)
    if any(run.tune is not None for run in spec.runs):
        from .tune import check_tuning

        errors += check_tuning(spec, objective)
    if errors:
        raise SpecError.combine(errors)
    if not distinct:  # the runs before ``only`` came as labels, to number repeated ones
        runs = unique_labels(runs)[only.start if only else 0 :]
    return Job(spec, objective, [r for r in runs if isinstance(r, PlannedRun)], total)


def _clip(window: range | None, n: int) -> range | None:
    """A job-wide window as indices among one run spec's ``n`` runs."""
    if window is None:
        return None
    stop = min(max(window.stop, 0), n)
    return range(min(max(window.start, 0), stop), stop)


def _check_run_count(spec: JobSpec, max_runs: int) -> None:
    """Refuse too many runs before any sweep is expanded: a product can be astronomical."""
    sizes = [sweep_size(run) for run in spec.runs]
    too_many = [
        (f"runs[{i}].sweep", f"{n:,} combinations; at most {max_runs:,}")
        for i, n in enumerate(sizes)
        if n > max_runs
    ]
    if too_many:
        raise SpecError.combine(too_many)
    if sum(sizes) > max_runs:
        raise SpecError("runs", f"{sum(sizes):,} runs after sweeps; at most {max_runs:,}")


def landscape_kind(spec: JobSpec, objective: AnyObjective) -> str | None:
    """The landscape's kind as given, else the default for this objective."""
    landscape = spec.record.landscape
    if landscape is None:
        return None
    if landscape.kind is not None:
        return landscape.kind
    return "grid" if objective.vector and objective.dim == 2 else "random"


MAX_SNAPSHOT_VALUES = 50_000_000


def _check_landscape(spec: JobSpec, objective: AnyObjective, n_runs: int) -> list[tuple[str, str]]:
    """Settle the landscape's kind and check it fits the objective; returns the errors."""
    landscape = spec.record.landscape
    if landscape is None:
        return []
    landscape.kind = landscape_kind(spec, objective)  # type: ignore[assignment]
    if landscape.kind == "grid" and not (objective.vector and objective.dim == 2):
        return [
            (
                "record.landscape.kind",
                f"a grid needs a 2-D objective; this one has "
                f"{objective.dim} parameters: use random, pca or interpolation",
            )
        ]
    if landscape.run >= n_runs:
        return [("record.landscape.run", f"there are {n_runs} runs")]
    if landscape.kind in ("random", "pca") and not objective.vector:
        snapshots = (spec.steps // spec.record.every + 2) * n_runs * objective.dim
        if snapshots > MAX_SNAPSHOT_VALUES:
            return [
                (
                    "record.every",
                    f"projecting the path keeps {snapshots:,} numbers; "
                    f"record less often (at most {MAX_SNAPSHOT_VALUES:,})",
                )
            ]
    return []


def _start(
    init: InitSpec | None, objective: AnyObjective, where: str, errors: list[tuple[str, str]]
) -> list[float]:
    if not isinstance(objective, Objective):  # a network: no start point applies
        if init is not None and init.point is not None:
            errors.append(
                (
                    where,
                    "applies to test functions and expressions; a network "
                    "starts from its seeded initialisation (set seed)",
                )
            )
        return []
    if init is None or init.point is None:
        return objective.start
    if len(init.point) != objective.dim:
        errors.append(
            (
                where,
                f"has {len(init.point)} coordinates; {objective.name} here has "
                f"{objective.dim} dimensions",
            )
        )
    return list(init.point)
