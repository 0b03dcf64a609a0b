"""Resolved optimizer configs as frozen, hashable values.

``resolve`` returns a plain dict (it goes into result documents as it is). Where a config is
an identity (the runner's groups of runs sharing one optimizer structure, the compile cache's
key), ``freeze`` makes it a ``FrozenConfig``: an immutable mapping, nested configs frozen too
and lists made tuples, hashed once. It is a ``Mapping``, so ``build`` and ``traced_paths`` take
it as they take the dict.

Equality is exact about types as a JSON dump is: ``1``, ``1.0`` and ``True`` are three values
(Python's own ``==`` would make them one, and they build different programs).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any, Union

Path = tuple[str, ...]
Leaf = str | int | float | bool | None
Frozen = Union["FrozenConfig", tuple["Frozen", ...], Leaf]
TRACED = "<traced>"  # what ``blank`` puts where a number is traced


class FrozenConfig(Mapping[str, Frozen]):
    """An immutable, hashable optimizer config. Build it with ``freeze``."""

    __slots__ = ("_fields", "_identity", "_hash")

    def __init__(self, fields: Mapping[str, Frozen]) -> None:
        self._fields: dict[str, Frozen] = dict(sorted(fields.items()))
        self._identity = ("config", tuple((k, _identity(v)) for k, v in self._fields.items()))
        self._hash = hash(self._identity)

    def __getitem__(self, key: str) -> Frozen:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrozenConfig):
            return NotImplemented
        return self._hash == other._hash and self._identity == other._identity

    def __repr__(self) -> str:
        return f"FrozenConfig({self._fields!r})"

    def __reduce__(self) -> tuple[type[FrozenConfig], tuple[dict[str, Frozen]]]:
        # rebuilt, not copied: str hashes differ between processes (PYTHONHASHSEED)
        return FrozenConfig, (self._fields,)

    def at(self, path: Path) -> Frozen:
        """The value at ``path`` (("hyperparameters", "learning_rate"))."""
        value: Frozen = self
        for part in path:
            if not isinstance(value, FrozenConfig):
                raise KeyError(path)
            value = value[part]
        return value

    def blank(self, paths: Collection[Path], marker: str = TRACED) -> FrozenConfig:
        """The config with the values at ``paths`` replaced by ``marker``: its structure, the
        same for every config that differs only in those values. Built in one pass, each
        nested config once: rebuilding per path rehashed the whole config each time."""
        if not paths:
            return self
        below: dict[str, list[Path]] = {}
        for head, *rest in paths:
            below.setdefault(head, []).append(tuple(rest))
        fields = dict(self._fields)
        for head, rests in below.items():
            inner = fields[head]
            if not all(rests):  # the whole value is traced
                fields[head] = marker
            elif isinstance(inner, FrozenConfig):
                fields[head] = inner.blank(rests, marker)
            else:
                raise KeyError((head, *rests[0]))
        return FrozenConfig(fields)

    def fill(self, values: Mapping[Path, Any]) -> dict[str, Any]:
        """A plain dict of the config with ``values`` (traced arrays, say) at their paths."""
        return _thaw_config(self, (), values)

    def thaw(self) -> dict[str, Any]:
        """The plain dict (tuples back to lists), as ``resolve`` returned it."""
        return _thaw_config(self, (), {})


def freeze(config: Mapping[str, Any]) -> FrozenConfig:
    """The frozen copy of a resolved config. Raises TypeError on a value that is not JSON-like
    (an array, a transformation): such a config has no identity to hash."""
    if isinstance(config, FrozenConfig):
        return config
    return FrozenConfig({_key(k): _freeze_value(v) for k, v in config.items()})


def thaw(config: FrozenConfig) -> dict[str, Any]:
    return config.thaw()


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"config keys are strings, not {key!r}")
    return key


def _freeze_value(value: Any) -> Frozen:
    if isinstance(value, Mapping):
        return freeze(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze_value(v) for v in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot freeze {type(value).__name__} in an optimizer config: {value!r}")


def _identity(value: Frozen) -> object:
    """What equality compares: each leaf with its type, so that 1, 1.0 and True differ."""
    if isinstance(value, FrozenConfig):
        return value._identity
    if isinstance(value, tuple):
        return ("list", tuple(_identity(v) for v in value))
    return (type(value).__name__, value)


def _thaw_config(config: FrozenConfig, path: Path, values: Mapping[Path, Any]) -> dict[str, Any]:
    return {k: _thaw(v, (*path, k), values) for k, v in config.items()}


def _thaw(value: Frozen, path: Path, values: Mapping[Path, Any]) -> Any:
    if path in values:
        return values[path]
    if isinstance(value, FrozenConfig):
        return _thaw_config(value, path, values)
    if isinstance(value, tuple):
        return [_thaw(v, path, values) for v in value]
    return value
