"""The GPU worker, checked: a 1M-run sweep and a 1001 x 1001 landscape on JAX's default device,
against a bare vmapped optax scan and a bare vmapped grid on the same device.

``make gpu-check`` builds the GPU worker's environment (``pip install -e '.[gpu]'``, i.e.
``jax[cuda12]``) and runs this with ``--require-gpu``. ``--small`` runs a few thousand runs
and a 201 x 201 grid on whatever device there is (the tests run it on the CPU).

The sweep runs as the service would run it after sharding: shards of at most the job limit
(optserve's MAX_RUNS runs) through ``optcore.run``, one after another, spec to result
document. The landscape calls ``optcore.landscape.grid2d`` directly: a job's grid is limited
to 501 points per axis.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import optcore  # noqa: E402
from optcore import objectives  # noqa: E402
from optcore.landscape import grid2d  # noqa: E402
from optcore.spec import MAX_RUNS  # noqa: E402

START = (-1.5, 2.0)
BOUNDS = ((-2.0, 2.0), (-1.0, 3.0))
GPU_PLATFORMS = {"gpu", "cuda", "rocm"}


def rosenbrock(x: jax.Array) -> jax.Array:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def learning_rates(runs: int) -> np.ndarray:
    return np.geomspace(1e-4, 1e-2, runs)


def bare_sweep(steps: int):
    """A bare vmapped optax scan: one Adam run per learning rate, final loss out."""

    def one(lr: jax.Array) -> jax.Array:
        opt = optax.adam(lr)
        x0 = jnp.asarray(START, jnp.float32)

        def step(carry, _):
            x, state = carry
            g = jax.grad(rosenbrock)(x)
            updates, state = opt.update(g, state, x)
            return (optax.apply_updates(x, updates), state), None

        (x, _), _ = jax.lax.scan(step, (x0, opt.init(x0)), length=steps)
        return rosenbrock(x)

    return jax.jit(jax.vmap(one))


def sweep_job(rates: np.ndarray, steps: int) -> dict:
    return {
        "objective": {"name": "rosenbrock"},
        "init": {"point": list(START)},
        "steps": steps,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates.tolist()}}],
        "record": {"every": steps},
    }


def timed(fn, repeats: int = 1):
    """(the last output, the best wall time in seconds of ``repeats`` calls)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def line(what: str, seconds: float, count: float | None = None, unit: str = "") -> None:
    rate = f"  {count / seconds:,.0f} {unit}/s" if count is not None else ""
    print(f"  {what:<42s} {seconds:9.4f} s{rate}")


def check_sweep(runs: int, steps: int, shard: int) -> tuple[float, float]:
    """(optcore steps/s, bare steps/s); the shards' final losses match the bare scan's."""
    rates = learning_rates(runs)
    shards = [rates[i : i + shard] for i in range(0, runs, shard)]
    first, compile_s = timed(lambda: optcore.run(sweep_job(shards[0], steps)))
    results, ours_s = timed(lambda: [optcore.run(sweep_job(s, steps)) for s in shards])
    compute_s = sum(r["timing"]["run_ms"] for r in results) / 1e3
    bare = bare_sweep(steps)
    lanes = jnp.asarray(rates, jnp.float32)
    _, bare_compile_s = timed(lambda: bare(lanes).block_until_ready())
    bare_losses, bare_s = timed(lambda: np.asarray(bare(lanes)), repeats=3)
    ours_losses = np.array([r["final"]["loss"] for r in first["runs"]], dtype=np.float64)
    np.testing.assert_allclose(ours_losses, bare_losses[: len(ours_losses)], rtol=5e-2, atol=1e-4)
    total = runs * steps
    print(f"sweep: {runs:,} Adam runs x {steps:,} Rosenbrock steps, {len(shards)} shards")
    line("optcore.run, first shard (compile + run)", compile_s)
    line("bare vmapped optax scan, compile + run", bare_compile_s)
    line("optcore.run, all shards, warm", ours_s, total, "steps")
    line("optcore, compute only (timing.run_ms)", compute_s, total, "steps")
    line("bare vmapped optax scan, warm", bare_s, total, "steps")
    print(f"  optcore / bare throughput: {bare_s / ours_s:.3f}x")
    return total / ours_s, total / bare_s


def check_landscape(n: int) -> tuple[float, float]:
    """(optcore points/s, bare points/s) for an n x n Rosenbrock grid."""
    objective = objectives.get("rosenbrock")
    grid = lambda: grid2d(objective, BOUNDS, (n, n))  # noqa: E731
    _, compile_s = timed(grid)
    (_, _, z), ours_s = timed(grid, repeats=3)
    f = jax.jit(jax.vmap(jax.vmap(rosenbrock, in_axes=1), in_axes=1))
    xs = jnp.linspace(*BOUNDS[0], n, dtype=jnp.float32)
    ys = jnp.linspace(*BOUNDS[1], n, dtype=jnp.float32)
    mesh = jnp.stack(jnp.meshgrid(xs, ys))  # (2, ny, nx)
    np.asarray(f(mesh))
    bare_z, bare_s = timed(lambda: np.asarray(f(mesh)), repeats=3)
    np.testing.assert_allclose(z, bare_z, rtol=1e-3, atol=1e-3)
    points = n * n
    print(f"landscape: {n} x {n} = {points:,} points (Rosenbrock)")
    line("optcore grid2d, first call (compile + run)", compile_s)
    line("optcore grid2d, warm", ours_s, points, "points")
    line("bare jit(vmap(vmap)), warm", bare_s, points, "points")
    print(f"  optcore / bare throughput: {bare_s / ours_s:.3f}x")
    return points / ours_s, points / bare_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a CPU-sized check")
    parser.add_argument("--require-gpu", action="store_true", help="fail without a GPU")
    parser.add_argument("--runs", type=int, help="default 1,048,576 (--small: 8,192)")
    parser.add_argument("--steps", type=int, help="default 1,000 (--small: 200)")
    parser.add_argument("--grid", type=int, help="default 1,001 (--small: 201)")
    args = parser.parse_args(argv)
    runs = args.runs or (8192 if args.small else 1 << 20)
    steps = args.steps or (200 if args.small else 1000)
    grid = args.grid or (201 if args.small else 1001)
    devices = jax.devices()
    print(f"jax {jax.__version__}, optax {optax.__version__}; devices: {devices}")
    if args.require_gpu and not any(d.platform in GPU_PLATFORMS for d in devices):
        print("error: no GPU: JAX sees only", {d.platform for d in devices}, file=sys.stderr)
        return 2
    check_sweep(runs, steps, min(MAX_RUNS, runs))
    check_landscape(grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
