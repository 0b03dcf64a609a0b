"""Configuration of the whole stack, from ``OPTSERVE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    job_lease: int = Field(120, description="a running job's lock expires after this")

    result_ttl: int = Field(7 * DAY, description="seconds a result is kept")
    idempotency_ttl: int = Field(DAY, description="seconds an Idempotency-Key is remembered")
    compress_min_bytes: int = 64 * 1024

    api_keys: str = Field("", description="comma-separated API keys; empty: no auth")
    max_body_bytes: int = 2 * 1024 * 1024
    max_run_steps: int = Field(2_000_000_000, description="limit on runs x steps per job")
    max_active_jobs: int = Field(100, description="per key: jobs queued or running; 0: none")
    submissions_per_minute: int = Field(600, description="per key; 0: no limit")
    page_size: int = 20
    max_page_size: int = 100
    jax_cache_dir: Path | None = Field(None, description="default: <data>/jax-cache")

    @property
    def broker_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def visibility(self) -> int:
        return self.visibility_timeout or self.task_time_limit + 300

    @property
    def compile_cache(self) -> Path:
        return self.jax_cache_dir or self.data / "jax-cache"

    @property
    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
