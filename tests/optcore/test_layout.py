"""Program layouts: buckets of runs, and the compile options each kind of program gets."""

from __future__ import annotations

from optcore import objectives
from optcore.layout import (
    CHEAP_PRESET,
    ELEMENTAL_MAX_RUNS,
    LATENCY_CALL_WORK,
    LATENCY_MAX_RUNS,
    layout,
)
from optcore.spec import parse_job

ELEMENTAL = {"xla_cpu_use_fusion_emitters": False}
ONE_MODULE = {"xla_cpu_parallel_codegen_split_count": "1"}


def test_a_cheap_objective_gets_the_cpu_preset_and_its_latency_programs_o0():
    rosenbrock = objectives.get("rosenbrock")
    usual = layout(rosenbrock, 10, 6, 2)
    assert usual.runs == 8 and usual.compiler_options("cpu") == CHEAP_PRESET
    assert usual.compiler_options("gpu") is None
    quick = layout(rosenbrock, 10, LATENCY_MAX_RUNS, 2, latency=True)
    assert quick.compiler_options("cpu") == {**ELEMENTAL, "xla_backend_optimization_level": "0"}
    assert quick.compiler_options("gpu") is None  # XLA's defaults there
    wide = layout(rosenbrock, 10, LATENCY_MAX_RUNS + 1, 2, latency=True)
    assert wide.runs == 128 and wide.compiler_options("cpu") == CHEAP_PRESET


def test_a_race_of_single_runs_gets_the_preset_generated_by_the_elemental_emitters():
    rosenbrock = objectives.get("rosenbrock")
    for runs in range(1, ELEMENTAL_MAX_RUNS + 1):
        narrow = layout(rosenbrock, 10, runs, 2)
        assert narrow.compiler_options("cpu") == {**CHEAP_PRESET, **ELEMENTAL, **ONE_MODULE}
        assert narrow.compiler_options("gpu") is None
    wider = layout(rosenbrock, 10, ELEMENTAL_MAX_RUNS + 1, 2)
    assert wider.runs > ELEMENTAL_MAX_RUNS and wider.compiler_options("cpu") == CHEAP_PRESET


def test_a_latency_program_compiles_at_o0_with_record_buffers_for_a_short_job():
    rosenbrock = objectives.get("rosenbrock")
    usual = layout(rosenbrock, 1, 20, 2)
    quick = layout(rosenbrock, 1, 20, 2, latency=True)
    assert quick.compiler_options("cpu") == {**ELEMENTAL, "xla_backend_optimization_level": "0"}
    assert (quick.stride, quick.records_per_block) == (usual.stride, usual.records_per_block)
    covered = quick.blocks_per_call * quick.block_len * quick.runs
    assert (
        LATENCY_CALL_WORK
        <= covered
        < 2 * LATENCY_CALL_WORK
        < usual.blocks_per_call * usual.block_len * usual.runs
    )


def test_a_network_keeps_the_default_options_even_for_latency():  # preset: slower there
    job = parse_job(
        {
            "objective": {"name": "sine_regression", "params": {"hidden": [8]}},
            "runs": [{"optimizer": "adam"}],
            "steps": 10,
        }
    )
    assert layout(job.objective, 1, 1, 0, latency=True).compiler_options("cpu") is None
    assert layout(job.objective, 1, 64, 0).compiler_options("cpu") is None


def test_a_lone_runs_call_keeps_every_record_buffer_within_512_bytes():
    """XLA's CPU runtime runs a program's kernels in turn on the calling thread only when no
    buffer is over 512 bytes: one float32 run recorded every 100 steps keeps 128 records a
    call, so the records must be columns ([1, 128] each), not rows of several values."""
    import jax
    import numpy as np

    from optcore.runner import JobRunner

    job = JobRunner(
        parse_job(
            {
                "objective": {"name": "rosenbrock"},
                "runs": [{"optimizer": "adam"}],
                "steps": 10_000,
                "record": {"every": 100},
            }
        )
    )
    job.compile()
    (group,) = job.groups
    assert group.layout.records_per_block * group.layout.blocks_per_call == 128
    _, records, _ = group.compiled.fast.out_info
    sizes = [int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize for a in jax.tree.leaves(records)]
    assert len(records.series) == 2 and len(records.params) == 2  # loss, grad norm; x, y
    assert max(sizes) <= 512, sizes
