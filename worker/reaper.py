"""The reaper: hands out again the running units (jobs, or shards of a sharded job) whose
process is gone.

A running unit's lease lives only while its heartbeat renews it. Every worker runs a reaper
thread (in the Celery main process, which never runs jobs); a Redis lock lets one sweep happen
per period across all of them. A unit whose lease lapsed goes back to the queue with a new
message (a lost shard alone: the others run on), or its job fails (``worker_lost`` or
``time_limit``) once the unit has had its attempts.
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
Send = Callable[[str, str], None]  # (unit, queue): publish the message that runs it


def sweep(store: JobStore, settings: Settings, send: Send, who: str) -> dict[str, list[str]]:
    """One pass over the running units, if it is this worker's turn: what happened to each."""
    done: dict[str, list[str]] = {}
    if not store.take_reaper_turn(who, settings.reaper_interval * 0.9):
        return done
    for unit in store.running_units():
        outcome, queue = store.requeue_if_lost(unit, settings.max_attempts)
        if outcome in ("alive", "gone"):
            continue
        done.setdefault(outcome, []).append(unit)
        if outcome == "requeued":
            log.warning("%s lost its process: requeued on %s", unit, queue)
            send(unit, queue or settings.queue)
        else:
            log.warning("%s lost its process: %s", unit, outcome)
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
