"""The documents the API sends, as pydantic models: the OpenAPI document, the routes'
``response_model`` and ``optserve.client`` all read them from here.

Documents that optcore writes (catalog entries, the result) allow extra fields: a field added
there shows up on the wire before it is described here, and a client never breaks on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# re-exported (the ``as`` form): clients and the API read the states from here
from worker.states import FINAL_STATES as FINAL_STATES
from worker.states import JobState as JobState

PlotKind = Literal["contour", "loss", "surface", "landscape"]


class Open(BaseModel):
    """A document that may carry fields this version does not describe."""

    model_config = ConfigDict(extra="allow")


# -- problems (RFC 9457) ----------------------------------------------------------------------


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the bad field ('' or 'body': the document)")
    message: str


class Problem(Open):
    """Every error: RFC 9457 problem details, sent as application/problem+json."""

    type: str = Field("about:blank", description="/problems/<kind>, or about:blank")
    title: str
    status: int
    detail: str
    instance: str = Field(description="the path that was requested")
    errors: list[FieldError] | None = Field(
        None, description="422: each bad field and why (the first 100; `detail` gives the count)"
    )
    job_status: JobState | None = Field(None, description="409: the job's status")
    plot_kind: PlotKind | None = Field(None, description="409 no-data: the plot asked for")


# -- jobs -------------------------------------------------------------------------------------


class Progress(Open):
    steps_done: int
    steps_total: int
    fraction: float = Field(ge=0, le=1)
    chunk: int
    chunks: int
    runs_running: int


class JobError(Open):
    """Why a job failed."""

    type: str = Field(description="invalid_spec, not_enqueued, or the exception's type")
    detail: str | None = None
    errors: list[FieldError] | None = None


class JobSummary(Open):
    objective: str
    runs: int
    steps: int
    optimizers: list[str]


class Links(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    self_: str = Field(alias="self")
    result: str
    events: str
    plot: str


class ShardState(BaseModel):
    """One shard of a sharded job: its runs [lo, hi), status and attempts."""

    runs: tuple[int, int]
    status: Literal["queued", "running", "done", "expired"]
    attempts: int


class JobStatus(BaseModel):
    """A job as GET /v1/jobs/{id} shows it."""

    id: str
    status: JobState
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    cancel_requested: bool
    progress: Progress | None
    error: JobError | None
    summary: JobSummary | None
    links: Links
    shards: list[ShardState] | None = Field(
        None, description="a sharded job's shards (GET /v1/jobs/{id} only)"
    )
    merge_ms: float | None = Field(None, description="a sharded job: time its merge took")
    batched_with: list[str] | None = Field(
        None, description="your other jobs that ran in the same program (micro-batching)"
    )
    batch_jobs: int | None = Field(None, description="jobs of all owners in that program")


class JobPage(BaseModel):
    """One page of GET /v1/jobs, newest first."""

    items: list[JobStatus]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page")
    next: str | None = Field(None, description="the next page's URL; null on the last page")


# -- catalog ----------------------------------------------------------------------------------

JsonSchema = dict[str, Any]


class OptimizerEntry(Open):
    name: str
    aliases: list[str]
    family: str
    summary: str
    update: str | None = Field(description="the update rule in LaTeX")
    hyperparameters: JsonSchema = Field(description="JSON Schema of the hyperparameters")
    requires_inner: bool
    accepts_schedule: bool
    reference: str
    notes: str


class ScheduleEntry(Open):
    kind: str
    parameters: JsonSchema


class OptimizerCatalog(BaseModel):
    optimizers: list[OptimizerEntry]
    schedules: list[ScheduleEntry]


class ObjectiveEntry(Open):
    """A test function (formula, box, minima) or a learning objective (kind 'learning')."""

    name: str
    summary: str
    parameters: JsonSchema
    kind: str | None = None
    formula: str | None = None
    dimension: int | str | None = None
    default_start: list[float] | None = None
    box: list[list[float]] | None = None
    minima: list[list[float]] | None = None
    minimum_value: float | None = None
    stochastic: bool | str | None = None
    data: JsonSchema | None = None


class ObjectiveCatalog(BaseModel):
    objectives: list[ObjectiveEntry]


# -- health -----------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    redis: bool
    workers: int = Field(ge=1, description="live workers (from their heartbeats)")
    queues: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="queue -> the live workers that consume it"
    )


# -- the result document ----------------------------------------------------------------------

Series = list[float | None]  # finite floats; NaN and Inf are sent as null


class OptimizerConfig(Open):
    optimizer: str
    hyperparameters: dict[str, Any]
    schedule: dict[str, Any] | None = None
    clip_norm: float | None = None
    inner: OptimizerConfig | None = None


class FinalPoint(Open):
    loss: float | None
    params: Series | None = Field(None, description="vector objectives only")


class BestPoint(Open):
    loss: float | None
    step: int | None


class RunResult(OptimizerConfig):
    label: str
    seed: int
    status: Literal["converged", "max_steps", "diverged"]
    steps: int
    diverged_at: int | None
    final: FinalPoint
    best: BestPoint
    step: list[int]
    loss: Series
    grad_norm: Series
    trajectory: list[Series] | None = Field(
        None, description="parameter points (up to 3-D), or their projection on the landscape"
    )
    validation_loss: Series | None = None


class ResultObjective(Open):
    name: str | None
    params: dict[str, Any]
    dimension: int
    minima: list[list[float]] | None = None
    minimum_value: float | None = None


class Landscape(Open):
    """grid2d: z[i][j] is the value at y[i], x[j]; random/pca: the same over a plane of two
    directions; interpolation: z[i] at x[i] along the line from start to end."""

    kind: Literal["grid2d", "random", "pca", "interpolation"]
    x: Series
    y: Series | None = None
    z: list[Series] | Series


class Timing(Open):
    queued_ms: float | None = None
    compile_ms: float | None = None
    run_ms: float | None = None
    landscape_ms: float | None = None


class Result(Open):
    """GET /v1/jobs/{id}/result: served as stored (gzip when the client accepts it)."""

    id: str | None
    status: Literal["succeeded"]
    objective: ResultObjective
    runs: list[RunResult]
    landscape: Landscape | None
    timing: Timing
    device: str
    dtype: str
    versions: dict[str, str]
