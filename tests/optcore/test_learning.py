"""Learning objectives and landscapes of any objective (Li et al. 2018)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optcore
from optcore import objectives
from optcore.landscape import (
    filter_normalize,
    pca_directions,
    plane_values,
    project,
    random_directions,
)

SINE = {"name": "sine_regression", "params": {"hidden": [8, 8], "samples": 64}}


def test_filter_normalisation_equals_a_numpy_computation():
    rng = np.random.default_rng(0)
    for shape in [(5, 3), (2, 2, 4, 3)]:  # a dense kernel (in, out) and a conv one (..., out)
        d, w = rng.normal(size=shape), rng.normal(size=shape)
        out = filter_normalize(d, w, "filter", "zero")
        for j in range(shape[-1]):
            dj, wj = d[..., j], w[..., j]
            expected = dj * np.sqrt((wj**2).sum()) / (np.sqrt((dj**2).sum()) + 1e-10)
            np.testing.assert_allclose(out[..., j], expected, rtol=1e-12)
    bias = rng.normal(size=4)
    assert not filter_normalize(bias, rng.normal(size=4), "filter", "zero").any()
    kept = filter_normalize(bias, np.full(4, 2.0), "filter", "keep")
    assert np.linalg.norm(kept) == pytest.approx(4.0)  # scaled to the layer's norm


def test_random_directions_are_seeded_and_filter_normalised_per_leaf():
    obj = objectives.resolve(SINE)
    center = jax.tree.map(np.asarray, obj.init_params(jax.random.PRNGKey(1)))
    d1, d2 = random_directions(center, seed=3)
    again, _ = random_directions(center, seed=3)
    other, _ = random_directions(center, seed=4)
    assert all(np.array_equal(d1[k], again[k]) for k in d1)
    assert not np.array_equal(d1["w1"], other["w1"])
    assert not d1["b0"].any() and not d2["b1"].any()  # biases zeroed by default
    np.testing.assert_allclose(
        np.linalg.norm(d1["w1"], axis=0), np.linalg.norm(center["w1"], axis=0), rtol=1e-5
    )


def test_plane_grid_is_y_then_x_and_its_centre_is_the_loss_at_the_centre():
    obj = objectives.resolve(SINE)
    center = jax.tree.map(np.asarray, obj.init_params(jax.random.PRNGKey(0)))
    d1, d2 = random_directions(center, seed=0)
    center, d1, d2 = (
        jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), t) for t in (center, d1, d2)
    )
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-2, 2, 5)  # both hold 0
    z = plane_values(obj, center, d1, d2, xs, ys)
    assert z.shape == (5, 7)
    assert z[2, 3] == pytest.approx(float(obj.value(center)), rel=1e-5)
    for i, j in [(0, 0), (4, 6), (1, 5)]:
        a, b = xs[j], ys[i]
        moved = jax.tree.map(lambda c, u, v, a=a, b=b: c + a * u + b * v, center, d1, d2)
        assert z[i, j] == pytest.approx(float(obj.value(moved)), rel=1e-5)


def test_a_path_in_a_plane_projects_onto_its_pca_plane_exactly():
    rng = np.random.default_rng(1)
    center, u, v = rng.normal(size=50), rng.normal(size=50), rng.normal(size=50)
    coords = rng.normal(size=(30, 2))
    path = center + coords[:, :1] * u + coords[:, 1:] * v
    d1, d2, share = pca_directions(path, center)
    assert share.sum() == pytest.approx(1.0)  # the plane explains all the variance
    projected = project(path, center, d1, d2)
    np.testing.assert_allclose(
        center + projected[:, :1] * d1 + projected[:, 1:] * d2, path, atol=1e-10
    )


def _sine_job(**params):
    return {
        "objective": {
            "name": "sine_regression",
            "params": {"hidden": [8], "samples": 32, **params},
        },
        "runs": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.05}}],
        "steps": 60,
        "dtype": "float64",
    }


def test_minibatch_sgd_with_the_whole_batch_equals_full_batch_descent():
    full = optcore.run(_sine_job())["runs"][0]
    whole = optcore.run(_sine_job(batch_size=32))["runs"][0]
    np.testing.assert_allclose(whole["loss"], full["loss"], rtol=1e-12)


def test_the_same_seed_gives_the_same_data_order():
    a = optcore.run({**_sine_job(batch_size=8), "seed": 5})["runs"][0]
    b = optcore.run({**_sine_job(batch_size=8), "seed": 5})["runs"][0]
    c = optcore.run({**_sine_job(batch_size=8), "seed": 6})["runs"][0]
    full = optcore.run({**_sine_job(), "seed": 5})["runs"][0]
    assert np.array_equal(a["loss"], b["loss"])  # per-step series are numpy arrays
    assert not np.array_equal(a["loss"], c["loss"])
    assert not np.array_equal(a["loss"][1:], full["loss"][1:])


def test_minibatches_visit_every_sample_once_per_epoch():
    obj = objectives.resolve(
        {"name": "sine_regression", "params": {"hidden": [4], "samples": 12, "batch_size": 4}}
    )
    key = jax.random.PRNGKey(0)
    seen = []
    for step in range(3):  # one epoch: 3 batches of 4
        order = jax.random.permutation(jax.random.fold_in(key, step // 3), 12)
        seen += list(np.asarray(order[(step % 3) * 4 : (step % 3) * 4 + 4]))
    assert sorted(seen) == list(range(12))
    params = obj.init_params(jax.random.PRNGKey(1))
    x, y = obj.train
    for step in range(3):
        rows = seen[step * 4 : (step + 1) * 4]
        expected = float(
            np.mean(
                (np.asarray(obj.predict(params, jnp.asarray(x[rows], jnp.float32))) - y[rows]) ** 2
            )
        )
        assert float(obj.loss(params, key, step)) == pytest.approx(expected, rel=1e-5)


def test_figure2_job_trains_the_network_and_draws_its_landscape():
    job = {
        "objective": {"name": "sine_regression", "params": {"hidden": [32, 32]}},
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
        "steps": 1500,
        "record": {
            "every": 50,
            "landscape": {"kind": "random", "resolution": [30, 20], "bounds": [[-5, 5], [-5, 5]]},
        },
    }
    result = optcore.run(job)
    run, land = result["runs"][0], result["landscape"]
    assert run["final"]["loss"] < 0.01 * run["loss"][0]
    assert land["kind"] == "random" and len(land["z"]) == 20 and len(land["z"][0]) == 30
    assert len(run["trajectory"]) == len(run["loss"])  # the path, projected on the plane
    assert run["trajectory"][-1] == pytest.approx([0.0, 0.0], abs=1e-4)  # ends at the centre
    assert result["objective"]["dimension"] == 1 * 32 + 32 + 32 * 32 + 32 + 32 + 1


def test_pca_landscape_explains_the_path_and_interpolation_runs_start_to_end():
    base = {
        "objective": SINE,
        "steps": 400,
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
    }
    pca = optcore.run(
        {**base, "record": {"every": 20, "landscape": {"kind": "pca", "resolution": 11}}}
    )
    land = pca["landscape"]
    assert land["kind"] == "pca" and sum(land["explained_variance"]) <= 1.0 + 1e-9
    assert land["explained_variance"][0] > 0.5
    line = optcore.run(
        {**base, "record": {"landscape": {"kind": "interpolation", "resolution": 21}}}
    )
    x, z = line["landscape"]["x"], line["landscape"]["z"]
    assert x[5] == pytest.approx(0.0) and x[15] == pytest.approx(1.0)
    assert z[15] == pytest.approx(line["runs"][0]["final"]["loss"], rel=1e-4)
    assert z[5] == pytest.approx(line["runs"][0]["loss"][0], rel=1e-4)


def test_validation_split_records_a_held_out_loss():
    result = optcore.run({**_sine_job(validation=0.25), "steps": 40})
    run = result["runs"][0]
    assert len(run["validation_loss"]) == len(run["loss"])
    assert not np.array_equal(run["validation_loss"], run["loss"])


def test_classification_and_regression_on_data_sent_in_the_job():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    labels = (x[:, 0] + x[:, 1] > 0).astype(int)
    job = {
        "objective": {
            "name": "classification",
            "params": {"hidden": [16]},
            "data": {"x": x.tolist(), "y": labels.tolist()},
        },
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}}],
        "steps": 300,
    }
    run = optcore.run(job)["runs"][0]
    assert run["final"]["loss"] < 0.5 * run["loss"][0]
    reg = {
        **job,
        "objective": {"name": "regression", "data": {"x": x.tolist(), "y": (2 * x[:, 0]).tolist()}},
    }
    run = optcore.run(reg)["runs"][0]
    assert run["final"]["loss"] < 0.1 * run["loss"][0]
    with pytest.raises(optcore.SpecError) as info:
        optcore.run(
            {**job, "objective": {"name": "regression", "data": {"x": x.tolist(), "y": [1.0, 2.0]}}}
        )
    assert info.value.field == "objective.data.y"
    with pytest.raises(optcore.SpecError) as info:
        optcore.run({**job, "init": {"point": [0.0, 1.0]}})
    assert info.value.field == "init.point"
