"""Configuration of the whole stack, from ``OPTSERVE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DAY = 24 * 3600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPTSERVE_", env_ignore_empty=True, extra="ignore")

    data: Path = Field(Path(".optserve"), description="Redis data, logs, compile cache")
    host: str = "127.0.0.1"
    port: int = 8000
    redis_port: int = 6380
    redis_url: str | None = Field(None, description="default: redis://127.0.0.1:<redis_port>/0")

    queue: str = Field("cpu", description="queue this worker consumes and the API sends to")
    worker_concurrency: int = 1
    chunk_seconds: float = Field(1.0, gt=0, description="seconds of work between progress reports")
    compile_cache_size: int = Field(256, ge=1, description="compiled group programs kept in memory")
    warmup: bool = Field(True, description="compile the common programs when a pool child starts")
    worker_max_memory_mb: int = Field(
        4096, ge=0, description="a pool child over this resident size is replaced; 0: never"
    )
    task_soft_time_limit: int = 3300
    task_time_limit: int = 3600
    visibility_timeout: int | None = Field(None, description="default: time limit + 300 s")
    restore_interval: int = Field(10, description="seconds between unacked-message sweeps")
    restore_throttle: int = Field(10, description="scan on every n-th sweep")
    job_lease: float = Field(
        15, gt=0, description="seconds a running job's lease lives unless its heartbeat renews it"
    )
    max_attempts: int = Field(3, ge=1, description="a job whose process is lost this often fails")
    reaper_interval: float = Field(
        5, gt=0, description="seconds between sweeps for running jobs whose lease expired"
    )
    metrics_token: str = Field("", description="bearer token that shows per-key metrics")

    result_ttl: int = Field(7 * DAY, description="seconds a result is kept")
    idempotency_ttl: int = Field(DAY, description="seconds an Idempotency-Key is remembered")
    compress_min_bytes: int = 64 * 1024

    api_keys: str = Field("", description="comma-separated API keys; empty: no auth")
    max_body_bytes: int = 2 * 1024 * 1024
    max_run_steps: int = Field(2_000_000_000, description="limit on runs x steps per job")
    # Sharded sweeps (worker.shards). A job with more than 4,096 runs (what one program
    # takes) is always sharded, 4,096 runs a shard. By runs x steps, the default is the
    # admission limit: a job that one worker could run before is not split, as a single
    # worker gains nothing from shards. With several workers, lower it: 1e8 is about a
    # second of a 2-D test function's work here per shard, a shard's fixed costs (parsing
    # its runs, a compile per new run bucket, storing its part) a fraction of that.
    shard_run_steps: int = Field(
        2_000_000_000, ge=1, description="runs x steps above which a job is split into shards"
    )
    max_shards: int = Field(64, ge=2, description="shards of one job at most")
    batch_max_runs: int = Field(
        256,
        ge=1,
        description="runs of queued jobs of one structure run as one program; 1: no batching",
    )
    max_sharded_runs: int = Field(
        65_536, ge=1, description="runs (after sweeps) of a sharded job; 4,096 otherwise"
    )
    # Admission by cost (optcore.cost), sized to a 2-core, 24 GB machine: a result of about
    # 200 MB of JSON (under 1 GB in the worker while it is built), parameters with optimizer
    # state of about half a GB, and a few minutes of compute.
    max_recorded_values: int = Field(
        10_000_000, description="per job: numbers recorded (about 200 MB of JSON)"
    )
    max_parameters: int = Field(10_000_000, description="per job: runs x parameters")
    max_job_flops: float = Field(1e13, description="per job: estimated floating-point operations")
    max_active_jobs: int = Field(100, description="per key: jobs queued or running; 0: none")
    submissions_per_minute: int = Field(600, description="per key; 0: no limit")
    page_size: int = 20
    max_page_size: int = 100
    jax_cache_dir: Path | None = Field(None, description="default: <data>/jax-cache")

    # Redis shared by hosts: AUTH (requirepass or an ACL user) and TLS (rediss:// URLs).
    redis_password: str | None = Field(None, repr=False, description="AUTH password")
    redis_username: str | None = Field(None, description="ACL user; default: Redis's default")
    redis_ssl_cert_reqs: Literal["required", "optional", "none"] = Field(
        "required", description="rediss:// only: how the server certificate is checked"
    )
    redis_ssl_ca_certs: Path | None = Field(None, description="rediss:// only: CA bundle")
    # Placement and worker presence (see worker.presence and api.placement).
    gpu_min_run_steps: int = Field(
        10_000_000, ge=0, description="device auto: runs x steps from which a GPU is used"
    )
    presence_ttl: int = Field(15, ge=2, description="a silent worker is gone after this (s)")

    @property
    def broker_url(self) -> str:
        """The Redis URL every client uses (broker, store, events, presence), with the
        credentials and TLS options of these settings when the URL does not carry its own."""
        url = self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        return redis_url_with(
            url,
            self.redis_username,
            self.redis_password,
            self.redis_ssl_cert_reqs,
            self.redis_ssl_ca_certs,
        )

    @property
    def visibility(self) -> int:
        return self.visibility_timeout or self.task_time_limit + 300

    @property
    def compile_cache(self) -> Path:
        return self.jax_cache_dir or self.data / "jax-cache"

    @property
    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]


def redis_url_with(
    url: str,
    username: str | None,
    password: str | None,
    cert_reqs: str = "required",
    ca_certs: Path | None = None,
) -> str:
    """``url`` with credentials and, for rediss://, TLS options in its query: both redis-py
    and kombu (Celery's broker) read ``ssl_cert_reqs`` and ``ssl_ca_certs`` from there."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if password and "@" not in netloc:
        user = quote(username, safe="") if username else ""
        netloc = f"{user}:{quote(password, safe='')}@{netloc}"
    query = parts.query
    if parts.scheme == "rediss":
        options = [] if "ssl_cert_reqs=" in query else [f"ssl_cert_reqs={cert_reqs}"]
        if ca_certs is not None and "ssl_ca_certs=" not in query:
            options.append(f"ssl_ca_certs={quote(str(ca_certs), safe='/')}")
        query = "&".join(filter(None, [query, *options]))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@lru_cache
def get_settings() -> Settings:
    return Settings()
