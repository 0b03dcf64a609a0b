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


class CallState(NamedTuple, Generic[Leaf]):
    """What the runner keeps of a group between calls, from which a call rebuilds its
    ``Carry`` (``Program.call``): the counters and finals are the previous call's
    ``Records`` (the best loss is ``finals[:, 2]``), and the runs' keys are their start
    keys, which never change."""

    params: PyTree
    opt_state: PyTree
    counters: Leaf  # [B, 4] int32: step, status, diverged_at, best_step
    finals: Leaf  # [B, 3 + h]: loss, grad norm, best loss (, held-out)


class Limits(NamedTuple, Generic[Leaf]):
    """Job-wide stopping rules, traced so that changing them never recompiles."""

    steps: Leaf
    tolerance: Leaf  # on ||x_{t+1} - x_t||
    grad_tolerance: Leaf
    target_loss: Leaf


class Records(NamedTuple, Generic[Leaf]):
    """What a call records every ``stride`` steps and where its runs stand after it. The
    recorded values are columns, a buffer each (``Program._recorded`` says why)."""

    series: tuple[Leaf, ...]  # [B, R] each: loss, grad norm (, held-out loss)
    valid: Leaf  # [B] int32: how many of the slots are valid (a prefix: the run was going)
    # the params when recorded: a vector's coordinates, [B, R] each; flattened (for a
    # landscape plane), one [B, R, d]; else none
    params: tuple[Leaf, ...]
    finals: Leaf  # [B, 3 + h]: loss, grad norm at the params after the call, best loss (, held-out)
    counters: Leaf  # [B, 4] int32: step, status, diverged_at, best_step (as in Carry)


# what a job's first call starts its runs from: start points [B, d] and keys [B, 2]
Starts: TypeAlias = tuple[jax.Array, jax.Array]
