"""A job's states: one enum for the store, the worker and the API's documents."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A job's life: queued, running, then one of the three final states."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


FINAL_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.canceled})
