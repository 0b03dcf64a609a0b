from __future__ import annotations

import httpx
import pytest

from .stack import start_stack


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.stop_all()


@pytest.fixture
def client(service):
    with httpx.Client(base_url=service.url, timeout=30) as c:
        yield c
