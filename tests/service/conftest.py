"""Fixtures for the server tests; the servers themselves are in servers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.servers import ThreadServer, fast_settings, thread_server, wait_until


@pytest.fixture
def client() -> Iterator[TestClient]:
    """In-process app on the zero-delay simulated engine, loaded and ready."""
    app = create_app(fast_settings())
    with TestClient(app) as test_client:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        yield test_client


@pytest.fixture(scope="module")
def live() -> Iterator[ThreadServer]:
    """A real uvicorn on 127.0.0.1 with the zero-delay simulated engine."""
    with thread_server(fast_settings()) as server:
        yield server
