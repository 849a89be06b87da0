"""An engine for tests that script `stream` themselves: loads at once, no chat template."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from service.engines.base import (
    ChatMessage,
    Engine,
    EngineInfo,
    GenerationChunk,
    GenerationRequest,
)


class StubEngine(Engine):
    async def load(self) -> EngineInfo:
        return EngineInfo(model_name="scripted")

    def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        raise NotImplementedError("a test's subclass scripts the stream")

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        return ""

    async def shutdown(self) -> None:
        return None
