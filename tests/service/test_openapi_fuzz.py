"""Schemathesis over the OpenAPI schema, in-process: no input yields a 5xx, and every
answer matches what the schema declares (status, content type, body)."""

from __future__ import annotations

from collections import defaultdict

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from tests.servers import fast_settings

# Kept small so the suite stays fast; every operation still gets this many cases.
MAX_EXAMPLES = 12

schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(fast_settings(max_num_tokens=256))
)

# Status codes seen per path, for the last test.
STATUSES: defaultdict[str, set[int]] = defaultdict(set)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call_and_validate(checks=CHECKS)
    STATUSES[case.operation.path].add(response.status_code)


def test_fuzzing_reached_the_engine() -> None:
    """Guards the test above against passing vacuously (say, on 503s only)."""
    for path in ("/v1/completions", "/v1/chat/completions", "/generate"):
        assert 200 in STATUSES[path], (path, STATUSES[path])
        assert 400 in STATUSES[path], (path, STATUSES[path])
