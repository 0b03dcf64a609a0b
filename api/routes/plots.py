"""/v1/jobs/{id}/plot.png and plot.svg: the result drawn, rendered once and cached."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from worker.store import QUEUED, RUNNING, SUCCEEDED, JobRecord, JobStore

from .. import plots
from ..deps import OwnedJob, StoreDep
from ..openapi import Responses, binary, problems
from ..problems import Problem

router = APIRouter(prefix="/v1/jobs", tags=["plots"])
MEDIA = {"png": "image/png", "svg": "image/svg+xml"}
Kind = Literal["contour", "loss", "surface", "landscape"]


def _plot(job: JobRecord, fmt: str, kind: str, store: JobStore) -> Response:
    job_id = job["id"]
    if job["status"] != SUCCEEDED:
        raise Problem(
            409,
            f"job {job_id} is {job['status']}; it has nothing to draw yet"
            if job["status"] in (QUEUED, RUNNING)
            else f"job {job_id} is {job['status']}; it has no result to draw",
            kind="no-result",
            job_status=job["status"],
        )
    name = f"{kind}.{fmt}"
    data = store.plot(job_id, name)
    if data is None:
        result = store.load_result(job_id)
        if result is None:
            raise Problem(410, f"the result of job {job_id} has expired", kind="expired")
        try:
            data = plots.render(result, kind, fmt)
        except plots.NoData as exc:
            raise Problem(409, str(exc), kind="no-data", plot_kind=kind) from exc
        store.save_plot(job_id, name, data)
    return Response(data, media_type=MEDIA[fmt], headers={"Cache-Control": "private, max-age=3600"})


def _responses(media_type: str) -> Responses:
    return {
        **binary(media_type, "The picture (cached with the result)"),
        **problems(
            401,
            404,
            409,
            410,
            422,
            s409="The job has no result, or lacks the data for this kind (`plot_kind`)",
            s422="Unknown kind",
        ),
    }


DOC = (
    "contour: trajectories over the objective's contour (Figure 1); loss: loss against "
    "step; surface: the landscape as a 3-D surface (Figure 2); landscape: its map with the "
    "projected paths. 409 when the job lacks the data for that kind."
)


@router.get(
    "/{job_id}/plot.png",
    summary="The result drawn as PNG",
    description=DOC,
    response_class=Response,
    responses=_responses("image/png"),
)
def plot_png(
    job: OwnedJob, store: StoreDep, kind: Annotated[Kind, Query()] = "contour"
) -> Response:
    return _plot(job, "png", kind, store)


@router.get(
    "/{job_id}/plot.svg",
    summary="The result drawn as SVG",
    description=DOC,
    response_class=Response,
    responses=_responses("image/svg+xml"),
)
def plot_svg(
    job: OwnedJob, store: StoreDep, kind: Annotated[Kind, Query()] = "contour"
) -> Response:
    return _plot(job, "svg", kind, store)
