"""OpenAI wire format: request and response models, fields in OpenAI's order.

Requests accept what clients commonly send. A field whose value this server cannot
honour is refused with a 400 naming it (rather than silently ignored), so nobody
believes they got log-probabilities or penalties they did not get. Unknown fields
are ignored, as OpenAI's own API does for forward compatibility.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from service.engines.base import FinishReason

# Limits that keep one request's cost bounded: sequences per request and stop strings
# (OpenAI allows 4).
MAX_N = 8
MAX_PROMPTS = 16
MAX_STOP_STRINGS = 4

Stop = str | Annotated[list[str], Field(max_length=MAX_STOP_STRINGS)] | None


def _refuse_unless(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"{what} is not supported by this server")


class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingFields(BaseModel):
    """Fields the completions and chat requests share, validated the same way."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="Must be the served model if given.")
    frequency_penalty: float | None = Field(None, description="Only 0 is supported.")
    logit_bias: dict[str, float] | None = Field(None, description="Not supported.")
    max_tokens: int | None = Field(None, ge=1, description="Default: the server's MAX_TOKENS.")
    n: int = Field(1, ge=1, le=MAX_N, description="Completions per prompt.")
    presence_penalty: float | None = Field(None, description="Only 0 is supported.")
    seed: int | None = Field(None, description="Same seed and request, same output.")
    stop: Stop = Field(None, description="Up to 4 strings that end generation.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2, description="Default: TEMPERATURE.")
    top_p: float | None = Field(None, gt=0, le=1, description="Default: TOP_P.")
    user: str | None = None

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None) -> float | None:
        _refuse_unless(not value, "a non-zero penalty")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _no_logit_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        _refuse_unless(not value, "logit_bias")
        return value

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class CompletionRequest(SamplingFields):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=MAX_PROMPTS)] = Field(
        description="A prompt or a list of prompts (token-id prompts are not supported)."
    )
    best_of: int | None = Field(None, description="Only equal to n (or unset).")
    echo: bool = Field(False, description="Prepend the prompt to the completion.")
    logprobs: int | None = Field(None, description="Not supported.")
    suffix: str | None = Field(None, description="Not supported.")

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: int | None) -> int | None:
        _refuse_unless(value is None, "logprobs")
        return value

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        _refuse_unless(not value, "suffix")
        return value

    @model_validator(mode="after")
    def _best_of_is_n(self) -> CompletionRequest:
        if self.best_of is not None and self.best_of != self.n:
            raise ValueError("best_of other than n is not supported by this server")
        return self

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class TextContentPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextContentPart] | None = Field(
        description="Text, or a list of text parts (images are not supported)."
    )
    name: str | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessageIn] = Field(min_length=1)
    logprobs: bool | None = Field(None, description="Not supported.")
    top_logprobs: int | None = Field(None, description="Not supported.")
    max_completion_tokens: int | None = Field(None, ge=1, description="Newer name of max_tokens.")
    response_format: dict[str, Any] | None = Field(None, description="Only {'type': 'text'}.")
    tools: list[dict[str, Any]] | None = Field(None, description="Not supported.")
    tool_choice: str | dict[str, Any] | None = Field(None, description="Only 'none'.")

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        _refuse_unless(not value, "logprobs")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _no_top_logprobs(cls, value: int | None) -> int | None:
        _refuse_unless(not value, "top_logprobs")
        return value

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        _refuse_unless(value is None or value.get("type") == "text", "this response_format")
        return value

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        _refuse_unless(not value, "tools")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _no_tool_choice(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        _refuse_unless(value in (None, "none"), "tool_choice")
        return value

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


# --- responses


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: None = None
    finish_reason: FinishReason | None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: None = None
    finish_reason: FinishReason | None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_parts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # OpenAI sends the role once, in the first delta, and no null fields in deltas.
        return {key: value for key, value in handler(self).items() if value is not None}


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
