"""The Celery app: every setting of the worker in one place, with why where it guards a
guarantee. Start a worker with ``celery -A worker.celery_app worker -Q cpu``.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init

from .settings import Settings, get_settings


def make_app(settings: Settings, include: tuple[str, ...] = ("worker.tasks",)) -> Celery:
    app = Celery("optserve", broker=settings.broker_url, include=list(include))
    app.conf.update(
        # JSON only: broker messages are decoded by a JSON parser and nothing else.
        task_serializer="json",
        accept_content=["json"],
        # Results live in worker.store, never in Celery's result backend or in messages.
        task_ignore_result=True,
        result_backend=None,
        # Acked after the job ran, so a worker that dies mid-job does not lose it...
        task_acks_late=True,
        # ...and a killed pool child sends its job back to the queue instead of failing it.
        task_reject_on_worker_lost=True,
        # A worker holds one job at a time: a long job never keeps another waiting behind it.
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # Unacked jobs of a dead worker come back after the visibility timeout, which is longer
        # than the hard time limit so that a job still running is never handed out twice.
        broker_transport_options={
            "visibility_timeout": settings.visibility,
            "unacked_restore_interval": settings.restore_interval,
            "unacked_restore_throttle": settings.restore_throttle,
        },
        task_default_queue=settings.queue,
        # JAX is not fork-safe: pool children are spawned, and JAX starts only in them
        # (worker.jobs imports optcore when the first job runs, never in the parent).
        worker_pool_start_method="spawn",
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Compiled programs and XLA's caches grow with every new structure: a pool child
        # past this resident size is replaced after its job (KiB; 0 or None: never).
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024 or None,
    )
    return app


@worker_process_init.connect
def _warm_pool_child(**_: object) -> None:
    """In each spawned pool child (never the parent): JAX's caches, then the warm-up."""
    from .warmup import start

    start(get_settings())


settings = get_settings()
app = make_app(settings)
