"""Test functions: known minima have the known value and a vanishing gradient."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optcore import objectives
from optcore.landscape import grid2d

DEFINITIONS = list(objectives.DEFINITIONS.values())


def _numpy_value(name, x):
    """Independent numpy transcriptions of the formulas in reference/landscape.md."""
    x = np.asarray(x, np.float64)
    u, v = x[0], x[1]
    return {
        "rosenbrock": lambda: np.sum((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2),
        "beale": lambda: (
            (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2
        ),
        "booth": lambda: (u + 2 * v - 7) ** 2 + (2 * u + v - 5) ** 2,
        "himmelblau": lambda: (u**2 + v - 11) ** 2 + (u + v**2 - 7) ** 2,
        "rastrigin": lambda: 10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)),
        "ackley": lambda: (
            -20 * np.exp(-0.2 * np.sqrt(0.5 * (u**2 + v**2)))
            - np.exp(0.5 * (np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v)))
            + np.e
            + 20
        ),
        "goldstein_price": lambda: (
            (1 + (u + v + 1) ** 2 * (19 - 14 * u + 3 * u**2 - 14 * v + 6 * u * v + 3 * v**2))
            * (
                30
                + (2 * u - 3 * v) ** 2 * (18 - 32 * u + 12 * u**2 + 48 * v - 36 * u * v + 27 * v**2)
            )
        ),
        "styblinski_tang": lambda: 0.5 * np.sum(x**4 - 16 * x**2 + 5 * x),
        "six_hump_camel": lambda: (
            (4 - 2.1 * u**2 + u**4 / 3) * u**2 + u * v + (-4 + 4 * v**2) * v**2
        ),
        "matyas": lambda: 0.26 * (u**2 + v**2) - 0.48 * u * v,
        "levi13": lambda: (
            np.sin(3 * np.pi * u) ** 2
            + (u - 1) ** 2 * (1 + np.sin(3 * np.pi * v) ** 2)
            + (v - 1) ** 2 * (1 + np.sin(2 * np.pi * v) ** 2)
        ),
        "quadratic": lambda: 0.5 * (u**2 + 100 * v**2),
        "noisy_quadratic": lambda: 0.5 * (u**2 + 10 * v**2),
    }[name]()


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_known_minimum_has_known_value_and_zero_gradient(definition):
    obj = objectives.get(definition.name)
    assert obj.minima, definition.name
    with jax.enable_x64(True):
        for point in obj.minima:
            x = jnp.asarray(point, jnp.float64)
            assert float(obj.value(x)) == pytest.approx(obj.minimum_value, abs=1e-9)
            assert float(jnp.max(jnp.abs(jax.grad(obj.value)(x)))) < 1e-7


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_value_matches_the_textbook_formula_at_random_points(definition):
    obj = objectives.get(definition.name)
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        for _ in range(5):
            x = rng.uniform(-2, 2, size=2)
            assert float(obj.value(jnp.asarray(x))) == pytest.approx(
                _numpy_value(definition.name, x), rel=1e-12, abs=1e-12
            )


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_default_start_lies_in_the_plot_box_and_is_not_a_minimum(definition):
    obj = objectives.get(definition.name)
    (x0, x1), (y0, y1) = obj.box
    sx, sy = obj.start[:2]
    assert x0 <= sx <= x1 and y0 <= sy <= y1
    assert all(not np.allclose(obj.start, m) for m in obj.minima)


def test_rosenbrock_in_n_dimensions_and_with_other_a():
    obj = objectives.get("rosenbrock", dim=5)
    assert obj.dim == 5 and len(obj.start) == 5 and obj.minima == [[1.0] * 5]
    x = np.linspace(-1, 1, 5)
    assert float(obj.value(jnp.asarray(x))) == pytest.approx(
        _numpy_value("rosenbrock", x), rel=1e-6
    )
    shifted = objectives.get("rosenbrock", a=2.0)
    assert shifted.minima == [[2.0, 4.0]]
    assert float(shifted.value(jnp.asarray([2.0, 4.0]))) == 0.0


def test_styblinski_tang_minimum_scales_with_dimension():
    obj = objectives.get("styblinski_tang", dim=4)
    assert obj.minimum_value == pytest.approx(-39.16616570377142 * 4)


def test_quadratic_condition_number_is_the_curvature_ratio():
    obj = objectives.get("quadratic", condition=1000.0, dim=4)
    with jax.enable_x64(True):
        hessian = jax.hessian(obj.value)(jnp.zeros(4, jnp.float64))
    eig = np.linalg.eigvalsh(np.asarray(hessian))
    assert eig.max() / eig.min() == pytest.approx(1000.0)


def test_noisy_quadratic_draws_a_fresh_seeded_centre():
    obj = objectives.get("noisy_quadratic", noise=1.0)
    x = jnp.zeros(2)
    k1, k2 = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    assert float(obj.loss(x, k1, 3)) == float(obj.loss(x, k1, 3))
    assert float(obj.loss(x, k1, 3)) != float(obj.loss(x, k2, 3))
    assert float(obj.loss(x, k1, 3)) != float(obj.loss(x, k1, 4))  # fresh every step
    assert float(obj.value(x)) == 0.0


def test_grid_is_indexed_y_then_x_on_a_non_square_grid():
    obj = objectives.get("himmelblau")
    x, y, z = grid2d(obj, [[-4.0, 3.0], [-2.0, 5.0]], (7, 4), "float64")
    assert z.shape == (4, 7) and len(x) == 7 and len(y) == 4
    for i in range(4):
        for j in range(7):
            assert z[i, j] == pytest.approx(_numpy_value("himmelblau", [x[j], y[i]]), rel=1e-12)


def test_large_grid_is_evaluated_in_chunks_with_the_same_values():
    obj = objectives.get("rastrigin")
    x, y, z = grid2d(obj, [[-5.12, 5.12], [-5.12, 5.12]], (501, 301), "float64")
    assert z.shape == (301, 501)
    for i, j in [(0, 0), (150, 250), (300, 500), (17, 433)]:
        assert z[i, j] == pytest.approx(_numpy_value("rastrigin", [x[j], y[i]]), rel=1e-12)
    assert math.isclose(float(z.min()), 0.0, abs_tol=1e-9)  # 0 is on the grid
