"""The API's hand-built queue message equals the one Celery's send_task pushes."""

from __future__ import annotations

import base64
import json

import pytest

from worker.celery_app import make_app
from worker.messages import queue_message
from worker.settings import Settings


def pushed(store, queue: str) -> dict:
    message = json.loads(store.r.rpop(queue))
    assert message["properties"].pop("delivery_tag")  # a fresh uuid each time
    return message


@pytest.mark.parametrize(
    ("name", "args", "task_id"),
    [("optserve.run_job", ["0123abcd"], "0123abcd"), ("optserve.run_shard", ["9f9f", 3], "t-1")],
)
def test_the_message_equals_send_tasks_but_for_its_delivery_tag(
    store, redis_url, name, args, task_id
):
    app = make_app(Settings(redis_url=redis_url), include=())
    app.send_task(name, args=args, queue="q", task_id=task_id)
    theirs = pushed(store, "q")
    store.r.lpush("q", queue_message(app, name, args, "q", task_id))
    ours = pushed(store, "q")
    assert ours == theirs
    assert json.loads(base64.b64decode(ours["body"]))[0] == args
