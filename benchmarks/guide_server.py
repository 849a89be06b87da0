"""The seed guide's handler design, for the concurrency benchmark.

An `async def` route that calls a blocking `generate()` directly, as the guide's
server does with `LLM.generate`: the call holds the event loop for the whole engine
time, so concurrent requests run one after another and health checks wait behind
them. The engine is a sleep of the same length as our simulated engine's work.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from pydantic import BaseModel

from benchmarks.servers import reference_server_parser, run_reference_server


class GenerationRequest(BaseModel):
    prompt: str
    max_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    stream: bool = False


class GenerationResponse(BaseModel):
    text: str
    tokens_used: int
    latency_ms: float


def create_app(engine_ms: float) -> FastAPI:
    app = FastAPI()

    def generate(request: GenerationRequest) -> GenerationResponse:
        start = time.perf_counter()
        time.sleep(engine_ms / 1000)  # the blocking engine call
        return GenerationResponse(
            text=" token" * request.max_tokens,
            tokens_used=request.max_tokens,
            latency_ms=(time.perf_counter() - start) * 1000,
        )

    @app.post("/generate", response_model=GenerationResponse)
    async def generate_text(request: GenerationRequest) -> GenerationResponse:
        return generate(request)  # blocks the event loop: the defect being measured

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    return app


def main() -> None:
    parser = reference_server_parser(__doc__)
    parser.add_argument("--engine-ms", type=float, default=200.0)
    args = parser.parse_args()
    run_reference_server(create_app(args.engine_ms), args)


if __name__ == "__main__":
    main()
