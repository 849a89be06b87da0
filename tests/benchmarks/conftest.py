from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.benchmarks.stub_server import running_stub


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    with running_stub() as url:
        yield url
