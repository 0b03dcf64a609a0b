"""docker-compose.yml and the Dockerfile: no engine runs here, so check what they run exists."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
VENV_BIN = Path(__import__("sys").executable).parent


def _module_exists(target: str) -> bool:
    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    return not attr or hasattr(mod, attr)


def test_services_and_the_gpu_profile():
    assert set(SERVICES) == {"redis", "api", "worker", "worker-gpu"}
    assert SERVICES["worker-gpu"]["profiles"] == ["gpu"]
    for name in ("api", "worker", "worker-gpu"):
        assert SERVICES[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    redis = SERVICES["redis"]
    assert "--appendonly" in redis["command"] and "noeviction" in redis["command"]
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert any(v.startswith("redis-data:") for v in redis["volumes"])


def test_gpu_worker_reserves_a_gpu_with_cuda_jax_and_no_preallocation():
    gpu = SERVICES["worker-gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["environment"]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert gpu["build"]["args"]["JAX_EXTRA"] == "cuda12"
    assert gpu["command"][gpu["command"].index("-Q") + 1] == "gpu"
    assert SERVICES["worker"]["command"][SERVICES["worker"]["command"].index("-Q") + 1] == "cpu"


def test_every_command_runs_something_that_exists_in_the_project():
    for name in ("api", "worker", "worker-gpu"):
        command = SERVICES[name]["command"]
        assert shutil.which(command[0], path=str(VENV_BIN)), command[0]
        if command[0] == "uvicorn":
            assert _module_exists(command[1])
        if command[0] == "celery":
            assert _module_exists(command[command.index("-A") + 1])
        probe = SERVICES[name].get("healthcheck", {}).get("test", [])
        if "celery" in probe:
            assert _module_exists(probe[probe.index("-A") + 1])


def test_dockerfile_takes_the_base_image_and_copies_what_exists():
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text and "FROM ${BASE_IMAGE}" in text
    for source in re.findall(r"^COPY (.+?) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    cmd = re.search(r'^CMD \["uvicorn", "([^"]+)"', text, re.M).group(1)
    assert _module_exists(cmd)
    build = COMPOSE["x-optserve"]["build"]["args"]["BASE_IMAGE"]
    assert build == "${BASE_IMAGE:-python:3.11-slim}"


def test_redis_requires_the_password_is_never_published_and_workers_scale():
    redis = SERVICES["redis"]
    required = "${OPTSERVE_REDIS_PASSWORD:?"
    assert redis["command"][redis["command"].index("--requirepass") + 1].startswith(required)
    assert redis["environment"]["REDISCLI_AUTH"] == "${OPTSERVE_REDIS_PASSWORD}"
    assert COMPOSE["x-optserve"]["environment"]["OPTSERVE_REDIS_PASSWORD"].startswith(required)
    assert "ports" not in redis
    for name in ("worker", "worker-gpu"):  # `docker compose up --scale worker=n`
        assert "container_name" not in SERVICES[name] and "ports" not in SERVICES[name]
