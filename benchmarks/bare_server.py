"""The overhead baseline: a bare FastAPI + uvicorn JSON endpoint.

It answers POST /v1/completions with a fixed body (by default one recorded from our
server, passed in with --body-file), so the overhead benchmark compares our full
request path (validation, admission, engine stream, metrics) with the least any
FastAPI app can do for the same bytes on the wire.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DEFAULT_BODY: dict[str, Any] = {
    "id": "cmpl-bare",
    "object": "text_completion",
    "created": 0,
    "model": "bare",
    "choices": [{"index": 0, "text": " hello", "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def create_app(body: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(request: Request) -> JSONResponse:
        # Parse the request like any JSON endpoint would; the answer is fixed.
        await request.json()
        return JSONResponse(body)

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, help="JSON body to return")
    args = parser.parse_args()
    body = json.loads(args.body_file.read_text()) if args.body_file else DEFAULT_BODY
    uvicorn.run(create_app(body), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
