"""Time to result (issue 10): compile once per group, JSON straight from arrays.

1. First-time Figure-1 compile against the bare optax compile of its six scans (target
   <= 1.0x), as the service compiles a job's new groups (``COMPILE_THREADS = 2``: traced on
   the job's thread, compiled by XLA on two), and everything on one thread.
2. Spec -> JSON bytes against a bare optax scan + orjson of its arrays (target <= 1.5x):
   one Adam run x 10k steps every step recorded; a 1,024-run sweep x 10k recorded every 100.
3. Runner throughput at sweep widths 1 .. 4,096 (Adam, 10k steps, recorded every 100)
   against a bare vmapped optax scan with the same records (target >= 0.8x).
4. Follow-up jobs: programs compiled (target 0).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from bench_runner import START, bare_scan  # noqa: E402
from common import best_times, row  # noqa: E402

import optcore  # noqa: E402
from optcore import compiled, optimizers, runner  # noqa: E402
from optcore.runner import JobRunner  # noqa: E402
from optcore.spec import parse_job  # noqa: E402

FIGURE1 = json.loads((Path(__file__).parents[1] / "examples" / "figure1.json").read_text())
STEPS = 10_000


def rosenbrock(x, b=100.0):
    return (1 - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2


def bare_figure1_compile(b: float) -> float:
    """Six scans as a user would jit them: records every 10 steps, 5,000 steps."""
    t0 = time.perf_counter()
    for run in parse_job(FIGURE1).runs:
        opt = optimizers.build(run.config)

        def step(carry, _, opt=opt):
            x, state = carry
            loss, g = jax.value_and_grad(rosenbrock)(x, b)
            updates, state = opt.update(g, state, x)
            return (optax.apply_updates(x, updates), state), (loss, optax.tree.norm(g), x)

        def scan(x0, opt=opt, step=step):
            def block(c, _):
                c, out = jax.lax.scan(step, c, length=10)
                return c, jax.tree.map(lambda a: a[0], out)

            return jax.lax.scan(block, (x0, opt.init(x0)), length=500)[1]

        jax.jit(scan).lower(jnp.zeros(2, jnp.float32)).compile()
    return time.perf_counter() - t0


def first_compile(b: float, threads: int) -> tuple[float, int]:
    default, runner.COMPILE_THREADS = runner.COMPILE_THREADS, threads
    doc = {**FIGURE1, "objective": {"name": "rosenbrock", "params": {"a": 1.0, "b": b}}}
    job = JobRunner(parse_job(doc))
    t0 = time.perf_counter()
    try:
        job.compile()
    finally:
        runner.COMPILE_THREADS = default  # the rest of the bench runs as the service does
    return time.perf_counter() - t0, job.count.programs


def compile_times(repeats: int = 5) -> None:
    """Best of ``repeats`` first-time compiles a side, each of new programs (another ``b`` of
    Rosenbrock), after one of each side warms up JAX itself. The sides take turns (bare, one
    thread, two threads, bare, ...), so that a slower spell of a shared machine falls on all
    three rather than on whichever side ran through it."""
    print(f"1. first-time Figure-1 compile (six groups), best of {repeats}, the sides in turn")
    bare_figure1_compile(90.0)
    first_compile(91.0, 1)
    bare, one, two = [], [], []
    for i in range(repeats):
        bare.append(bare_figure1_compile(100.0 + i))
        t, n = first_compile(110.0 + i, 1)
        one.append(t)
        two.append(first_compile(120.0 + i, 2)[0])
    t_bare, t_ours, t_threads = min(bare), min(one), min(two)
    print(row("bare optax: six jit(scan) compiles", t_bare))
    print(row(f"optcore: {n} programs, one thread", t_ours, f"{t_ours / t_bare:.2f}x"))
    print(
        row(
            "optcore: as the service compiles (2 threads)",
            t_threads,
            f"{t_threads / t_bare:.2f}x (<= 1.0x)",
        )
    )


def learning_rates(width: int) -> list[float]:
    """The runs' learning rates, the same on both sides of a comparison."""
    return [0.01] if width == 1 else np.logspace(-4, -1, width).tolist()


def adam_job(width: int, every: int) -> dict:
    rates = learning_rates(width)
    runs = [{"optimizer": "adam", "sweep": {"learning_rate": rates}}]
    if width == 1:
        runs = [{"optimizer": "adam", "hyperparameters": {"learning_rate": rates[0]}}]
    return {
        "objective": {"name": "rosenbrock"},
        "init": {"point": START},
        "steps": STEPS,
        "runs": runs,
        "record": {"every": every},
    }


def bare_sweep(width: int, every: int):
    adam = optax.inject_hyperparams(optax.adam)
    lrs = jnp.asarray(learning_rates(width), jnp.float32)
    x0 = jnp.asarray(START, jnp.float32)
    fn = jax.jit(jax.vmap(lambda lr: bare_scan(adam(learning_rate=lr), every)(x0)))
    return lambda: jax.device_get(fn(lrs))


def to_json(width: int, every: int) -> None:
    bare = bare_sweep(width, every)
    job = adam_job(width, every)
    t_bare, t_ours = best_times(
        lambda: orjson.dumps(bare(), option=orjson.OPT_SERIALIZE_NUMPY),
        lambda: optcore.dumps(optcore.run(job)),
        repeats=15 if width == 1 else 9,
    )
    print(f"2. spec -> JSON bytes: {width} run(s) x {STEPS:,} steps, recorded every {every}")
    print(row("bare optax scan + orjson of its arrays", t_bare))
    print(row("optcore.dumps(optcore.run(spec))", t_ours, f"{t_ours / t_bare:.2f}x (<= 1.5x)"))


def throughput() -> None:
    print(f"3. throughput, Adam x {STEPS:,} steps recorded every 100 (runner vs bare vmap)")
    for width in (1, 16, 256, 1024, 4096):
        parsed = parse_job(adam_job(width, 100))

        def run(parsed=parsed):
            for _ in JobRunner(parsed).chunks():
                pass

        t_bare, t_ours = best_times(bare_sweep(width, 100), run, repeats=31 if width < 256 else 7)
        rate = width * STEPS / t_ours / 1e6
        print(row(f"width {width:>5}", t_ours, f"{rate:7.1f} M steps/s, {t_bare / t_ours:.2f}x"))


def follow_ups() -> None:
    print("4. follow-up jobs after a Figure-1 job: programs compiled (target 0)")
    optcore.run(FIGURE1)
    sweep = adam_job(1000, 100)
    optcore.run(sweep)
    t0 = time.perf_counter()  # the exact paths of Figure 1's groups compile in the background
    compiled.wait_background()
    print(row("(background: exact paths of the Figure-1 groups)", time.perf_counter() - t0))
    t0 = time.perf_counter()  # as the worker does between jobs: a collection here, not later
    compiled.settle()
    print(row("(between jobs: compiled.settle())", time.perf_counter() - t0))
    jobs = {
        "3,001 steps": {**FIGURE1, "steps": 3001},
        "12,345 steps": {**FIGURE1, "steps": 12345},
        "five of six, reordered": {**FIGURE1, "runs": FIGURE1["runs"][:0:-1]},
        "sweep of 1,017 after 1,000": adam_job(1017, 100),
    }
    for name, doc in jobs.items():
        t0 = time.perf_counter()
        timing = optcore.run(doc)["timing"]
        waited = f"compile_ms {timing['compile_ms']:.0f}"
        print(
            row(name, time.perf_counter() - t0, f"{timing['programs_compiled']} compiled, {waited}")
        )


if __name__ == "__main__":
    print(f"jax {jax.__version__} on {jax.default_backend()}, optax {optax.__version__}")
    compile_times()
    to_json(1, 1)
    to_json(1024, 100)
    throughput()
    follow_ups()
