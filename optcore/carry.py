"""What a group's program carries between calls, the job-wide limits it is given, and what
a call sends back to the host. The leaves are ``jax.Array`` inside a program, numpy arrays
on the host, vmap axes (int) for a Carry's axes."""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeAlias, TypeVar

import jax

from .trees import PyTree

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
NO_SNAPSHOT, VECTOR, FLAT = "none", "vector", "flat"

Leaf = TypeVar("Leaf")


class Carry(NamedTuple, Generic[Leaf]):
    """Per-run state between calls."""

    params: PyTree
    opt_state: PyTree
    key: Leaf
    step: Leaf  # updates applied
    status: Leaf  # RUNNING | CONVERGED | DIVERGED
    diverged_at: Leaf  # step where a non-finite value appeared, -1 if none
    best_loss: Leaf
    best_step: Leaf


class Limits(NamedTuple, Generic[Leaf]):
    """Job-wide stopping rules, traced so that changing them never recompiles."""

    steps: Leaf
    tolerance: Leaf  # on ||x_{t+1} - x_t||
    grad_tolerance: Leaf
    target_loss: Leaf


class Records(NamedTuple, Generic[Leaf]):
    """What a call records every ``stride`` steps and where its runs stand after it, packed
    into few arrays by dtype: each is a transfer to the host, which costs about as much as
    a thousand steps of a small run."""

    series: Leaf  # [B, R, 2 + h]: loss, grad norm (, held-out loss when h = 1)
    valid: Leaf  # [B, R] the run was still going at that step
    params: Leaf  # [B, R, d]: the params (or flattened) when recorded, else d = 0
    finals: Leaf  # [B, 3 + h]: loss, grad norm at the params after the call, best loss (, held-out)
    counters: Leaf  # [B, 4] int32: step, status, diverged_at, best_step (as in Carry)


# what a job's first call starts its runs from: start points [B, d] and keys [B, 2]
Starts: TypeAlias = tuple[jax.Array, jax.Array]
