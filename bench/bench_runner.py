"""optcore.run against a bare optax lax.scan of the same work, and against torch.optim.

1. One Adam run, 10,000 Rosenbrock steps, every step recorded (loss, gradient norm, params),
   host copies included. Targets: at most 1.2x the bare scan; at least 1000x faster than a
   torch.optim Python loop (torch is a bench-only extra: pip install torch==2.13.0).
2. A 1,024-run learning-rate sweep x 10,000 steps, recorded every 100 steps: optimizer steps
   per second against a bare vmapped optax scan. Target: at least 0.8x of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, row  # noqa: E402

import optcore  # noqa: E402
from optcore.runner import JobRunner  # noqa: E402
from optcore.spec import parse_job  # noqa: E402

STEPS = 10_000
SWEEP = 1024
START = [-1.5, 2.0]


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def bare_scan(opt: optax.GradientTransformation, every: int):
    """What a careful user writes by hand: jit(scan), records every ``every`` steps."""

    def step(carry, _):
        x, state = carry
        loss, g = jax.value_and_grad(rosenbrock)(x)
        updates, state = opt.update(g, state, x)
        return (optax.apply_updates(x, updates), state), (loss, optax.tree.norm(g))

    def block(carry, _):
        x = carry[0]
        carry, (loss, gnorm) = jax.lax.scan(step, carry, length=every)
        return carry, (loss[0], gnorm[0], x)

    def run(x0):
        return jax.lax.scan(block, (x0, opt.init(x0)), length=STEPS // every)[1]

    return run


def _as_lists(records):
    """What the result document holds: the same records as Python lists."""
    return [np.asarray(r).tolist() for r in records]


def _runner_time(job) -> float:
    """The runner alone: compiled chunks plus host copies, spec already parsed."""
    parsed = parse_job(job)

    def run():
        for _ in JobRunner(parsed).chunks():
            pass

    return best_time(run)


def single_run():
    x0 = jnp.asarray(START, jnp.float32)
    bare = jax.jit(bare_scan(optax.adam(0.01), 1))
    t_bare = best_time(lambda: jax.device_get(bare(x0)))
    t_lists = best_time(lambda: _as_lists(jax.device_get(bare(x0))))
    job = {
        "objective": {"name": "rosenbrock"},
        "init": {"point": START},
        "steps": STEPS,
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
        "record": {"every": 1},
    }
    t_runner = _runner_time(job)
    t_ours = best_time(lambda: optcore.run(job))
    print("1. one Adam run, 10,000 Rosenbrock steps, every step recorded")
    print(row("bare optax lax.scan (jit, host copy)", t_bare))
    print(row("bare scan + records as Python lists", t_lists, f"{t_lists / t_bare:.2f}x"))
    print(row("optcore runner (chunks + host copies)", t_runner, f"{t_runner / t_bare:.2f}x"))
    print(
        row(
            "optcore.run (spec to result document)",
            t_ours,
            f"{t_ours / t_bare:.2f}x (target <= 1.2x)",
        )
    )
    t_torch = torch_loop()
    if t_torch is not None:
        print(
            row(
                "torch.optim.Adam Python loop",
                t_torch,
                f"optcore.run is {t_torch / t_ours:,.0f}x faster (target >= 1000x)",
            )
        )
    return t_bare, t_ours, t_torch


def torch_loop():
    try:
        import torch
    except ImportError:
        print("  torch.optim baseline skipped: pip install torch==2.13.0 (bench-only extra)")
        return None
    torch.set_num_threads(1)

    def run():
        x = torch.tensor(START, requires_grad=True)
        opt = torch.optim.Adam([x], lr=0.01)
        losses, norms, path = [], [], []
        for _ in range(STEPS):
            opt.zero_grad()
            loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            loss.backward()
            losses.append(loss.item())
            norms.append(x.grad.norm().item())
            path.append(x.detach().tolist())
            opt.step()
        return losses

    return best_time(run, repeats=3, warmup=1)


def sweep():
    rates = np.logspace(-4, -1, SWEEP).astype(np.float32)
    every = 100

    def bare_sweep(lrs, x0):
        adam = optax.inject_hyperparams(optax.adam)
        return jax.vmap(lambda lr: bare_scan(adam(learning_rate=lr), every)(x0))(lrs)

    bare = jax.jit(bare_sweep)
    x0 = jnp.asarray(START, jnp.float32)
    lrs = jnp.asarray(rates)
    t_bare = best_time(lambda: jax.device_get(bare(lrs, x0)), repeats=5, warmup=1)
    job = {
        "objective": {"name": "rosenbrock"},
        "init": {"point": START},
        "steps": STEPS,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates.tolist()}}],
        "record": {"every": every},
    }
    t_runner = _runner_time(job)
    t_ours = best_time(lambda: optcore.run(job), repeats=5, warmup=1)
    n = SWEEP * STEPS
    print(f"2. {SWEEP}-run learning-rate sweep x {STEPS:,} steps, recorded every {every}")
    print(row("bare vmapped optax scan", t_bare, f"{n / t_bare / 1e6:.0f} M steps/s"))
    print(
        row(
            "optcore runner (chunks + host copies)",
            t_runner,
            f"{n / t_runner / 1e6:.0f} M steps/s, {t_bare / t_runner:.2f}x of bare "
            "(target >= 0.8x)",
        )
    )
    print(
        row(
            "optcore.run (spec to result document)",
            t_ours,
            f"{n / t_ours / 1e6:.0f} M steps/s, {t_bare / t_ours:.2f}x of bare",
        )
    )
    return t_bare, t_ours


if __name__ == "__main__":
    print(f"jax {jax.__version__} on {jax.default_backend()}, optax {optax.__version__}")
    single_run()
    sweep()
