"""The optserve worker: the Celery app, its task and the Redis job store."""
