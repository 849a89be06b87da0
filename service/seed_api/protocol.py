"""The seed guide's /generate API, kept so its users need not change anything."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from service.engines.base import FinishReason
from service.openai_api.protocol import MaxTokens, Temperature, Text, TopP


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: Text
    max_tokens: MaxTokens = None
    temperature: Temperature = None
    top_p: TopP = None
    stream: StrictBool = Field(False, description="Answer with server-sent GenerateStreamEvents.")


class GenerateResponse(BaseModel):
    text: str
    tokens_used: int = Field(description="Tokens generated (the prompt is not counted).")
    latency_ms: float


class GenerateStreamEvent(BaseModel):
    """One `data:` event of a streamed /generate; the last has finish_reason and
    latency_ms, then `data: [DONE]` follows."""

    text: str = Field(description="Text added since the previous event.")
    tokens_used: int = Field(description="Tokens generated so far.")
    finish_reason: FinishReason | None = None
    latency_ms: float | None = None
