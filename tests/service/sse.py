"""Reading server-sent events the way a client would."""

from __future__ import annotations

import json
from typing import Any

DONE = "[DONE]"


def sse_data(body: str) -> list[str]:
    """The `data:` payloads of an event stream, in order."""
    return [line.removeprefix("data: ") for line in body.split("\n\n") if line.startswith("data: ")]


def sse_json(body: str) -> list[dict[str, Any]]:
    """JSON events of a stream that must end with [DONE] (and has nothing after it)."""
    data = sse_data(body)
    assert data and data[-1] == DONE, f"stream does not end with [DONE]: {data[-2:]}"
    return [json.loads(item) for item in data[:-1]]
