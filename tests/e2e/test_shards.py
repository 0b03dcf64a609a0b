"""Sharded sweeps on a real stack with two workers: 8 shards give the unsharded result, a
shard whose pool process is killed is redelivered alone, and a cancel stops every shard."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest

from optcore import dumps
from optcore import run as run_in_process
from worker.shards import Shards, unit_of

from .reliability import FAST_RECOVERY, end_events, is_idle
from .stack import assert_same_runs, start_stack, store_of, wait_for, wait_until

SHARDS = 8
SHARD_RUN_STEPS = 16_000  # a 64-run x 2,000-step sweep: 8 shards of 8 runs


def sweep(runs: int, steps: int, **extra: object) -> dict:
    rates = [1e-3 * (1 + 3 * i / runs) for i in range(runs)]
    return {
        "objective": {"name": "rosenbrock"},
        "steps": steps,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
        "record": {"every": max(1, steps // 20)},
        **extra,
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("shards"),
        workers=2,
        shard_run_steps=SHARD_RUN_STEPS,
        max_shards=SHARDS,
        **FAST_RECOVERY,
    )
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        wait_until(lambda: c.get("/v1/workers").json()["workers"] == 2, 90, "two workers")
    yield stack
    stack.stop_all()


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.url, timeout=60) as c:
        yield c


def _shard_infos(stack, job_id: str) -> list[dict]:
    shards = Shards(store_of(stack))
    return [shards.info(unit_of(job_id, k)) for k in range(SHARDS)]


def test_a_sweep_in_eight_shards_equals_the_same_job_unsharded(client):
    spec = sweep(64, 2000, record={"every": 100, "landscape": {"resolution": 21}})
    job = client.post("/v1/jobs", json=spec).json()
    assert job["summary"]["shards"] == SHARDS
    done = wait_for(client, job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert [s["runs"] for s in done["shards"]] == [[8 * k, 8 * k + 8] for k in range(SHARDS)]
    sharded = client.get(f"/v1/jobs/{job['id']}/result").json()
    whole = json.loads(dumps(run_in_process(spec)))
    assert len(sharded["runs"]) == 64
    assert_same_runs(sharded["runs"], whole["runs"])  # every series, label, status, final
    assert sharded["landscape"] == whole["landscape"]  # the grid, computed once
    assert sharded["timing"]["shards"] == SHARDS


def test_a_killed_shard_is_redelivered_alone_and_every_shard_finishes_once(stack, client):
    store = store_of(stack)
    job_id = client.post("/v1/jobs", json=sweep(1024, 300_000)).json()["id"]

    def a_shard_mid_way() -> tuple[int, int] | None:
        for k, info in enumerate(_shard_infos(stack, job_id)):
            if info.get("status") == "running" and int(info.get("run_steps", 0)) > 0:
                return k, int(info["pid"])
        return None

    killed, pid = wait_until(a_shard_mid_way, 90, "a shard to make progress")
    os.kill(pid, signal.SIGKILL)
    done = wait_for(client, job_id, timeout=180)
    assert done["status"] == "succeeded", done
    infos = _shard_infos(stack, job_id)
    assert [int(i["computed"]) for i in infos] == [1] * SHARDS  # none computed twice
    attempts = [int(i["attempts"]) for i in infos]
    assert attempts[killed] == 2 and sum(attempts) == SHARDS + 1, attempts
    assert end_events(store, job_id) == [{"status": "succeeded"}]
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    rates = [r["hyperparameters"]["learning_rate"] for r in result["runs"]]
    assert len(rates) == 1024 and rates == sorted(rates)  # run order kept across shards
    assert all(r["steps"] == 300_000 for r in result["runs"])


def test_a_cancel_stops_every_shard(stack, client):
    store = store_of(stack)
    # 248 runs a shard (the most under the 2e9 run-step limit): 128 took 2 s, a close race
    job_id = client.post("/v1/jobs", json=sweep(1984, 1_000_000)).json()["id"]

    def two_running() -> list[int] | None:
        infos = _shard_infos(stack, job_id)
        pids = [int(i["pid"]) for i in infos if i.get("status") == "running"]
        return pids if len(pids) == 2 else None

    def attempts() -> int:
        return sum(int(i["attempts"]) for i in _shard_infos(stack, job_id))

    pids = wait_until(two_running, 90, "two shards to run")
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 202
    # Read once the cancel is recorded: no shard can start after it. Before it, a shard whose
    # heartbeat was starved past the lease (3 s here, on a loaded CI machine) may have been
    # started again, an attempt that belongs to the reaper's rules, not to the cancel's.
    at_cancel = attempts()
    assert at_cancel >= 2
    done = wait_for(client, job_id, timeout=15)
    assert done["status"] == "canceled"
    for pid in pids:
        wait_until(lambda pid=pid: is_idle(pid), 10, "both pool processes to go idle")
    assert end_events(store, job_id) == [{"status": "canceled"}]
    infos = _shard_infos(stack, job_id)  # none started after the cancel
    assert sum(int(i["attempts"]) for i in infos) == at_cancel, infos
    assert store.running_units() == []


def test_more_runs_than_one_program_takes_are_sharded_unless_a_plane_needs_them_all(client):
    many = sweep(5000, 3)  # 15,000 run-steps: under SHARD_RUN_STEPS
    job = client.post("/v1/jobs", json=many).json()
    assert job["summary"]["shards"] == 2  # 4,096 runs a shard at most
    assert wait_for(client, job["id"], timeout=120)["status"] == "succeeded"
    assert len(client.get(f"/v1/jobs/{job['id']}/result").json()["runs"]) == 5000
    plane = client.post("/v1/jobs", json={**many, "record": {"landscape": {"kind": "random"}}})
    assert plane.status_code == 422
    assert plane.json()["errors"][0]["field"] == "runs"
