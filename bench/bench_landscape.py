"""A 501 x 501 landscape grid: points per second, against numpy on the same formula."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, row  # noqa: E402

from optcore import objectives  # noqa: E402
from optcore.landscape import grid2d  # noqa: E402

N = 501
BOUNDS = [[-2.0, 2.0], [-1.0, 3.0]]


def numpy_grid():
    x = np.linspace(*BOUNDS[0], N, dtype=np.float32)
    y = np.linspace(*BOUNDS[1], N, dtype=np.float32)
    xx, yy = np.meshgrid(x, y)
    return (1 - xx) ** 2 + 100 * (yy - xx**2) ** 2


def main():
    obj = objectives.get("rosenbrock")
    t_ours = best_time(lambda: grid2d(obj, BOUNDS, (N, N)))
    t_numpy = best_time(numpy_grid)
    points = N * N
    print(f"3. landscape grid {N} x {N} = {points:,} points (Rosenbrock)")
    print(row("numpy, vectorised", t_numpy, f"{points / t_numpy / 1e6:.0f} M points/s"))
    print(
        row(
            "optcore.landscape.grid2d (jit + vmap)",
            t_ours,
            f"{points / t_ours / 1e6:.0f} M points/s, {t_numpy / t_ours:.1f}x numpy",
        )
    )
    _, _, z = grid2d(obj, BOUNDS, (N, N))
    np.testing.assert_allclose(z, numpy_grid(), rtol=1e-3, atol=1e-5)  # the same numbers


if __name__ == "__main__":
    main()
