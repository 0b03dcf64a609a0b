"""``bias: "keep"`` follows Li et al.'s net_plotter.py: on 1-D leaves the direction is the
weights themselves (``d.copy_(w)``), whatever was drawn."""

from __future__ import annotations

import jax
import numpy as np

from optcore import objectives
from optcore.landscape import filter_normalize, random_directions


def test_keep_makes_a_bias_direction_the_weights_themselves():
    rng = np.random.default_rng(3)
    drawn, weights = rng.normal(size=5), rng.normal(size=5)
    kept = filter_normalize(drawn, weights, "filter", "keep")
    np.testing.assert_array_equal(kept, weights)
    assert kept is not weights  # a copy: moving along it never aliases the centre
    assert not filter_normalize(drawn, weights, "filter", "zero").any()


def test_keep_in_random_directions_gives_both_directions_the_bias_and_normalises_kernels():
    obj = objectives.resolve({"name": "sine_regression", "params": {"hidden": [4], "samples": 8}})
    center = jax.tree.map(np.asarray, obj.init_params(jax.random.PRNGKey(2)))
    center["b0"] = center["b0"] + 0.25  # a non-zero bias, so keeping it is visible
    d1, d2 = random_directions(center, seed=5, bias="keep")
    np.testing.assert_array_equal(d1["b0"], center["b0"])
    np.testing.assert_array_equal(d2["b0"], center["b0"])
    assert not np.array_equal(d1["w0"], d2["w0"])  # kernels still get independent draws
    np.testing.assert_allclose(
        np.linalg.norm(d1["w0"], axis=0), np.linalg.norm(center["w0"], axis=0), rtol=1e-5
    )
