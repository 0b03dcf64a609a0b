from __future__ import annotations

import httpx
import pytest

from .stack import start_stack
from .web_browser import chromium, new_page


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.stop_all()


@pytest.fixture
def client(service):
    with httpx.Client(base_url=service.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def page(browser, service):
    """The web page of the session's stack, open in headless Chromium (one per module)."""
    p = new_page(browser, service.url)
    p.open()
    return p
