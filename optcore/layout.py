"""The static shape of a group's program, from its structure alone (never the step count).

Run counts are padded up to buckets, blocks have a fixed length chosen from the cost of a
step (so that the first block of any job is cheap), and a call holds as many blocks as its
record buffers allow. Jobs that differ in steps, run order, or run count within a bucket
therefore share every program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .objectives import AnyObjective

BLOCK_STEPS = 256  # steps per block of a cheap objective (more when ``every`` is larger)
BLOCK_FLOPS = 5e7  # estimated work of one block of a network: a few ms here
RECORD_VALUES = 1 << 22  # values one call's record buffers may hold (16 MiB of float32)
MAX_BLOCKS_PER_CALL = 64
# latency programs of a cheap objective and at most this many (bucketed) runs compile at -O0
# (``Layout.compiler_options``)
LATENCY_MAX_RUNS = 64
LATENCY_CALL_WORK = 1 << 13  # run-steps a call of a latency program covers (at least)
# XLA's CPU preset for the other programs of a cheap objective: it computes a step's gradient
# once where the default fuses a copy of it into each consumer (the moments, the params)
CHEAP_PRESET = {"xla_cpu_opt_preset": "CPU_OPT_PRESET_FAST_COMPILE"}
# programs of a cheap objective and at most this many (bucketed) runs also use XLA's elemental
# emitters (``Layout.compiler_options``)
ELEMENTAL_MAX_RUNS = 2
ELEMENTAL = {"xla_cpu_use_fusion_emitters": False}
# and their machine code in one LLVM module: XLA splits a program's kernels into up to 32
# modules to compile them in parallel, which for a narrow program's dozen small kernels costs
# more than it saves (Figure 1's XLA time: 455-507 ms against 520-543 ms, the same results)
ONE_MODULE = {"xla_cpu_parallel_codegen_split_count": "1"}


def bucket(runs: int) -> int:
    """Runs a group's program is compiled for: 1, 2, 4, 8, multiples of 8 up to 64, then
    powers of two. 1,000, 1,017 and 1,024 runs share a program."""
    if runs <= 8:
        return 1 << max(0, runs - 1).bit_length()
    if runs <= 64:
        return 8 * math.ceil(runs / 8)
    return 1 << (runs - 1).bit_length()


def values_per_record(snapshot_dim: int) -> int:
    """About the values one run's record takes in a call's buffers (loss, grad norm,
    validity, held-out loss, a share of the finals) plus its params snapshot: what record
    buffers are sized by, here and for a tuning search's rounds."""
    return snapshot_dim + 5


def _floor_pow2(x: float) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(x, 1.0)))))


def step_flops(objective: AnyObjective) -> float:
    """A rough count of the work of one step of one run (gradient included)."""
    layers = getattr(objective, "layers", None)
    if layers is None:
        return 100.0 * objective.dim
    train = getattr(objective, "train", None)
    samples = len(train[0]) if train is not None else 1
    batch = getattr(objective, "batch_size", None) or samples
    return 6.0 * objective.dim * min(batch, samples)


@dataclass(frozen=True)
class Layout:
    stride: int  # steps between records
    records_per_block: int
    blocks_per_call: int
    runs: int  # bucketed
    # LLVM's optimisation level with XLA's elemental emitters; None: XLA's defaults
    opt_level: int | None = None
    cheap: bool = False  # the objective is cheap (not a network): ``CHEAP_PRESET`` applies

    @property
    def block_len(self) -> int:
        return self.stride * self.records_per_block

    @property
    def narrow(self) -> bool:
        """A cheap objective's program of at most ``ELEMENTAL_MAX_RUNS`` runs: XLA makes its
        step loop one kernel, in which per-step checks cost next to nothing."""
        return self.cheap and self.runs <= ELEMENTAL_MAX_RUNS

    def compiler_options(self, platform: str) -> dict[str, str | bool] | None:
        """XLA options for this program on ``platform``; XLA's defaults except on the CPU:
        - a latency program of a cheap objective (a tuning search's, and its race's) waits
          for its compile more than for its run: XLA's elemental emitters with LLVM at -O0
          compile it in about 40 % of the default's time and run it 2-4x slower;
        - other programs of a cheap objective get ``CHEAP_PRESET``: XLA's default fusion
          recomputes the objective's gradient in every fusion that reads it (three times a
          step for Adam), which at hundreds of runs costs more than the step's own work. The
          preset's fusions compute it once: Adam on Rosenbrock runs 20-35 % faster at 256
          to 4,096 runs, for about 10 % more compile time (docs/performance.md);
        - those of at most ``ELEMENTAL_MAX_RUNS`` runs (a race's groups) also get XLA's
          elemental emitters: the same kernels (the preset decides the fusions), generated
          without the MLIR pipeline each fusion otherwise goes through. Figure 1 compiles in
          half the time and runs as fast at 1 and 2 runs; from 8 runs it runs 3-25 % slower.
          Their kernels are compiled as one LLVM module (``ONE_MODULE``).
        A network's programs keep the defaults (the preset was slower at 64 runs there)."""
        if platform != "cpu":
            return None
        if self.opt_level is not None:
            return {**ELEMENTAL, "xla_backend_optimization_level": str(self.opt_level)}
        if not self.cheap:
            return None
        if self.narrow:
            return {**CHEAP_PRESET, **ELEMENTAL, **ONE_MODULE}
        return dict(CHEAP_PRESET)


def layout(
    objective: AnyObjective, every: int, runs: int, snapshot_dim: int, latency: bool = False
) -> Layout:
    """Block and call sizes of a group of ``runs`` runs recording every ``every`` steps.
    ``latency``: a program for short jobs that compiles fast (a tuning search's rounds of
    a few hundred steps): -O0, and record buffers of about ``LATENCY_CALL_WORK``
    run-steps a call, not the many blocks a long job's calls hold."""
    padded = bucket(runs)
    target = BLOCK_STEPS
    network = getattr(objective, "layers", None) is not None
    if network:
        target = min(BLOCK_STEPS, _floor_pow2(BLOCK_FLOPS / (step_flops(objective) * padded)))
    if every <= target:
        stride, per_block = every, max(1, target // every)
    else:  # records are kept every ``every`` steps of these, on the host
        stride, per_block = max(d for d in range(1, target + 1) if every % d == 0), 1
    per_call = RECORD_VALUES / (padded * per_block * values_per_record(snapshot_dim))
    blocks = max(1, min(MAX_BLOCKS_PER_CALL, _floor_pow2(per_call)))
    level = 0 if latency and not network and padded <= LATENCY_MAX_RUNS else None
    if latency:
        needed = math.ceil(LATENCY_CALL_WORK / padded / (stride * per_block))
        blocks = min(blocks, 1 << max(0, needed - 1).bit_length())
    return Layout(stride, per_block, blocks, padded, level, cheap=not network)
