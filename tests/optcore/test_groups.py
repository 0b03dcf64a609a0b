"""Groups: runs keyed by their optimizer structure (a FrozenConfig), and the optimizer a
group builds from its traced values."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optcore import optimizers
from optcore.groups import group_runs, optimizer_of, structure_of, value_at
from optcore.optimizers.config import TRACED, freeze
from optcore.spec import parse_job


def planned(runs: list[dict[str, Any]]) -> Any:
    return parse_job({"objective": {"name": "rosenbrock"}, "runs": runs, "steps": 10}).runs


def test_runs_differing_in_traced_numbers_share_a_group() -> None:
    runs = planned(
        [
            {"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.01]}},
            {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.1}, "clip_norm": 1.0},
            {"optimizer": "sgd"},
        ]
    )
    groups = group_runs(runs)
    assert [g.members for g in groups] == [(0, 1), (2,), (3,)]
    adam = groups[0]
    config = runs[0].config
    assert adam.template == freeze(config).blank(optimizers.traced_paths(config))
    assert adam.template.at(("hyperparameters", "learning_rate")) == TRACED
    lr = adam.paths.index(("hyperparameters", "learning_rate"))
    assert adam.varying[lr] and not any(v for i, v in enumerate(adam.varying) if i != lr)
    assert hash(adam.key) == hash((adam.template, adam.varying))
    assert len({g.key for g in groups}) == 3
    # the same structure in another job has the same key (the compile cache's)
    again = group_runs(planned([{"optimizer": "adam", "sweep": {"learning_rate": [0.5, 0.2]}}]))
    assert again[0].key == adam.key


def test_the_group_optimizer_is_the_run_optimizer() -> None:
    """optimizer_of fills the group's template with a run's values: the run's own optimizer."""
    runs = planned([{"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.01]}}])
    (group,) = group_runs(runs)
    with jax.enable_x64(True):  # float64 throughout, to compare to 1e-12
        grads = jnp.asarray([0.5, -2.0], jnp.float64)
        params = jnp.asarray([1.0, 1.0], jnp.float64)
        for b in group.members:
            numbers = [float(value_at(runs[b].config, p)) for p in group.paths]
            shared = [x for x, v in zip(numbers, group.varying) if not v]
            varying = [x for x, v in zip(numbers, group.varying) if v]
            values = (jnp.asarray(shared, jnp.float64), jnp.asarray(varying, jnp.float64))
            outputs = []
            for tx in (optimizer_of(group, values), optimizers.build(runs[b].config)):
                state = tx.init(params)
                for _ in range(3):
                    updates, state = tx.update(grads, state, params)
                outputs.append(np.asarray(updates))
            np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-12)


def test_a_structure_is_remembered_by_the_configs_text_which_tells_1_from_1_0_and_true() -> None:
    config = {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.1}, "inner": None}
    paths, template = structure_of(config)
    assert template == freeze(config).blank(paths)
    assert structure_of(dict(config))[1] is template  # the same text: not frozen again
    kinds = [{**config, "clip_norm": v, "variant": v} for v in (1, 1.0, True)]
    templates = [structure_of(k)[1] for k in kinds]
    # clip_norm is traced (blanked), a field that is not (here "variant") is kept: three
    assert len({repr(t) for t in templates}) == 3 and len(set(templates)) == 3
    assert templates == [freeze(k).blank(optimizers.traced_paths(k)) for k in kinds]
