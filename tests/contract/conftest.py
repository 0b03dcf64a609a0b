from __future__ import annotations

import pytest

from api.stack import Stack
from tests.e2e.stack import start_stack

# Generated jobs stay small (Figure 1 is 30,000 run-steps), so that the one worker keeps up
# with what the fuzzer submits; no per-key limits, so that the fuzzer reaches every route
# instead of 429s; time limits long enough for a first compile on a busy machine.
CONTRACT_LIMITS = {
    "max_run_steps": 40_000,
    "max_active_jobs": 0,
    "submissions_per_minute": 0,
    "task_soft_time_limit": 240,
    "task_time_limit": 300,
    "visibility_timeout": 330,
}


@pytest.fixture(scope="session")
def contract_service(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    stack = start_stack(tmp_path_factory.mktemp("contract-stack"), **CONTRACT_LIMITS)
    yield stack
    stack.stop_all()
