"""The Figure-2 grid: a 3-layer ReLU net on a sine, 100 x 100 points of the loss surface.

Against a Python loop of jitted single evaluations of the same network, and against the
floor set by this machine's dense matmul rate: the grid's FLOPs divided by the GFLOP/s of a
large ``jnp.dot``. Target: within 4x of the floor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, row  # noqa: E402

from optcore import objectives  # noqa: E402
from optcore.landscape import plane_values, random_directions  # noqa: E402

N = 100
SAMPLES = 256


def matmul_gflops() -> float:
    a = jnp.ones((2048, 2048), jnp.float32)
    dot = jax.jit(jnp.dot)
    t = best_time(lambda: dot(a, a).block_until_ready(), repeats=5)
    return 2 * 2048**3 / t / 1e9


def main():
    obj = objectives.resolve(
        {"name": "sine_regression", "params": {"hidden": [32, 32], "samples": SAMPLES}}
    )
    center = jax.tree.map(np.asarray, obj.init_params(jax.random.PRNGKey(0)))
    d1, d2 = random_directions(center, seed=0)
    center, d1, d2 = (
        jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), t) for t in (center, d1, d2)
    )
    xs = ys = np.linspace(-5, 5, N)
    t_grid = best_time(lambda: plane_values(obj, center, d1, d2, xs, ys), repeats=3)

    single = jax.jit(
        lambda a, b: obj.value(jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1, d2))
    )

    def loop():
        return [float(single(a, b)) for b in ys[:10] for a in xs]  # a tenth, scaled below

    t_loop = best_time(loop, repeats=2, warmup=1) * 10
    layers = obj.layers
    flops = N * N * SAMPLES * sum(2 * a * b for a, b in zip(layers, layers[1:], strict=False))
    gflops = matmul_gflops()
    floor = flops / (gflops * 1e9)
    points = N * N
    print(
        f"5. Figure-2 grid: {N} x {N} points, {SAMPLES} samples, hidden [32, 32] "
        f"({flops / 1e9:.2f} GFLOP)"
    )
    print(row("floor: FLOPs at the large-matmul rate", floor, f"{gflops:.0f} GFLOP/s"))
    print(row("Python loop of jitted single evaluations", t_loop, "(a tenth, timed x 10)"))
    print(
        row(
            "optcore plane_values (vmap in chunks)",
            t_grid,
            f"{points / t_grid:,.0f} points/s, {flops / t_grid / 1e9:.0f} GFLOP/s, "
            f"{t_grid / floor:.1f}x the floor (target <= 4x), {t_loop / t_grid:.0f}x the loop",
        )
    )


if __name__ == "__main__":
    main()
