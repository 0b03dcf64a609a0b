"""The catalog: every entry runs with its defaults, and its schema says what it accepts."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optcore
from optcore import optimizers
from optcore.optimizers.schedules import make_schedule, validate_schedule

SEED_NAMES = {
    "gd",
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "radam",
    "lookahead",
    "ranger",
    "lars",
    "lamb",
    "ranger_lars",
    "paratrooper",
}
CATALOG = optimizers.catalog()


def test_catalog_has_every_seed_name_and_every_other_optax_alias():
    names = {e["name"] for e in CATALOG}
    assert SEED_NAMES <= names
    for alias in ("adabelief", "lion", "yogi", "novograd", "adadelta", "sm3", "rprop"):
        assert alias in names
    ranger_lars = next(e for e in CATALOG if e["name"] == "ranger_lars")
    assert set(ranger_lars["aliases"]) == {"ranger_lamb", "over9000"}


@pytest.mark.parametrize(
    "entry", [e for e in CATALOG if e["name"] in SEED_NAMES], ids=lambda e: e["name"]
)
def test_seed_entries_carry_equation_reference_and_bounded_schema(entry):
    assert entry["update"] and "\\" in entry["update"]
    assert entry["reference"]
    for name, schema in entry["hyperparameters"]["properties"].items():
        assert "default" in schema, name
        if schema["type"] == "number":
            assert "minimum" in schema or "exclusiveMinimum" in schema, name


def _defaults_job(entry):
    run = {"optimizer": entry["name"]}
    if entry["requires_inner"]:
        run["inner"] = {"optimizer": "sgd"}
    return {
        "objective": {"name": "quadratic", "params": {"condition": 10.0}},
        "runs": [run],
        "init": {"point": [1.0, 1.0]},
        "steps": 200,
        "record": {"every": 50},
    }


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e["name"])
def test_every_entry_with_defaults_decreases_a_convex_quadratic(entry):
    run = optcore.run(_defaults_job(entry))["runs"][0]
    assert run["loss"][0] == pytest.approx(5.5)  # 0.5 * (1 + 10) at (1, 1)
    assert run["final"]["loss"] is not None
    assert run["final"]["loss"] < 0.99 * 5.5, entry["name"]


def test_defaults_of_the_schema_are_what_the_optimizer_uses():
    adam = next(e for e in CATALOG if e["name"] == "adam")["hyperparameters"]["properties"]
    assert {k: v["default"] for k, v in adam.items()} == {
        "learning_rate": 1e-3,
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
    }
    rmsprop = next(e for e in CATALOG if e["name"] == "rmsprop")["hyperparameters"]
    assert rmsprop["properties"]["initial"]["enum"] == ["gradient", "zero"]
    adamw = next(e for e in CATALOG if e["name"] == "adamw")["hyperparameters"]["properties"]
    assert adamw["weight_decay"]["default"] == 1e-2


@pytest.mark.parametrize(
    "name,hp,field",
    [
        ("adam", {"learning_rate": 0.0}, "hyperparameters.learning_rate"),
        ("adam", {"b1": 1.0}, "hyperparameters.b1"),
        ("adam", {"beta1": 0.9}, "hyperparameters.beta1"),
        ("rmsprop", {"initial": "ones"}, "hyperparameters.initial"),
        ("lookahead", {"sync_period": 2.5}, "hyperparameters.sync_period"),
        ("radam", {"b2": 0.5}, "hyperparameters.b2"),
        ("lars", {"momentum": "high"}, "hyperparameters.momentum"),
    ],
)
def test_bad_hyperparameters_raise_a_value_error_naming_the_field(name, hp, field):
    with pytest.raises(ValueError) as info:
        optimizers.get(
            name, inner={"optimizer": "sgd"}, **hp
        ) if name == "lookahead" else optimizers.get(name, **hp)
    assert isinstance(info.value, optcore.SpecError)
    assert field in [f for f, _ in info.value.errors]


def test_unknown_optimizer_lists_what_is_allowed():
    with pytest.raises(ValueError, match="Did you mean adam") as info:
        optimizers.get("adma")
    assert info.value.field == "optimizer"


def test_lookahead_needs_an_inner_optimizer_and_accepts_a_transformation():
    with pytest.raises(ValueError, match="inner"):
        optimizers.get("lookahead")
    tx = optimizers.get("lookahead", inner=optax.sgd(0.1), sync_period=2, slow_step_size=0.5)
    params = jnp.array([1.0, -2.0])
    state = tx.init(params)
    u1, state = tx.update(params, state, params)  # gradient of 0.5 |x|^2 is x
    p1 = params + u1
    np.testing.assert_allclose(p1, 0.9 * params, rtol=1e-6)
    u2, state = tx.update(p1, state, p1)
    # second step syncs: slow = theta_0 + 0.5 (fast_2 - theta_0), fast_2 = 0.81 theta_0
    np.testing.assert_allclose(p1 + u2, params + 0.5 * (0.81 * params - params), rtol=1e-6)


SCHEDULES = [
    ({"kind": "constant"}, lambda lr: optax.constant_schedule(lr)),
    (
        {"kind": "linear_warmup", "warmup_steps": 50, "start_factor": 0.1},
        lambda lr: optax.linear_schedule(0.1 * lr, lr, 50),
    ),
    (
        {"kind": "cosine_decay", "decay_steps": 200, "alpha": 0.05},
        lambda lr: optax.cosine_decay_schedule(lr, 200, 0.05),
    ),
    (
        {
            "kind": "warmup_cosine",
            "warmup_steps": 30,
            "decay_steps": 250,
            "start_factor": 0.0,
            "end_factor": 0.1,
        },
        lambda lr: optax.warmup_cosine_decay_schedule(0.0, lr, 30, 250, 0.1 * lr),
    ),
    (
        {
            "kind": "exponential_decay",
            "transition_steps": 40,
            "decay_rate": 0.7,
            "transition_begin": 10,
            "staircase": True,
        },
        lambda lr: optax.exponential_decay(lr, 40, 0.7, 10, staircase=True),
    ),
]


@pytest.mark.parametrize("spec,reference", SCHEDULES, ids=[s["kind"] for s, _ in SCHEDULES])
def test_schedule_equals_its_optax_namesake(spec, reference):
    ours = make_schedule(0.3, validate_schedule(spec, "schedule"))
    theirs = reference(0.3)
    steps = np.arange(0, 320)
    np.testing.assert_allclose(
        [float(ours(jnp.asarray(t, jnp.float32))) for t in steps],
        [float(theirs(t)) for t in steps],
        rtol=1e-5,
        atol=1e-7,
    )


def test_schedule_and_clip_norm_change_the_steps_of_any_optimizer():
    base = {
        "objective": {"name": "rosenbrock"},
        "steps": 20,
        "dtype": "float64",
        "runs": [
            {"optimizer": "gd", "hyperparameters": {"learning_rate": 1e-3}},
            {"optimizer": "gd", "hyperparameters": {"learning_rate": 1e-3}, "clip_norm": 1.0},
            {
                "optimizer": "gd",
                "hyperparameters": {"learning_rate": 1e-3},
                "schedule": {"kind": "linear_warmup", "warmup_steps": 10},
            },
        ],
    }
    plain, clipped, warm = optcore.run(base)["runs"]
    x0 = np.array([-1.5, 2.0])
    g0 = np.array(
        [-2 * (1 - x0[0]) - 400 * x0[0] * (x0[1] - x0[0] ** 2), 200 * (x0[1] - x0[0] ** 2)]
    )
    np.testing.assert_allclose(plain["trajectory"][1], x0 - 1e-3 * g0)
    np.testing.assert_allclose(clipped["trajectory"][1], x0 - 1e-3 * g0 / np.linalg.norm(g0))
    np.testing.assert_allclose(warm["trajectory"][1], x0)  # warmup starts at factor 0


def test_schedule_on_a_wrapper_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="put the schedule on inner"):
        optimizers.get("lookahead", inner={"optimizer": "sgd"}, schedule={"kind": "constant"})


def test_every_kind_of_objective_satisfies_the_shared_protocol():
    from optcore import objectives
    from optcore.objectives import ObjectiveProtocol

    kinds = [
        objectives.get("rosenbrock"),
        objectives.resolve({"expression": "x**2 + y**2"}),
        objectives.resolve({"name": "sine_regression", "params": {"hidden": [4], "samples": 8}}),
    ]
    for objective in kinds:
        assert isinstance(objective, ObjectiveProtocol), type(objective).__name__
    assert not isinstance(object(), ObjectiveProtocol)


def test_seed_schemas_come_from_the_recipe_signatures():
    import inspect

    from optcore import optimizers

    by_name = {e["name"]: e for e in optimizers.catalog()}
    for name in ("paratrooper", "lamb", "rmsprop", "lars"):
        fn = getattr(optimizers, name)
        props = by_name[name]["hyperparameters"]["properties"]
        signature = inspect.signature(fn).parameters
        assert list(props) == list(signature)
        assert all(props[k]["default"] == p.default for k, p in signature.items())
    assert props["exclude_bias"]["type"] == "boolean"
    assert by_name["rmsprop"]["hyperparameters"]["properties"]["initial"]["enum"] == [
        "gradient",
        "zero",
    ]
    assert by_name["lamb"]["hyperparameters"]["properties"]["weight_norm_clip"]["type"] == [
        "number",
        "null",
    ]
    assert "optimistic_adam" not in by_name and "optimistic_adam_v2" in by_name
    assert "12.9x" in by_name["radam"]["notes"] and "3.16x" in by_name["rmsprop"]["notes"]


def test_catalog_publishes_the_gallery_tuned_learning_rates():
    from api.routes.catalog import list_optimizers
    from optcore import optimizers

    body = list_optimizers()
    budget = body["tuned_learning_rate_budget"]
    assert budget["candidates"] == 200 and budget["steps"] == 500
    by_name = {e["name"]: e for e in body["optimizers"]}
    assert all(isinstance(e["tuned_learning_rate"], dict) for e in body["optimizers"])
    for name in ("adam", "paratrooper", "lars", "lion"):
        tuned = by_name[name]["tuned_learning_rate"]
        assert set(tuned) == {"rosenbrock", "rastrigin"}, name
        assert all(1e-5 <= lr <= 10.0 for lr in tuned.values())
    assert by_name["lookahead"]["tuned_learning_rate"] == {}
    assert optimizers.tuning_budget() == budget
