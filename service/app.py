"""The app factory: wires settings, engine, routers and middleware; nothing else.

The engine is constructed here but loaded by a lifespan task, after uvicorn is
listening, so liveness answers at once and readiness turns 200 when the model is in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Security
from fastapi.routing import APIRoute

from service import ops
from service.auth import ApiKeyMiddleware, bearer_scheme
from service.engines import create_engine
from service.engines.base import Engine
from service.errors import install_error_handlers
from service.openai_api.router import router as openai_router
from service.openai_api.serving import OpenAIServing
from service.request_scope import BodyLimitMiddleware, RequestScopeMiddleware
from service.runtime import Runtime
from service.seed_api.router import router as seed_router
from service.seed_api.serving import GenerateServing
from service.settings import Settings

logger = logging.getLogger("service.app")

API_TITLE = "TensorRT-LLM inference server"
API_VERSION = "1.0.0"


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the ASGI app; `engine` lets tests bring their own instead of settings.engine's."""
    runtime = Runtime.create(settings, engine if engine is not None else create_engine(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        loading = asyncio.create_task(runtime.load_engine(), name="load-engine")
        try:
            yield
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            try:
                await runtime.engine.shutdown()
            except Exception:
                logger.exception("engine shutdown failed")
            logger.info("engine shut down")

    app = FastAPI(title=API_TITLE, version=API_VERSION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.openai_serving = OpenAIServing(runtime)
    app.state.generate_serving = GenerateServing(runtime)
    install_error_handlers(app)
    # Outermost last: ids, logs and metrics see every request; the key is checked
    # before anything reads the body; the body's size before the app buffers it.
    app.add_middleware(BodyLimitMiddleware)
    if settings.api_key_list:
        app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_list)
    app.add_middleware(RequestScopeMiddleware, metrics=runtime.metrics)
    # The check is the middleware's; this only shows the scheme in the schema. With no
    # keys configured both are left out: nothing runs per request.
    auth = [Security(bearer_scheme)] if settings.api_key_list else []
    app.include_router(ops.router)
    app.include_router(openai_router, dependencies=auth)
    app.include_router(seed_router, dependencies=auth)
    # FastAPI adds its docs' routes first, so every API request would be matched
    # against them before its own. Stable sort: the API routes keep their order (and
    # the schema its path order); the docs routes, left out of the schema, go last.
    app.router.routes.sort(key=lambda route: not isinstance(route, APIRoute))
    return app
