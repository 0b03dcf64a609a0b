"""The gallery's tuning, optserve against hyperopt + a torch loop, same budget, same process.

pytorch-optimizer's gallery tunes each optimizer's learning rate with hyperopt (TPE): every
evaluation is a Python loop of torch steps. Here both sides get the same budget per optimizer
and objective: ``--evals`` evaluations (default 200) of 500 steps from the gallery's starts,
scored by the final distance to the minimum, lr in [1e-5, 10] (log scale). optserve does all
optimizers' candidates of one objective as one tuned job (``refine``: ten rounds of 20, a
coarse grid then finer grids around the best so far, each round one vmapped program; compile
included); hyperopt runs its sequential TPE loop. Prints the wall-time ratio and, per
optimizer, the final loss and distance each side's best learning rate reaches (lower is
better): the target is final losses no worse; the distance is what both sides tune for.

Only optimizers that torch.optim ships with a matching rule take part (the rest of the gallery
has no torch baseline). ``--optimizers adam,radam --evals 50`` runs a subset.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

import optcore
from optcore.tune import distance_to_minima

STEPS = 500
METHOD = "refine"  # a coarse grid, then finer grids around the best, round by round
LR_RANGE = (1e-5, 10.0)
OBJECTIVES = {"rosenbrock": ([-2.0, 2.0], [1.0, 1.0]), "rastrigin": ([-2.0, 3.5], [0.0, 0.0])}
# ours (name, hyperparameters) -> torch.optim (class, arguments)
PAIRS: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "gd": ({}, "SGD", {}),
    "momentum": ({}, "SGD", {"momentum": 0.9}),
    "nesterov": ({}, "SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ({}, "Adagrad", {}),
    "rmsprop": ({"initial": "zero"}, "RMSprop", {"alpha": 0.9}),
    "adam": ({}, "Adam", {}),
    "adamw": ({}, "AdamW", {}),
    "radam": ({}, "RAdam", {}),
    "adamax": ({}, "Adamax", {}),
    "nadam": ({}, "NAdam", {}),
}


def torch_objective(name: str):  # noqa: ANN201 - torch is imported lazily
    import torch

    if name == "rosenbrock":
        return lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    return lambda x: 20 + torch.sum(x**2 - 10 * torch.cos(2 * math.pi * x))


def torch_final(objective: str, optimizer: str, lr: float) -> tuple[float, float]:
    """STEPS torch steps from the gallery's start: (final loss, final distance to the
    minimum); non-finite values as 1e10."""
    import torch

    start, minimum = OBJECTIVES[objective]
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    _, cls, args = PAIRS[optimizer]
    opt = getattr(torch.optim, cls)([x], lr=lr, **args)
    f = torch_objective(objective)
    for _ in range(STEPS):
        opt.zero_grad()
        f(x).backward()
        opt.step()
    with torch.no_grad():
        loss = float(f(x))
        d = float(torch.linalg.norm(x - torch.tensor(minimum, dtype=torch.float64)))
    return (loss if math.isfinite(loss) else 1e10), (d if math.isfinite(d) else 1e10)


def torch_distance(objective: str, optimizer: str, lr: float) -> float:
    """One hyperopt evaluation: the final distance to the minimum (the gallery's score)."""
    return torch_final(objective, optimizer, lr)[1]


def hyperopt_search(objective: str, optimizer: str, evals: int) -> tuple[float, float, float]:
    """(best lr, its final loss, its distance) after ``evals`` TPE evaluations (seeded like
    the gallery's)."""
    from hyperopt import fmin, hp, tpe

    space = hp.loguniform("lr", math.log(LR_RANGE[0]), math.log(LR_RANGE[1]))
    best = fmin(
        lambda lr: torch_distance(objective, optimizer, lr),
        space,
        algo=tpe.suggest,
        max_evals=evals,
        rstate=np.random.default_rng(1),
        show_progressbar=False,
    )
    lr = float(best["lr"])
    return lr, *torch_final(objective, optimizer, lr)


def optserve_job(
    objective: str, names: list[str], evals: int, method: str = METHOD
) -> dict[str, Any]:
    start, _ = OBJECTIVES[objective]
    return {
        "objective": {"name": objective},
        "init": {"point": start},
        "steps": STEPS,
        "dtype": "float64",
        "runs": [
            {
                "optimizer": name,
                "hyperparameters": PAIRS[name][0],
                "tune": {
                    "learning_rate": {"log_uniform": list(LR_RANGE)},
                    "candidates": evals,
                    "steps": STEPS,
                    "score": "distance_to_minimum",
                    "method": method,
                },
            }
            for name in names
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", default=",".join(PAIRS))
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--method", default=METHOD, choices=["refine", "grid", "random"])
    args = parser.parse_args()
    names = args.optimizers.split(",")
    print(
        f"gallery tuning: {len(names)} optimizers, {args.evals} evaluations of {STEPS} steps, "
        f"optserve method {args.method}"
    )
    ours_s = theirs_s = warm_s = 0.0
    worse: dict[str, list[str]] = {"final losses": [], "final distances": []}
    for objective in args.objectives.split(","):
        t0 = time.perf_counter()
        result = optcore.run(optserve_job(objective, names, args.evals, args.method))
        ours = time.perf_counter() - t0
        ours_s += ours
        t0 = time.perf_counter()  # again, as a service does: the compiled programs are cached
        optcore.run(optserve_job(objective, names, args.evals, args.method))
        warm = time.perf_counter() - t0
        warm_s += warm
        _, minimum = OBJECTIVES[objective]
        search_s = result["timing"]["search_ms"] / 1e3
        rounds = result["runs"][0]["tuning"]["rounds"]
        print(
            f"\n{objective}: optserve {ours:.1f} s cold (search {search_s:.1f} s, "
            f"compile included), {warm:.2f} s warm; {len(rounds)} rounds of "
            f"{'/'.join(str(r['candidates']) for r in rounds)} candidates per optimizer, "
            f"programs compiled per round {[r['programs_compiled'] for r in rounds]}"
        )
        print(
            f"  {'optimizer':<10s} {'lr ours':>10s} {'loss ours':>10s} {'dist ours':>10s} "
            f"{'lr hyperopt':>12s} {'loss hyperopt':>14s} {'dist hyperopt':>14s} "
            f"{'hyperopt s':>11s}"
        )
        for run in result["runs"]:
            name = run["optimizer"]
            t1 = time.perf_counter()
            lr_h, loss_h, dist_h = hyperopt_search(objective, name, args.evals)
            theirs = time.perf_counter() - t1
            theirs_s += theirs
            dist_o = distance_to_minima(run["final"]["params"], [minimum])
            lr_o = (run["tuning"]["chosen"] or {}).get("learning_rate", float("nan"))
            loss_o = run["final"]["loss"]
            loss_o = math.inf if loss_o is None else loss_o
            compared = (("final losses", loss_o, loss_h), ("final distances", dist_o, dist_h))
            for what, o, h in compared:
                if o > h * (1 + 1e-6) + 1e-9:
                    worse[what].append(f"{objective}/{name}")
            print(
                f"  {name:<10s} {lr_o:10.3g} {loss_o:10.3g} {dist_o:10.3g} {lr_h:12.3g} "
                f"{loss_h:14.3g} {dist_h:14.3g} {theirs:11.1f}"
            )
    print(
        f"\noptserve {ours_s:.1f} s cold, {warm_s:.2f} s warm; hyperopt + torch {theirs_s:.1f} s: "
        f"{theirs_s / ours_s:.0f}x (cold), {theirs_s / warm_s:.0f}x (warm) faster, same budget"
    )
    pairs = len(names) * len(args.objectives.split(","))
    for what, pairs_worse in worse.items():  # losses: the target; distances: the tuning score
        verdict = "all" if not pairs_worse else f"all but {', '.join(pairs_worse)}"
        print(f"{what} no worse than hyperopt's: {pairs - len(pairs_worse)} of {pairs} ({verdict})")


if __name__ == "__main__":
    main()
