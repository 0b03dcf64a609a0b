"""The reaper: hands out again the running jobs whose process is gone.

A running job's lease lives only while its heartbeat renews it. Every worker runs a reaper
thread (in the Celery main process, which never runs jobs); a Redis lock lets one sweep happen
per period across all of them. A job whose lease lapsed goes back to the queue with a new
message, or fails (``worker_lost`` or ``time_limit``) once it has had its attempts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

import redis

from .settings import Settings
from .store import JobStore

log = logging.getLogger("optserve.reaper")
Send = Callable[[str, str], None]  # (job id, queue): publish a run_job message


def sweep(store: JobStore, settings: Settings, send: Send, who: str) -> dict[str, list[str]]:
    """One pass over the running jobs, if it is this worker's turn: what happened to each."""
    done: dict[str, list[str]] = {}
    if not store.take_reaper_turn(who, settings.reaper_interval * 0.9):
        return done
    for job_id in store.running_jobs():
        outcome, queue = store.requeue_if_lost(job_id, settings.max_attempts)
        if outcome in ("alive", "gone"):
            continue
        done.setdefault(outcome, []).append(job_id)
        if outcome == "requeued":
            log.warning("job %s lost its process: requeued on %s", job_id, queue)
            send(job_id, queue or settings.queue)
        else:
            log.warning("job %s lost its process: %s", job_id, outcome)
    return done


class Reaper(threading.Thread):
    """Sweeps at start, then every ``settings.reaper_interval`` seconds, until stopped."""

    def __init__(self, store: JobStore, settings: Settings, send: Send):
        super().__init__(name="optserve-reaper", daemon=True)
        self.store, self.settings, self.send = store, settings, send
        self.who = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                sweep(self.store, self.settings, self.send, self.who)
            except (redis.RedisError, OSError) as exc:  # Redis away: sweep again later
                log.warning("reaper: %s", exc)
            except Exception:  # noqa: BLE001 - the reaper outlives any one bad sweep
                log.exception("reaper sweep failed")
            if self.stopping.wait(self.settings.reaper_interval):
                return

    def stop(self) -> None:
        self.stopping.set()
