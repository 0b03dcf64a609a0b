"""A warm pool child: JAX configured once, and the common programs compiled in the
background, never ahead of a real job: the warm-up compiles one program at a time and waits
while a job runs. Common means each seed optimizer on a 2-D objective in the two layouts most
jobs use: the README's Figure-1 race (every 10th step, a tolerance, a grid landscape) and the
default records (every step).

Runs only in pool children (Celery's ``worker_process_init``), never in the Celery parent.
"""

from __future__ import annotations

import logging
import threading

from .settings import Settings

log = logging.getLogger("optserve.worker")
WARM_OBJECTIVE = {"name": "rosenbrock"}
WARM_STEPS = 1000
WARM_LAYOUTS: tuple[dict, ...] = (
    {
        "stopping": {"tolerance": 1e-9},
        "record": {"every": 10, "landscape": {"resolution": 101, "bounds": [[-2, 2], [-1, 3]]}},
    },
    {},  # the defaults: every step recorded, no stopping rule, no landscape
)


def configure_jax(settings: Settings) -> None:
    """The persistent compilation cache under OPTSERVE_DATA, every program in it (a
    restarted worker then loads instead of compiling), and the in-memory cache size."""
    import jax

    from optcore.compiled import CACHE

    settings.compile_cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(settings.compile_cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    CACHE.resize(settings.compile_cache_size)


def warm_jobs() -> list[dict]:
    from optcore.optimizers.seed_catalog import ENTRIES as SEED_ENTRIES

    return [
        {
            "objective": WARM_OBJECTIVE,
            "runs": [{"optimizer": e.name}],
            "steps": WARM_STEPS,
            **layout,
        }
        for layout in WARM_LAYOUTS
        for e in SEED_ENTRIES
    ]


def warm(jobs: list[dict], stop: threading.Event | None = None) -> int:
    """Compile the programs of ``jobs`` (their groups), a job's worth at a time and only
    while no real job runs; return how many XLA programs it compiled."""
    from optcore import SpecError
    from optcore.compiled import PRIORITY, CompileCount, counting
    from optcore.runner import JobRunner
    from optcore.spec import parse_job

    count = CompileCount()
    for doc in jobs:
        if stop is not None and stop.is_set():
            break
        PRIORITY.wait_idle()
        try:
            runner = JobRunner(parse_job(doc))
        except SpecError:  # an optimizer that needs more than its defaults: not common
            continue
        for _ in runner.chunks():  # a short run: its programs, the landscape's too
            pass
        count.add(runner.count)
        for group in runner.groups:  # and the exact path, which a stopping rule or a
            PRIORITY.wait_idle()  # divergence needs: else a first job waits for it
            with counting(count):
                group.compiled.exact()
    return count.programs


def start(settings: Settings) -> threading.Thread | None:
    """Configure JAX in this pool child and start the warm-up thread."""
    configure_jax(settings)
    if not settings.warmup:
        return None

    def run() -> None:
        from optcore.compiled import PRIORITY, settle

        try:
            compiled = warm(warm_jobs())
            log.info("warm-up compiled %d programs", compiled)
            PRIORITY.wait_idle()
            settle()  # else the first jobs pay for collecting the warm-up's objects
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the first job time
            log.exception("warm-up failed")

    thread = threading.Thread(target=run, name="optserve-warmup", daemon=True)
    thread.start()
    return thread
