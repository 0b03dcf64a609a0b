"""A small typed client of the optserve API (httpx), sync and async, over the API's own models.

    from optserve.client import Client

    with Client("http://127.0.0.1:8000") as api:
        job = api.submit(json.load(open("examples/figure1.json")))
        api.wait(job.id, on_progress=lambda p: print(f"{p.fraction:.0%}"))
        arrays = api.arrays(job.id)          # numpy: arrays.runs["adam"].loss, ...
        png = api.plot(job.id, kind="contour")

Every error answer raises ``ApiError`` carrying the typed ``Problem``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import numpy as np
from pydantic import BaseModel

from api.models import (
    FINAL_STATES,
    JobPage,
    JobStatus,
    PlotKind,
    Problem,
    Progress,
    Result,
    RunResult,
)

__all__ = ["ApiError", "AsyncClient", "Client", "ResultArrays", "RunArrays", "to_arrays"]

DEFAULT_URL = "http://127.0.0.1:8000"
Model = TypeVar("Model", bound=BaseModel)
ProgressCallback = Callable[[Progress], None]


class ApiError(Exception):
    """An error answer: ``problem`` is its RFC 9457 document."""

    def __init__(self, problem: Problem, retry_after: float | None = None):
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem, self.retry_after = problem, retry_after

    @property
    def status(self) -> int:
        return self.problem.status


# -- the result as numpy arrays ---------------------------------------------------------------


def _array(values: Any) -> np.ndarray:
    """float64, with the wire's nulls (NaN, Inf) as NaN."""
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class RunArrays:
    run: RunResult
    step: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    trajectory: np.ndarray | None  # (records, dimension)
    validation_loss: np.ndarray | None


@dataclass(frozen=True)
class ResultArrays:
    result: Result
    runs: dict[str, RunArrays]  # by label
    landscape_x: np.ndarray | None
    landscape_y: np.ndarray | None
    landscape_z: np.ndarray | None  # z[i, j] at y[i], x[j]


def to_arrays(result: Result) -> ResultArrays:
    runs = {
        run.label: RunArrays(
            run=run,
            step=np.array(run.step, dtype=np.int64),
            loss=_array(run.loss),
            grad_norm=_array(run.grad_norm),
            trajectory=None if run.trajectory is None else _array(run.trajectory),
            validation_loss=None if run.validation_loss is None else _array(run.validation_loss),
        )
        for run in result.runs
    }
    land = result.landscape
    return ResultArrays(
        result=result,
        runs=runs,
        landscape_x=None if land is None else _array(land.x),
        landscape_y=None if land is None or land.y is None else _array(land.y),
        landscape_z=None if land is None else _array(land.z),
    )


# -- what both clients share ------------------------------------------------------------------


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


def _parse(response: httpx.Response, model: type[Model]) -> Model:
    if response.is_success:
        return model.model_validate_json(response.content)
    raise _error(response)


def _error(response: httpx.Response) -> ApiError:
    retry = response.headers.get("retry-after")
    try:
        problem = Problem.model_validate_json(response.content)
    except ValueError:  # not from the API (a proxy, a crash): describe it all the same
        problem = Problem(
            title=response.reason_phrase or "Error",
            status=response.status_code,
            detail=response.text[:500],
            instance=response.request.url.path,
        )
    return ApiError(problem, float(retry) if retry and retry.isdigit() else None)


def _job_body(job: Mapping[str, Any] | BaseModel) -> Any:
    if isinstance(job, BaseModel):
        return job.model_dump(mode="json", exclude_none=True)
    return dict(job)


def _submit_headers(idempotency_key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key} if idempotency_key else {}


class _EventParser:
    """Server-Sent Events, line by line: ``feed`` returns (event, data) at each blank line."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def feed(self, line: str) -> tuple[str, Any] | None:
        if line:
            if not line.startswith(":"):
                key, _, value = line.partition(":")
                self.fields[key] = value.removeprefix(" ")
            return None
        fields, self.fields = self.fields, {}
        if "event" not in fields or "data" not in fields:
            return None
        return fields["event"], json.loads(fields["data"])


def _on_event(event: tuple[str, Any] | None, on_progress: ProgressCallback | None) -> str | None:
    """The final status when ``event`` ends the stream; reports progress."""
    if event is None:
        return None
    kind, data = event
    if kind == "progress" and on_progress is not None:
        on_progress(Progress.model_validate(data))
    return str(data["status"]) if kind == "end" else None


def _waiting(wait: float) -> dict[str, float] | None:
    """The result's long poll (``?wait=``): the GET answers once the job ends."""
    return {"wait": wait} if wait else None


def _plot_path(job_id: str, fmt: Literal["png", "svg"]) -> str:
    return f"/v1/jobs/{job_id}/plot.{fmt}"


# -- the clients ------------------------------------------------------------------------------


class Client:
    """Synchronous client; a context manager."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def submit(
        self, job: Mapping[str, Any] | BaseModel, *, idempotency_key: str | None = None
    ) -> JobStatus:
        response = self.http.post(
            "/v1/jobs", json=_job_body(job), headers=_submit_headers(idempotency_key)
        )
        return _parse(response, JobStatus)

    def get(self, job_id: str) -> JobStatus:
        return _parse(self.http.get(f"/v1/jobs/{job_id}"), JobStatus)

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> JobPage:
        params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
        return _parse(self.http.get("/v1/jobs", params=params), JobPage)

    def cancel(self, job_id: str) -> JobStatus:
        return _parse(self.http.delete(f"/v1/jobs/{job_id}"), JobStatus)

    def result(self, job_id: str, *, wait: float = 0) -> Result:
        """The result; ``wait`` (at most 15 s): first wait that long for the job to end."""
        return _parse(self.http.get(f"/v1/jobs/{job_id}/result", params=_waiting(wait)), Result)

    def arrays(self, job_id: str) -> ResultArrays:
        return to_arrays(self.result(job_id))

    def plot(
        self, job_id: str, kind: PlotKind = "contour", fmt: Literal["png", "svg"] = "png"
    ) -> bytes:
        response = self.http.get(_plot_path(job_id, fmt), params={"kind": kind})
        if not response.is_success:
            raise _error(response)
        return response.content

    def wait(
        self,
        job_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        stream: bool = True,
    ) -> JobStatus:
        """Until the job ends: follow its event stream (or poll); return its final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if stream:
            try:
                self._follow(job_id, on_progress, timeout)
            except httpx.TransportError:  # the stream broke: polling tells the rest
                pass
        while True:
            try:
                job = self.get(job_id)
            except httpx.TransportError:  # a dropped connection: a GET can be asked again
                if deadline is not None and time.monotonic() > deadline:
                    raise
                time.sleep(poll_interval)
                continue
            if job.status in FINAL_STATES:
                return job
            if on_progress is not None and job.progress is not None:
                on_progress(job.progress)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout} s")
            time.sleep(poll_interval)

    def _follow(
        self, job_id: str, on_progress: ProgressCallback | None, timeout: float | None
    ) -> None:
        parser = _EventParser()
        url = f"/v1/jobs/{job_id}/events"
        with self.http.stream("GET", url, timeout=httpx.Timeout(timeout)) as response:
            if not response.is_success:
                response.read()
                raise _error(response)
            for line in response.iter_lines():
                if _on_event(parser.feed(line), on_progress) is not None:
                    return


class AsyncClient:
    """The same client for asyncio; an async context manager."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def submit(
        self, job: Mapping[str, Any] | BaseModel, *, idempotency_key: str | None = None
    ) -> JobStatus:
        response = await self.http.post(
            "/v1/jobs", json=_job_body(job), headers=_submit_headers(idempotency_key)
        )
        return _parse(response, JobStatus)

    async def get(self, job_id: str) -> JobStatus:
        return _parse(await self.http.get(f"/v1/jobs/{job_id}"), JobStatus)

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> JobPage:
        params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
        return _parse(await self.http.get("/v1/jobs", params=params), JobPage)

    async def cancel(self, job_id: str) -> JobStatus:
        return _parse(await self.http.delete(f"/v1/jobs/{job_id}"), JobStatus)

    async def result(self, job_id: str, *, wait: float = 0) -> Result:
        """The result; ``wait`` (at most 15 s): first wait that long for the job to end."""
        response = await self.http.get(f"/v1/jobs/{job_id}/result", params=_waiting(wait))
        return _parse(response, Result)

    async def arrays(self, job_id: str) -> ResultArrays:
        return to_arrays(await self.result(job_id))

    async def plot(
        self, job_id: str, kind: PlotKind = "contour", fmt: Literal["png", "svg"] = "png"
    ) -> bytes:
        response = await self.http.get(_plot_path(job_id, fmt), params={"kind": kind})
        if not response.is_success:
            raise _error(response)
        return response.content

    async def wait(
        self,
        job_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        stream: bool = True,
    ) -> JobStatus:
        """Until the job ends: follow its event stream (or poll); return its final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if stream:
            try:
                await self._follow(job_id, on_progress, timeout)
            except httpx.TransportError:  # the stream broke: polling tells the rest
                pass
        while True:
            try:
                job = await self.get(job_id)
            except httpx.TransportError:  # a dropped connection: a GET can be asked again
                if deadline is not None and time.monotonic() > deadline:
                    raise
                await asyncio.sleep(poll_interval)
                continue
            if job.status in FINAL_STATES:
                return job
            if on_progress is not None and job.progress is not None:
                on_progress(job.progress)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout} s")
            await asyncio.sleep(poll_interval)

    async def _follow(
        self, job_id: str, on_progress: ProgressCallback | None, timeout: float | None
    ) -> None:
        parser = _EventParser()
        url = f"/v1/jobs/{job_id}/events"
        async with self.http.stream("GET", url, timeout=httpx.Timeout(timeout)) as response:
            if not response.is_success:
                await response.aread()
                raise _error(response)
            async for line in response.aiter_lines():
                if _on_event(parser.feed(line), on_progress) is not None:
                    return
