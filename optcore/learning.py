"""Learning objectives: a small ReLU network fitted to data, as the seed's Figure 2.

``sine_regression`` generates its data (inputs on [-pi, pi], target sin x, optional noise);
``regression`` and ``classification`` take ``x`` (n x d) and ``y`` from the job. Parameters
are a pytree with one leaf per weight and bias (``w0``, ``b0``, ``w1``, ...), kernels shaped
(in, out), so the per-layer optimizers act per layer. ``batch_size`` turns gradient descent
into minibatch SGD: each epoch visits the data in a seeded random order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import SpecError, join_field
from .optimizers.schema import Hyper, object_schema, validate_params

MAX_VALUES = 200_000  # numbers in x and y together
MAX_PARAMETERS = 1_000_000
MAX_LAYERS = 8
MAX_WIDTH = 1024
MAX_CLASSES = MAX_WIDTH


def _common() -> tuple[Hyper, ...]:
    return (
        Hyper(
            "batch_size",
            None,
            "minibatch size; null: the whole training set each step",
            kind="integer",
            minimum=1,
            nullable=True,
            traced=False,
        ),
        Hyper(
            "validation",
            0.0,
            "fraction of the data held out; its loss is recorded",
            minimum=0.0,
            maximum=0.9,
            traced=False,
        ),
        Hyper(
            "data_seed",
            0,
            "seed of the data (and of the held-out split)",
            kind="integer",
            minimum=0,
            maximum=2**31 - 1,
            traced=False,
        ),
    )


HIDDEN_DOC = "hidden layer widths, e.g. [32, 32] (ReLU between layers)"
PARAMS = {
    "sine_regression": (
        Hyper(
            "samples",
            256,
            "number of points on [-pi, pi]",
            kind="integer",
            minimum=2,
            maximum=100_000,
            traced=False,
        ),
        Hyper(
            "noise", 0.0, "standard deviation of noise added to sin x", minimum=0.0, traced=False
        ),
    )
    + _common(),
    "regression": _common(),
    "classification": _common(),
}
SUMMARIES = {
    "sine_regression": "The seed's Figure 2: a ReLU network regressing sin x (MSE).",
    "regression": "A ReLU network fitted to x (n x d) and y (n or n x k) sent in the job (MSE).",
    "classification": "A ReLU network classifying x (n x d) into integer labels y (cross-entropy).",
}


Params = dict[str, jax.Array]  # a network's weights: w0, b0, w1, ...
Data = tuple[np.ndarray, np.ndarray]  # (x, y)


@dataclass(frozen=True)
class LearningObjective:
    """A network, its data and its loss; the runner and the landscapes use it."""

    name: str
    params: dict[str, Any]  # what the job gave (and the defaults), for the result
    layers: tuple[int, ...]  # in, hidden..., out
    train: Data
    held_out: Data | None
    classify: bool = False
    batch_size: int | None = None
    data_id: str = field(default="", compare=False)

    vector = False
    box = None
    minima = None
    minimum_value = None

    @property
    def dim(self) -> int:
        return sum(a * b + b for a, b in zip(self.layers, self.layers[1:], strict=False))

    @property
    def stochastic(self) -> bool:
        return self.batch_size is not None and self.batch_size < len(self.train[0])

    @property
    def has_validation(self) -> bool:
        return self.held_out is not None

    def cache_key(self) -> tuple[Any, ...]:
        return (self.name, self.layers, self.classify, self.batch_size, self.data_id)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "dimension": self.dim,
            "layers": list(self.layers),
            "minima": None,
            "minimum_value": None,
        }

    # -- the network ------------------------------------------------------------------

    def init_params(self, key: jax.Array, dtype: Any = jnp.float32) -> Params:
        """He-uniform kernels (in, out), zero biases, from ``key``."""
        params: Params = {}
        keys = jax.random.split(key, len(self.layers) - 1)
        for i, (k, (n_in, n_out)) in enumerate(
            zip(keys, zip(self.layers, self.layers[1:], strict=False), strict=False)
        ):
            limit = math.sqrt(6.0 / n_in)
            params[f"w{i}"] = jax.random.uniform(k, (n_in, n_out), dtype, -limit, limit)
            params[f"b{i}"] = jnp.zeros((n_out,), dtype)
        return params

    def predict(self, params: Params, x: jax.Array) -> jax.Array:
        n = len(self.layers) - 1
        for i in range(n):
            x = x @ params[f"w{i}"] + params[f"b{i}"]
            if i < n - 1:
                x = jax.nn.relu(x)
        return x

    def _loss_on(self, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        return self._loss_of_output(self.predict(params, x), y)

    def _loss_of_output(self, out: jax.Array, y: jax.Array) -> jax.Array:
        """Mean loss over the samples (the second-to-last axis of ``out``)."""
        if self.classify:
            logp = jax.nn.log_softmax(out)
            picked = jnp.take_along_axis(
                logp, jnp.broadcast_to(y[:, None], logp.shape[:-1] + (1,)), axis=-1
            )
            return -jnp.mean(picked[..., 0], axis=-1)
        return jnp.mean(jnp.sum((out - y) ** 2, axis=-1), axis=-1)

    def _arrays(self, which: Data, dtype: Any) -> tuple[jax.Array, jax.Array]:
        x, y = which
        return jnp.asarray(x, dtype), (jnp.asarray(y) if self.classify else jnp.asarray(y, dtype))

    def value(self, params: Params) -> jax.Array:
        """The loss on the whole training set."""
        dtype = jax.tree.leaves(params)[0].dtype
        return self._loss_on(params, *self._arrays(self.train, dtype))

    def validation(self, params: Params) -> jax.Array:
        if self.held_out is None:
            raise ValueError(f"{self.name} holds no validation data")
        dtype = jax.tree.leaves(params)[0].dtype
        return self._loss_on(params, *self._arrays(self.held_out, dtype))

    def loss(self, params: Params, key: jax.Array | None = None, step: Any = None) -> jax.Array:
        """The loss the optimizer sees at ``step``: a minibatch when ``batch_size`` is set,
        the batches of an epoch being a permutation drawn from ``key`` and the epoch."""
        if self.batch_size is None or not self.stochastic or key is None:
            return self.value(params)
        dtype = jax.tree.leaves(params)[0].dtype
        x, y = self._arrays(self.train, dtype)
        n, b = len(self.train[0]), self.batch_size
        per_epoch = n // b  # a last partial batch is dropped
        epoch, i = step // per_epoch, step % per_epoch
        order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        rows = jax.lax.dynamic_slice(order, (i * b,), (b,))
        return self._loss_on(params, x[rows], y[rows])


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[Data, Data | None]:
    if fraction <= 0:
        return (x, y), None
    order = np.random.default_rng(seed).permutation(len(x))
    held = max(1, int(round(fraction * len(x))))
    if held >= len(x):
        raise SpecError("objective.params.validation", "leaves no training data")
    keep, out = order[held:], order[:held]
    return (x[keep], y[keep]), (x[out], y[out])


def _layers(hidden: Any, where: str) -> tuple[int, ...]:
    if not isinstance(hidden, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) for h in hidden
    ):
        raise SpecError(where, "must be a list of layer widths, e.g. [32, 32]")
    if len(hidden) > MAX_LAYERS or any(not 1 <= h <= MAX_WIDTH for h in hidden):
        raise SpecError(where, f"at most {MAX_LAYERS} layers of 1 to {MAX_WIDTH} units")
    return tuple(hidden)


def _numbers(value: Any, where: str) -> np.ndarray:
    """A rectangular array of finite JSON numbers as float64; booleans, strings, nulls,
    ragged rows and numbers beyond a float's range are refused, not converted."""
    if not isinstance(value, list):
        raise SpecError(where, "must be an array of numbers")
    try:
        cells = np.array(value, dtype=object)
    except ValueError:  # rows of different lengths at different depths
        raise SpecError(where, "must be a rectangular array of numbers") from None
    if cells.size > MAX_VALUES:
        raise SpecError(where, f"at most {MAX_VALUES:,} numbers")
    if not set(map(type, cells.flat)) <= {int, float}:  # bool is not int here: type() is exact
        cell = next(c for c in cells.flat if type(c) not in (int, float))
        shown = "a row of another length" if isinstance(cell, list) else repr(cell)[:40]
        raise SpecError(where, f"must hold numbers only, not {shown}")
    try:
        out = cells.astype(np.float64)
    except OverflowError:
        raise SpecError(where, "holds a number too large for a float") from None
    if not np.all(np.isfinite(out)):
        raise SpecError(where, "must hold finite numbers only")
    return out


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    if y.ndim != 1 or not np.all(y == np.round(y)) or y.min() < 0 or y.max() >= MAX_CLASSES:
        raise SpecError(where, f"must be integer labels 0, 1, ... below {MAX_CLASSES}")
    return y.astype(np.int64)


def _data(
    spec: Mapping[str, Any], where: str, classify: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    data = spec.get("data")
    if not isinstance(data, Mapping) or "x" not in data or "y" not in data:
        raise SpecError(join_field(where, "data"), 'needs {"x": n x d numbers, "y": ...}')
    x = _numbers(data["x"], join_field(where, "data.x"))
    y = _numbers(data["y"], join_field(where, "data.y"))
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) < 2:
        raise SpecError(join_field(where, "data.x"), "must be n x d with n >= 2")
    if x.size + y.size > MAX_VALUES:
        raise SpecError(join_field(where, "data"), f"at most {MAX_VALUES:,} numbers")
    if len(y) != len(x):
        raise SpecError(join_field(where, "data.y"), f"has {len(y)} rows; x has {len(x)}")
    if classify:
        y = _labels(y, join_field(where, "data.y"))
        outputs = int(y.max()) + 1
    else:
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2:
            raise SpecError(join_field(where, "data.y"), "must be n or n x k numbers")
        outputs = y.shape[1]
    return x, y, outputs


def resolve(spec: Mapping[str, Any], where: str = "objective") -> LearningObjective:
    name = spec["name"]
    given = dict(spec.get("params") or {})
    hidden = _layers(
        given.pop("hidden", [32, 32] if name == "sine_regression" else [32]),
        join_field(where, "params.hidden"),
    )
    params = validate_params(PARAMS[name], given, join_field(where, "params"), "parameters")
    classify = name == "classification"
    if name == "sine_regression":
        rng = np.random.default_rng(params["data_seed"])
        x = rng.uniform(-math.pi, math.pi, size=(params["samples"], 1))
        y = np.sin(x) + params["noise"] * rng.standard_normal(x.shape)
        outputs, data_id = 1, f"sine:{params['samples']}:{params['noise']}:{params['data_seed']}"
    else:
        x, y, outputs = _data(spec, where, classify)
        import hashlib

        data_id = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:16]
    train, held_out = _split(x, y, params["validation"], params["data_seed"])
    batch = params["batch_size"]
    if batch is not None and batch > len(train[0]):
        raise SpecError(
            join_field(where, "params.batch_size"),
            f"is larger than the {len(train[0])} training samples",
        )
    layers = (x.shape[1], *hidden, outputs)
    objective = LearningObjective(
        name,
        {"hidden": list(hidden), **params},
        layers,
        train,
        held_out,
        classify,
        batch,
        f"{data_id}:{params['validation']}",
    )
    if objective.dim > MAX_PARAMETERS:
        raise SpecError(
            join_field(where, "params.hidden"),
            f"{objective.dim:,} parameters; at most {MAX_PARAMETERS:,}",
        )
    return objective


def catalog() -> list[dict[str, Any]]:
    out = []
    for name, hypers in PARAMS.items():
        schema = object_schema(hypers)
        schema["properties"]["hidden"] = {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH},
            "maxItems": MAX_LAYERS,
            "default": [32, 32] if name == "sine_regression" else [32],
            "description": HIDDEN_DOC,
        }
        entry = {
            "name": name,
            "summary": SUMMARIES[name],
            "parameters": schema,
            "kind": "learning",
            "stochastic": "with batch_size",
        }
        if name != "sine_regression":
            entry["data"] = {
                "type": "object",
                "required": ["x", "y"],
                "properties": {
                    "x": {"type": "array", "description": "n x d inputs"},
                    "y": {
                        "type": "array",
                        "description": "n targets (or n x k); labels 0..k-1 for classification",
                    },
                },
            }
        out.append(entry)
    return out
