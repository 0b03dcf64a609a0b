"""A submission's writes: the job to store (``NewJob``, stored by ``lua.CREATE``) and the
owner's limits (``lua.ADMIT``), shared by the synchronous store and the API's asynchronous
side (worker.events)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.typing import EncodableT, FieldT

from .records import JobRecord
from .records import record as to_record
from .store import PREFIX, QUEUED, JobStore


@dataclass
class NewJob:
    """A job to store as queued. ``shards``: the run ranges it is split into, if it is;
    ``batch``: (list key, structure key, runs) of a job that can be batched with others of
    its structure (worker.batching); ``messages``: (queue, Celery message) pushed in the same
    transaction (worker.messages), so that a job is stored and queued at once or not at all.
    ``lua.CREATE`` stores it, from the synchronous store or the API's asynchronous one."""

    id: str
    owner: str
    spec: dict[str, Any]
    summary: dict[str, Any]
    shards: list[tuple[int, int]] | None = None
    batch: tuple[str, str, int] | None = None
    messages: Sequence[tuple[str, bytes]] = ()
    created_at: float = field(default_factory=time.time)

    @functools.cached_property  # the spec's JSON is written once (megabytes for a sweep)
    def fields(self) -> dict[FieldT, EncodableT]:
        fields: dict[FieldT, EncodableT] = {
            "id": self.id,
            "owner": self.owner,
            "status": QUEUED,
            "created_at": repr(self.created_at),
            "spec": json.dumps(self.spec),
            "summary": json.dumps(self.summary),
            "attempts": "0",
            "cancel_requested": "0",
        }
        if self.shards:
            fields["shards"] = str(len(self.shards))
        if self.batch:
            fields["batch_key"], fields["batch_runs"] = self.batch[1], str(self.batch[2])
        return fields

    @property
    def record(self) -> JobRecord:
        """The hash as written: no read back (and the spec as given, not parsed again)."""
        written = to_record({str(k): str(v) for k, v in self.fields.items() if k != "spec"})
        written["spec"] = self.spec
        return written

    def script_call(self, result_ttl: int) -> tuple[list[str], list[EncodableT]]:
        """The keys and arguments of ``lua.CREATE`` for this job."""
        keys = [
            JobStore.job_key(self.id),
            JobStore.owner_key(self.owner),
            JobStore.active_key(self.owner),
            JobStore.STATS,
            JobStore.OWNER_STATS,
            self.batch[0] if self.batch else JobStore.job_key(self.id),
            *(queue for queue, _ in self.messages),
        ]
        fields = self.fields
        args: list[EncodableT] = [
            self.id,
            self.created_at * 1000,
            result_ttl,
            JobStore.shard_key(f"{self.id}/"),
            self.owner,
            len(fields),
            *(x for pair in fields.items() for x in pair),
            len(self.shards or []),
            *(x for bounds in self.shards or [] for x in bounds),
            *(message for _, message in self.messages),
        ]
        return keys, args


def rate_window(owner: str, now: float) -> str:
    """The owner's submission counter of this minute (lua.ADMIT's second key)."""
    return f"{PREFIX}rate:{owner}:{int(now // 60)}"


def refusal(count: int, active: int, max_active: int, per_minute: int) -> tuple[str | None, int]:
    """lua.ADMIT's counts against the limits: (None, 0), or the limit hit and seconds to wait."""
    if per_minute and count > per_minute:
        return f"at most {per_minute} submissions a minute", 60 - int(time.time() % 60)
    if max_active and active >= max_active:
        return f"at most {max_active} jobs queued or running at once", 5
    return None, 0
