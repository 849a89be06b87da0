"""Fixtures for the server tests; the servers themselves are in servers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.servers import ThreadServer, fast_settings, ready_client, thread_server


@pytest.fixture
def client() -> Iterator[TestClient]:
    """In-process app on the zero-delay simulated engine, loaded and ready."""
    with ready_client(fast_settings()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def live() -> Iterator[ThreadServer]:
    """A real uvicorn on 127.0.0.1 with the zero-delay simulated engine."""
    with thread_server(fast_settings()) as server:
        yield server
