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
The verdict (``verdict``) holds optserve against hyperopt as hyperopt is held against itself:
with one seed, better in at least as many pairs as worse; with several, also worse in no more
pairs on average than one hyperopt seed is against another.

Only optimizers that torch.optim ships with a matching rule take part (the rest of the gallery
has no torch baseline). ``--optimizers adam,radam --evals 50`` runs a subset.
``--hyperopt-seeds 1,2,3,4`` also runs hyperopt with other seeds and compares each with the
first (seed 1, the gallery's): how often TPE loses to itself at the same budget. ``--jobs 2``
runs hyperopt's searches in two processes; the speed ratio sums each search's own time.
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


def hyperopt_search(
    objective: str, optimizer: str, evals: int, seed: int = 1
) -> tuple[float, float, float]:
    """(best lr, its final loss, its distance) after ``evals`` TPE evaluations (seed 1 is
    the gallery's)."""
    from hyperopt import fmin, hp, tpe

    space = hp.loguniform("lr", math.log(LR_RANGE[0]), math.log(LR_RANGE[1]))
    best = fmin(
        lambda lr: torch_distance(objective, optimizer, lr),
        space,
        algo=tpe.suggest,
        max_evals=evals,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    lr = float(best["lr"])
    return lr, *torch_final(objective, optimizer, lr)


Task = tuple[str, str, int, int]  # objective, optimizer, evaluations, hyperopt seed


def timed_search(task: Task) -> tuple[float, float, float, float]:
    """``hyperopt_search`` of one task, single-threaded, and its wall time (for a pool)."""
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    found = hyperopt_search(*task)
    return (*found, time.perf_counter() - t0)


def searches(tasks: list[Task], jobs: int) -> dict[Task, tuple[float, float, float, float]]:
    """Every task's search, in turn or on ``jobs`` processes."""
    if jobs <= 1:
        return {t: timed_search(t) for t in tasks}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")  # never fork a process that runs JAX
    with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
        return dict(zip(tasks, pool.map(timed_search, tasks), strict=True))


def worse(ours: float, theirs: float) -> bool:
    return ours > theirs * (1 + 1e-6) + 1e-9


def pairings(seeds: list[int]) -> list[tuple[str, int, int]]:
    """Who is held against whom, as indices into [optserve, seeds[0], seeds[1], ...]: optserve
    against each hyperopt seed, and each later seed against the first."""
    out = []
    for i, seed in enumerate(seeds, start=1):
        out.append((f"optserve against seed {seed}", 0, i))
        if i > 1:
            out.append((f"hyperopt seed {seed} against seed {seeds[0]}", i, 1))
    return out


WHAT = ("final loss", "distance")  # the target, and the score both sides tune


def compare(seeds: list[int], sides: list[tuple[float, float]]) -> list[tuple[str, str]]:
    """(who, what) for each comparison of one pair that comes out worse; ``sides`` holds the
    (final loss, distance) of optserve, then of each seed."""
    return [
        (who, what)
        for who, a, b in pairings(seeds)
        for what, o, h in zip(WHAT, sides[a], sides[b], strict=True)
        if worse(o, h)
    ]


def summary(seeds: list[int], labels: list[str], table: list[list[tuple[float, float]]]) -> None:
    """Per comparison (``pairings``) and measure, the pairs (``labels``, the rows of
    ``table``) in which it comes out worse."""
    lost: dict[tuple[str, str], list[str]] = {}
    for label, sides in zip(labels, table, strict=True):
        for who, what in compare(seeds, sides):
            lost.setdefault((who, what), []).append(label)
    for who, _, _ in pairings(seeds):
        for what in WHAT:
            bad = lost.get((who, what), [])
            verdict = "all" if not bad else f"all but {', '.join(bad)}"
            print(f"{who}: {what} no worse in {len(table) - len(bad)} of {len(table)} ({verdict})")


def verdict(seeds: list[int], table: list[list[tuple[float, float]]]) -> bool:
    """Whether optserve's final losses are no worse than hyperopt's, read as a comparison of
    two tuners rather than of two draws: hyperopt's result for a pair depends on its seed (on
    a chaotic pair, more than on the tuner), so optserve is held against hyperopt as hyperopt
    is held against itself. ``table``: per pair, the (final loss, distance) of optserve, then
    of each seed. No worse when, against every seed, optserve is better in at least as many
    pairs as it is worse, and (with two seeds or more) worse in no more pairs on average than
    one hyperopt seed is against another."""
    pairs = len(table)

    def count(a: int, b: int) -> int:
        return sum(worse(sides[a][0], sides[b][0]) for sides in table)

    print(f"\nfinal losses over {pairs} pairs (worse: above by more than a relative 1e-6)")
    ok, lost = True, []
    for i, seed in enumerate(seeds, start=1):
        w, b = count(0, i), count(i, 0)
        lost.append(w)
        ok &= b >= w
        print(f"  optserve against hyperopt seed {seed}: worse in {w}, better in {b}")
    mean = sum(lost) / len(lost)
    line = f"  optserve worse than a hyperopt seed in {mean:.2f} pairs on average"
    if len(seeds) > 1:
        others = [count(i, j) for i in range(1, len(seeds) + 1) for j in range(1, len(seeds) + 1)]
        self_mean = sum(others) / (len(seeds) * (len(seeds) - 1))  # i == j counts 0
        ok &= mean <= self_mean
        line += f"; one hyperopt seed worse than another in {self_mean:.2f} on average"
    print(line)
    judged = "no worse than" if ok else "WORSE than"
    print(f"  verdict: optserve's final losses {judged} hyperopt's")
    return ok


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
    parser.add_argument(
        "--hyperopt-seeds",
        default="1",
        help="hyperopt's seeds (comma-separated); the first is the one raced against, the "
        "others are compared with it too: how often TPE loses to itself at this budget",
    )
    parser.add_argument("--jobs", type=int, default=1, help="processes for hyperopt's searches")
    args = parser.parse_args()
    names = args.optimizers.split(",")
    objectives = args.objectives.split(",")
    seeds = [int(x) for x in args.hyperopt_seeds.split(",")]
    print(
        f"gallery tuning: {len(names)} optimizers, {args.evals} evaluations of {STEPS} steps, "
        f"optserve method {args.method}, hyperopt seeds {seeds}"
    )
    ours_s = warm_s = 0.0
    results = {}
    for objective in objectives:
        t0 = time.perf_counter()
        results[objective] = optcore.run(optserve_job(objective, names, args.evals, args.method))
        ours = time.perf_counter() - t0
        ours_s += ours
        t0 = time.perf_counter()  # again, as a service does: the compiled programs are cached
        optcore.run(optserve_job(objective, names, args.evals, args.method))
        warm = time.perf_counter() - t0
        warm_s += warm
        rounds = results[objective]["runs"][0]["tuning"]["rounds"]
        print(
            f"{objective}: optserve {ours:.1f} s cold (search "
            f"{results[objective]['timing']['search_ms'] / 1e3:.1f} s, compile included), "
            f"{warm:.2f} s warm; {len(rounds)} rounds of "
            f"{'/'.join(str(r['candidates']) for r in rounds)} candidates per optimizer, "
            f"programs compiled per round {[r['programs_compiled'] for r in rounds]}"
        )
    tasks = [(o, n, args.evals, seed) for seed in seeds for o in objectives for n in names]
    found = searches(tasks, args.jobs)
    theirs_s = sum(found[(o, n, args.evals, seeds[0])][3] for o in objectives for n in names)
    labels, table = [], []  # per pair: its name; (final loss, distance) of optserve, each seed
    for objective in objectives:
        _, minimum = OBJECTIVES[objective]
        print(f"\n{objective} (hyperopt seed {seeds[0]}; other seeds: final loss, distance)")
        print(
            f"  {'optimizer':<10s} {'lr ours':>10s} {'loss ours':>10s} {'dist ours':>10s} "
            f"{'lr hyperopt':>12s} {'loss hyperopt':>14s} {'dist hyperopt':>14s} "
            f"{'hyperopt s':>11s}"
        )
        for run in results[objective]["runs"]:
            name = run["optimizer"]
            loss_o = math.inf if run["final"]["loss"] is None else run["final"]["loss"]
            dist_o = distance_to_minima(run["final"]["params"], [minimum])
            lr_o = (run["tuning"]["chosen"] or {}).get("learning_rate", float("nan"))
            per_seed = [found[(objective, name, args.evals, seed)] for seed in seeds]
            sides = [(loss_o, dist_o)] + [(loss, dist) for _, loss, dist, _ in per_seed]
            labels.append(f"{objective}/{name}")
            table.append(sides)
            lr_h, loss_h, dist_h, secs = per_seed[0]
            others = "  ".join(f"{loss:.3g}/{dist:.3g}" for loss, dist in sides[2:])
            print(
                f"  {name:<10s} {lr_o:10.3g} {loss_o:10.3g} {dist_o:10.3g} {lr_h:12.3g} "
                f"{loss_h:14.3g} {dist_h:14.3g} {secs:11.1f}  {others}"
            )
    print(
        f"\noptserve {ours_s:.1f} s cold, {warm_s:.2f} s warm; hyperopt + torch {theirs_s:.1f} s "
        f"(seed {seeds[0]}, each search on one thread): {theirs_s / ours_s:.0f}x (cold), "
        f"{theirs_s / warm_s:.0f}x (warm) faster, same budget"
    )
    summary(seeds, labels, table)
    verdict(seeds, table)


if __name__ == "__main__":
    main()
