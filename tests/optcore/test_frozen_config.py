"""FrozenConfig: resolved optimizer configs as hashable values (optcore.optimizers.config)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import optcore
from optcore import objectives, optimizers
from optcore.errors import SpecError
from optcore.optimizers.config import TRACED, FrozenConfig, freeze, thaw

LOOKAHEAD = {
    "optimizer": "lookahead",
    "hyperparameters": {"sync_period": 5, "slow_step_size": 0.5},
    "inner": {
        "optimizer": "adam",
        "hyperparameters": {"learning_rate": 0.01},
        "schedule": {"kind": "cosine_decay", "decay_steps": 100},
        "clip_norm": 1.0,
    },
}


def resolved(**changes: Any) -> dict[str, Any]:
    spec = {**LOOKAHEAD, "inner": {**LOOKAHEAD["inner"], **changes}}
    return optimizers.resolve(spec)


def structure(config: dict[str, Any]) -> FrozenConfig:
    """What the runner groups runs by: the config with its traced numbers blanked."""
    return freeze(config).blank(optimizers.traced_paths(config))


def test_round_trip_and_immutable() -> None:
    config = resolved()
    frozen = freeze(config)
    assert thaw(frozen) == config and frozen.thaw() is not config
    assert frozen.at(("inner", "schedule", "kind")) == "cosine_decay"
    assert isinstance(frozen["inner"], FrozenConfig) and freeze(frozen) is frozen
    with pytest.raises(TypeError):
        frozen["optimizer"] = "sgd"  # type: ignore[index]
    lists = freeze({"optimizer": "x", "betas": [0.9, [0.99]]})
    assert lists["betas"] == (0.9, (0.99,)) and lists.thaw()["betas"] == [0.9, [0.99]]


def test_equal_configs_hash_equal_in_any_key_order() -> None:
    config = resolved()
    reordered = {k: config[k] for k in reversed(list(config))}
    assert freeze(config) == freeze(reordered)
    assert hash(freeze(config)) == hash(freeze(reordered))
    assert len({freeze(config), freeze(reordered)}) == 1


def test_structure_ignores_traced_numbers_only() -> None:
    base = structure(resolved())
    assert structure(resolved(hyperparameters={"learning_rate": 0.5})) == base
    assert structure(resolved(clip_norm=3.0)) == base
    assert base.at(("inner", "hyperparameters", "learning_rate")) == TRACED
    # what changes the program changes the structure
    assert structure(resolved(clip_norm=None)) != base
    assert structure(resolved(schedule={"kind": "linear_warmup"})) != base
    assert structure(resolved(optimizer="sgd")) != base


def test_leaf_types_are_part_of_the_value() -> None:
    ints, floats, bools = (freeze({"v": v}) for v in (1, 1.0, True))
    assert ints != floats and ints != bools and floats != bools
    assert freeze({"v": [1]}) != freeze({"v": [1.0]})
    assert freeze({"v": None}) == freeze({"v": None})


def test_blank_and_fill() -> None:
    frozen = freeze(resolved())
    path = ("inner", "hyperparameters", "learning_rate")
    other = ("inner", "hyperparameters", "b1")
    changed = frozen.blank([path, other], marker="x")
    assert changed.at(path) == changed.at(other) == "x"
    assert frozen.at(path) == 0.01 and frozen.at(other) != "x"  # the original is untouched
    assert changed.at(("inner", "schedule")) == frozen.at(("inner", "schedule"))
    with pytest.raises(KeyError):
        frozen.blank([("optimizer", "name")])
    traced = jnp.asarray(0.3)
    filled = frozen.fill({path: traced})
    assert filled["inner"]["hyperparameters"]["learning_rate"] is traced
    assert filled["inner"]["schedule"] == thaw(frozen)["inner"]["schedule"]
    with pytest.raises(KeyError):
        frozen.at(("optimizer", "name"))


def test_not_json_like_values_are_refused() -> None:
    with pytest.raises(TypeError, match="ndarray"):
        freeze({"optimizer": "adam", "hyperparameters": {"learning_rate": np.ones(2)}})
    with pytest.raises(TypeError, match="keys are strings"):
        freeze({1: "adam"})


def test_build_takes_a_frozen_config() -> None:
    config = resolved()
    grads = {"w": jnp.asarray([0.5, -2.0, 3.0])}
    params = {"w": jnp.asarray([1.0, 1.0, 1.0])}
    outputs = []
    for tx in (optimizers.build(config), optimizers.build(freeze(config))):
        state = tx.init(params)
        for _ in range(3):
            updates, state = tx.update(grads, state, params)
        outputs.append(np.asarray(updates["w"]))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert optimizers.traced_paths(freeze(config)) == optimizers.traced_paths(config)


def test_pickled_value_rehashes_in_another_process() -> None:
    frozen = structure(resolved())
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    check = (
        "import pickle, sys; from optcore.optimizers.config import freeze; "
        "value = pickle.loads(sys.stdin.buffer.read()); "
        "mine = freeze(value.thaw()); "
        "assert value == mine and hash(value) == hash(mine) and len({value, mine}) == 1"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "JAX_PLATFORMS": "cpu"}
        subprocess.run(
            [sys.executable, "-c", check], input=pickle.dumps(frozen), env=env, check=True
        )


def test_a_spec_resolved_again_is_unchanged_by_what_was_done_to_the_first_result():
    """``optimizers.resolve`` and ``objectives.resolve`` remember what they resolved; a
    caller that changes a config or a result document it was given changes no later job,
    and a bad spec is refused every time."""
    spec = {
        "optimizer": "adam",
        "hyperparameters": {"learning_rate": 0.02},
        "schedule": {"kind": "cosine_decay", "decay_steps": 100},
    }
    expected = optimizers.resolve(spec)
    first = optimizers.resolve(spec)
    first["optimizer"] = "gd"
    job = {"objective": {"name": "booth", "params": {}}, "runs": [spec], "steps": 20}
    doc = optcore.run(job)["runs"][0]
    doc["hyperparameters"]["learning_rate"] = 5.0
    doc["schedule"]["decay_steps"] = 7
    assert optimizers.resolve(spec) == expected
    again = optcore.run(job)["runs"][0]
    assert again["hyperparameters"]["learning_rate"] == 0.02
    assert again["schedule"]["decay_steps"] == 100
    for _ in range(2):
        with pytest.raises(SpecError, match="learning_rate"):
            optimizers.resolve({"optimizer": "adam", "hyperparameters": {"learning_rate": -1}})
        with pytest.raises(SpecError, match="objective.params"):
            objectives.resolve({"name": "rosenbrock", "params": {"b": "steep"}})
