"""The baselines: a bare FastAPI + uvicorn JSON endpoint.

POST /v1/completions answers with a fixed body (by default one recorded from our
server, passed in with --body-file), so the overhead benchmark compares our full
request path (validation, admission, engine stream, metrics) with the least any
FastAPI app can do for the same bytes on the wire.

POST /generate awaits `--engine-ms` without blocking and answers: the best any
FastAPI server can do in the concurrency benchmark on this machine and client (the
floor that ours and the guide's design are compared with).

POST /v1/completions with `"stream": true` streams `max_tokens` server-sent events,
one every `--itl-ms`, each a completion chunk built and dumped per token the way a
plain FastAPI StreamingResponse would: the baseline of the streaming-efficiency
benchmark.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from benchmarks.servers import reference_server_parser, run_reference_server

DEFAULT_BODY: dict[str, Any] = {
    "id": "cmpl-bare",
    "object": "text_completion",
    "created": 0,
    "model": "bare",
    "choices": [{"index": 0, "text": " hello", "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


async def _sse(tokens: int, itl_s: float) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    for i in range(tokens):
        # Absolute deadlines, as the simulated engine keeps, so jitter does not drift.
        deadline += itl_s
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        last = i == tokens - 1
        chunk = {
            "id": "cmpl-bare",
            "object": "text_completion",
            "created": 0,
            "model": "bare",
            "choices": [
                {
                    "index": 0,
                    "text": " x",
                    "logprobs": None,
                    "finish_reason": "length" if last else None,
                }
            ],
        }
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


def create_app(body: dict[str, Any], engine_ms: float = 0.0, itl_ms: float = 10.0) -> FastAPI:
    app = FastAPI()

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/generate")
    async def generate(request: Request) -> JSONResponse:
        payload = await request.json()
        await asyncio.sleep(engine_ms / 1000)
        tokens = int(payload.get("max_tokens", 1))
        return JSONResponse({"text": " x" * tokens, "tokens_used": tokens, "latency_ms": engine_ms})

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        # Parse the request like any JSON endpoint would; the answer is fixed.
        payload = await request.json()
        if payload.get("stream"):
            tokens = int(payload.get("max_tokens", 16))
            return StreamingResponse(_sse(tokens, itl_ms / 1000), media_type="text/event-stream")
        return JSONResponse(body)

    return app


def main() -> None:
    parser = reference_server_parser(__doc__)
    parser.add_argument("--body-file", type=Path, help="JSON body to return")
    parser.add_argument("--engine-ms", type=float, default=0.0, help="/generate's wait")
    parser.add_argument("--itl-ms", type=float, default=10.0, help="gap between SSE events")
    args = parser.parse_args()
    body = json.loads(args.body_file.read_text()) if args.body_file else DEFAULT_BODY
    run_reference_server(create_app(body, args.engine_ms, args.itl_ms), args)


if __name__ == "__main__":
    main()
