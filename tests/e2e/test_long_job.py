"""A job longer than every timeout on its path succeeds once, in one attempt: its lease (1 s,
kept alive by the heartbeat), the broker's visibility timeout (2 s: Redis hands the unacked
message out again while the job still runs) and its chunks (0.2 s)."""

from __future__ import annotations

import httpx
import pytest

from .reliability import end_events, next_job_succeeds
from .stack import long_job, start_stack, store_of, wait_for

LEASE_S, VISIBILITY_S = 1, 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("long"),
        job_lease=LEASE_S,
        reaper_interval=0.5,
        visibility_timeout=VISIBILITY_S,
        restore_interval=1,
        restore_throttle=1,
        chunk_seconds=0.2,
    )
    yield stack
    stack.stop_all()


def test_a_job_longer_than_its_lease_visibility_and_chunks_succeeds_once(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        job_id = client.post("/v1/jobs", json=long_job()).json()["id"]
        done = wait_for(client, job_id, timeout=150)
        assert done["status"] == "succeeded" and done["attempts"] == 1, done
        result = client.get(f"/v1/jobs/{job_id}/result").json()
        # it did outlast them all (1,500 runs x 1M steps: seconds on any machine)
        assert result["timing"]["run_ms"] > 1000 * max(LEASE_S, VISIBILITY_S)
        assert len(result["runs"]) == 1500
        assert end_events(store_of(stack), job_id) == [{"status": "succeeded"}]
        next_job_succeeds(client)
