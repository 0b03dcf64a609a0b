"""Compiled programs shared by jobs: an LRU of executables per group structure.

A job never compiles what another job (or the warm-up) compiled or is compiling: the cache
hands out one build per key, and a second asker waits for the first. What each job compiled
is counted with JAX's own monitoring events, per thread, so a warm-up compiling beside a job
is never counted as the job's.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jax
from jax.stages import Compiled

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
PERSISTENT_HIT = "/jax/compilation_cache/cache_hits"
PERSISTENT_MISS = "/jax/compilation_cache/cache_misses"
DEFAULT_CACHE_SIZE = 256


@dataclass
class CompileCount:
    """What one job (or one warm-up) made XLA do."""

    requests: int = 0  # programs handed to XLA (JAX times loads from disk as compiles too)
    disk_hits: int = 0  # programs loaded from the persistent compilation cache
    disk_misses: int = 0

    @property
    def programs(self) -> int:
        """XLA programs compiled here: neither in memory nor on disk."""
        return max(0, self.requests - self.disk_hits)

    def add(self, other: CompileCount) -> None:
        self.requests += other.requests
        self.disk_hits += other.disk_hits
        self.disk_misses += other.disk_misses


_local = threading.local()
_unsettled = threading.Event()  # a program was compiled (or loaded) since the last settle()
# Background compilation (exact paths for later jobs): joined at exit, never killed mid-way.
_BACKGROUND = ThreadPoolExecutor(1, thread_name_prefix="optcore-compile")
_listening = False
_listen_lock = threading.Lock()


def _on_duration(event: str, duration_secs: float, **kwargs: str | int) -> None:
    if event != BACKEND_COMPILE:
        return
    _unsettled.set()
    count = getattr(_local, "count", None)
    if count is not None:
        count.requests += 1


def _on_event(event: str, **kwargs: str | int) -> None:
    count = getattr(_local, "count", None)
    if count is None:
        return
    if event == PERSISTENT_HIT:
        count.disk_hits += 1
    elif event == PERSISTENT_MISS:
        count.disk_misses += 1


def _listen() -> None:
    global _listening
    with _listen_lock:
        if not _listening:
            jax.monitoring.register_event_duration_secs_listener(_on_duration)
            jax.monitoring.register_event_listener(_on_event)
            _listening = True


@contextmanager
def counting(count: CompileCount) -> Iterator[CompileCount]:
    """Adds to ``count`` what XLA compiles on this thread inside the block."""
    _listen()
    outer = getattr(_local, "count", None)
    _local.count = count
    try:
        yield count
    finally:
        _local.count = outer


@dataclass
class Entry:
    """A group's compiled programs and what the host loop learnt about their speed."""

    blank: Any  # the CallState a fresh call passes: zeros, on the device, shared by every job
    fast: Compiled
    exact_build: Callable[[], Compiled]
    seconds_per_block: float | None = None  # measured on the first calls, for chunk sizes
    _exact: Future[Compiled] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare_exact(self) -> None:
        """Compile the exact path in the background (a later job may need it)."""
        with self._lock:
            if self._exact is None:
                self._exact = _BACKGROUND.submit(self.exact_build)

    @property
    def exact_ready(self) -> bool:
        """The exact path is compiled (asking for it will not wait)."""
        with self._lock:
            return self._exact is not None and self._exact.done()

    def exact(self) -> Compiled:
        """The exact path, compiled the first time a call needs it (or waited for)."""
        with self._lock:
            if self._exact is None:
                self._exact = Future()
                owner = True
            else:
                owner = False
        if owner:
            try:
                self._exact.set_result(self.exact_build())
            except BaseException as exc:
                self._exact.set_exception(exc)
                self._exact = None
                raise
        return self._exact.result()


def settle() -> bool:
    """Between jobs, after one that compiled: the garbage of compiling collected now, and
    what survives it (programs, traces, JAX's caches: as long-lived as the process) kept out
    of the collector's later passes. Otherwise a full pass over them falls inside a later
    job: 150,000 objects after a Figure-1 job, a 56 ms pause that made a follow-up sweep
    of 40 ms take 100-160. What one settle froze is unfrozen and collected again at the
    next, so cycles let go of since (an evicted program's) are freed then. Returns whether
    it ran: only when a program was compiled or loaded since the last time."""
    _listen()
    if not _unsettled.is_set():
        return False
    _unsettled.clear()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return True


def wait_background() -> None:
    """Block until the background compilations queued so far are done."""
    _BACKGROUND.submit(lambda: None).result()


class ProgramCache:
    """Least recently used programs, at most ``size``; one build per key at a time."""

    def __init__(self, size: int = DEFAULT_CACHE_SIZE):
        self.size = size
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._building: dict[Hashable, Future[Entry]] = {}
        self._lock = threading.Lock()

    def resize(self, size: int) -> None:
        with self._lock:
            self.size = max(1, size)
            self._evict()

    def _evict(self) -> None:
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries or key in self._building

    def cached(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def claim(self, key: Hashable) -> Future[Entry] | None:
        """``None`` when the caller is to build ``key`` (then ``fill`` it, or ``release``
        it), else the future of its entry: known, or being built elsewhere. Claimed before
        the caller traces the program, so that a job asking meanwhile waits for this build
        instead of making its own."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                known: Future[Entry] = Future()
                known.set_result(entry)
                return known
            pending = self._building.get(key)
            if pending is not None:
                return pending
            self._building[key] = Future()
            return None

    def fill(self, key: Hashable, build: Callable[[], Entry]) -> Entry:
        """Build the entry of a claimed ``key``; whoever waits for it gets it (or the error)."""
        with self._lock:
            pending = self._building[key]
        try:
            entry = build()
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._building.pop(key, None)
        with self._lock:
            self._entries[key] = entry
            self._evict()
        pending.set_result(entry)
        return entry

    def release(self, keys: Iterable[Hashable]) -> None:
        """Claims of ``keys`` never filled (an error before their build): their waiters
        get an error rather than waiting for ever."""
        with self._lock:
            abandoned = [self._building.pop(k) for k in keys if k in self._building]
        for pending in abandoned:
            pending.set_exception(RuntimeError("the program's build was abandoned"))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = ProgramCache()


class Priority:
    """Real jobs first: background compilation waits while any job runs."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = threading.Condition()

    def job(self) -> Priority:
        """``with PRIORITY.job():`` around a real job's compiling and running."""
        return self

    def __enter__(self) -> None:
        with self._idle:
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)


PRIORITY = Priority()
