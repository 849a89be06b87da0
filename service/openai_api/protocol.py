"""OpenAI wire format: request and response models, fields in OpenAI's order.

Requests are as strict as OpenAI's own API about fields: a field the API
does not define is refused with a 400 naming it ("Unrecognized request argument
supplied"), so a typo never silently falls back to a default. Every field the API
defines (and so the official client may send) is declared here: a value this server
cannot honour is refused with a 400 naming the field, so nobody believes they got
log-probabilities or tools they did not get; the few that change nothing about the
text generated (metadata, store, service_tier...) are accepted, ignored and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from service.engines.base import FinishReason, ResponseFormat

logger = logging.getLogger(__name__)

# Limits of the wire format itself; the per-request limits an operator may change
# (prompts, messages, sequences, stop strings, logit_bias, echoed names) are
# settings, checked in service.limits.
MAX_N = 8
# Engines take an unsigned 64-bit seed (torch.Generator, TensorRT-LLM's random_seed)
# and n samples use seed .. seed + n - 1: below 2**63 every one of them fits.
SEED_LIMIT = 2**63


def _valid_unicode(value: str) -> str:
    # JSON may escape a lone surrogate ("\\ud800"); no engine or tokenizer can encode
    # it. An ASCII string (the common case) is known to be fine without a scan.
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as error:
            raise ValueError(
                f"invalid Unicode at character {error.start}: a lone surrogate or a byte "
                "that is not UTF-8"
            ) from None
    return value


# Every string the server reads, echoes or hands to an engine.
Text = Annotated[str, AfterValidator(_valid_unicode)]

Stop = Text | list[Text] | None
# OpenAI's range: -100 bans a token, 100 all but forces it.
LogitBias = dict[Annotated[int, Field(ge=0)], Annotated[float, Field(ge=-100, le=100)]]


def _unset(value: object) -> bool:
    return not value


def _refused(what: str, allowed: Callable[[Any], bool] = _unset) -> AfterValidator:
    """A validator that refuses, naming the field, any value `allowed` does not accept."""

    def check(value: Any) -> Any:
        if not allowed(value):
            raise ValueError(f"{what} is not supported by this server")
        return value

    return AfterValidator(check)


# Request defaults the server's settings fill in; /generate shares them.
MaxTokens = Annotated[int | None, Field(ge=1, description="Default: the server's MAX_TOKENS.")]
Temperature = Annotated[float | None, Field(ge=0, le=2, description="Default: TEMPERATURE.")]
TopP = Annotated[float | None, Field(gt=0, le=1, description="Default: TOP_P.")]
Penalty = Annotated[float | None, Field(ge=-2, le=2, description="OpenAI's range, -2 to 2.")]
MAX_STOP_TOKEN_IDS = 16
# OpenAI's ranges; the server's MAX_TOP_LOGPROBS may lower them (service.limits).
MAX_COMPLETION_LOGPROBS = 5
MAX_CHAT_TOP_LOGPROBS = 20


class StreamOptions(BaseModel):
    include_usage: StrictBool = False


# OpenAI request fields that change nothing about the text generated: accepted (a
# client may send them), ignored, and logged.
IGNORED_FIELDS = (
    "metadata",
    "parallel_tool_calls",
    "prediction",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning_effort",
    "safety_identifier",
    "service_tier",
    "store",
    "verbosity",
)
Ignored = Annotated[Any, Field(description="Accepted and ignored (logged).")]


class SamplingFields(BaseModel):
    """Fields the completions and chat requests share, validated the same way."""

    model_config = ConfigDict(extra="forbid")

    model: Text = Field(
        description="The served model's name (GET /v1/models); required, as OpenAI's is."
    )
    frequency_penalty: Penalty = None
    logit_bias: LogitBias | None = Field(
        None, description="Token id -> bias added to its logit (-100 to 100)."
    )
    max_tokens: MaxTokens = None
    n: int = Field(1, ge=1, le=MAX_N, description="Completions per prompt.")
    presence_penalty: Penalty = None
    seed: int | None = Field(
        None, ge=0, lt=SEED_LIMIT, description="Same seed and request, same output."
    )
    stop: Stop = Field(
        None, description="Strings that end generation (MAX_STOP_STRINGS, default 4)."
    )
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    temperature: Temperature = None
    top_p: TopP = None
    user: Text | None = None
    # --- extensions (vLLM's names); refused with a 400 by engines that cannot honour them
    top_k: int | None = Field(None, ge=-1, description="Sample from the k likeliest (-1, 0: all).")
    min_p: float | None = Field(None, ge=0, le=1, description="Drop tokens below min_p x the top.")
    repetition_penalty: float | None = Field(
        None, gt=0, le=2, description="Above 1 discourages repeating tokens."
    )
    stop_token_ids: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, max_length=MAX_STOP_TOKEN_IDS, description="Token ids that end generation."
    )

    def optional_parameters(self) -> dict[str, Any]:
        """The engine-dependent fields this request sets to something other than their
        neutral value (0 penalties, top_k 0 or -1...), which then must be honoured."""
        neutral: dict[str, tuple[Any, ...]] = {
            "top_k": (None, 0, -1),
            "min_p": (None, 0),
            "repetition_penalty": (None, 1),
            "presence_penalty": (None, 0),
            "frequency_penalty": (None, 0),
            "stop_token_ids": (None,),
            "logit_bias": (None, {}),
        }
        values = {name: getattr(self, name) for name in neutral}
        values["stop_token_ids"] = tuple(self.stop_token_ids) if self.stop_token_ids else None
        return {k: v for k, v in values.items() if v not in neutral[k]}

    @model_validator(mode="after")
    def _log_ignored(self) -> SamplingFields:
        ignored = sorted(
            name
            for name in IGNORED_FIELDS
            if name in type(self).model_fields and getattr(self, name) is not None
        )
        if ignored:
            logger.info("ignoring OpenAI fields that change no output: %s", ", ".join(ignored))
        return self

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class CompletionRequest(SamplingFields):
    prompt: Text | Annotated[list[Text], Field(min_length=1)] = Field(
        description="A prompt or a list of prompts (token-id prompts are not supported)."
    )
    best_of: int | None = Field(None, description="Only equal to n (or unset).")
    echo: StrictBool = Field(False, description="Prepend the prompt to the completion.")
    # 0 is a request too: the sampled token's log-probability alone.
    logprobs: int | None = Field(
        None,
        ge=0,
        le=MAX_COMPLETION_LOGPROBS,
        description="Log-probabilities of each token and of this many likeliest others.",
    )
    suffix: Annotated[str | None, _refused("suffix")] = Field(None, description="Not supported.")

    @model_validator(mode="after")
    def _best_of_is_n(self) -> CompletionRequest:
        if self.best_of is not None and self.best_of != self.n:
            raise ValueError("best_of other than n is not supported by this server")
        return self

    @field_validator("logprobs")
    @classmethod
    def _logprobs_without_echo(cls, value: int | None, info: ValidationInfo) -> int | None:
        # With echo OpenAI also scores the prompt's tokens, which no engine here computes.
        if value is not None and info.data.get("echo"):
            raise ValueError("not supported with echo (prompt tokens are not scored)")
        return value

    def optional_parameters(self) -> dict[str, Any]:
        optional = super().optional_parameters()
        if self.logprobs is not None:
            optional["logprobs"] = self.logprobs
        return optional

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class TextContentPart(BaseModel):
    type: Literal["text"]
    text: Text


class ChatMessageIn(BaseModel):
    # As strict as the request: a misspelt key is a 400, not silently dropped. The keys
    # an assistant message carries when a client sends a reply back (refusal, audio,
    # annotations) are accepted; tool calls are refused, since this server has no tools.
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextContentPart] | None = Field(
        description="Text, or a list of text parts (images are not supported)."
    )
    name: Text | None = None
    refusal: Ignored = None
    audio: Ignored = None
    annotations: Ignored = None
    tool_calls: Annotated[Any, _refused("tool_calls")] = Field(None, description="Not supported.")
    function_call: Annotated[Any, _refused("function_call")] = Field(
        None, description="Not supported."
    )

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class JsonSchemaIn(BaseModel):
    name: Text = Field(max_length=64)
    description: Text | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormatIn(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaIn | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormatIn:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is required with type json_schema, and only then")
        return self

    def engine_format(self) -> ResponseFormat | None:
        if self.type == "text":
            return None
        schema = self.json_schema.schema_ if self.json_schema is not None else None
        return ResponseFormat(type=self.type, schema=schema)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessageIn] = Field(min_length=1)
    logprobs: StrictBool | None = Field(
        None, description="Return the log-probability of each output token."
    )
    top_logprobs: int | None = Field(
        None,
        ge=0,
        le=MAX_CHAT_TOP_LOGPROBS,
        description="Also this many likeliest tokens at each position (needs logprobs).",
    )
    max_completion_tokens: int | None = Field(None, ge=1, description="Newer name of max_tokens.")
    response_format: ResponseFormatIn | None = Field(
        None, description="text, json_object, or json_schema (guided decoding)."
    )
    tools: Annotated[list[dict[str, Any]] | None, _refused("tools")] = Field(
        None, description="Not supported."
    )
    tool_choice: Annotated[
        str | dict[str, Any] | None, _refused("tool_choice", lambda v: v in (None, "none"))
    ] = Field(None, description="Only 'none'.")
    # Deprecated names of tools and tool_choice.
    functions: Annotated[list[dict[str, Any]] | None, _refused("functions")] = Field(
        None, description="Not supported."
    )
    function_call: Annotated[
        str | dict[str, Any] | None, _refused("function_call", lambda v: v in (None, "none"))
    ] = Field(None, description="Only 'none'.")
    modalities: Annotated[
        list[str] | None, _refused("a modality other than text", lambda v: v in (None, ["text"]))
    ] = Field(None, description="Only ['text'].")
    audio: Annotated[dict[str, Any] | None, _refused("audio output")] = Field(
        None, description="Not supported."
    )
    web_search_options: Annotated[dict[str, Any] | None, _refused("web_search_options")] = Field(
        None, description="Not supported."
    )
    moderation: Annotated[Any, _refused("moderation")] = Field(None, description="Not supported.")
    # --- accepted and ignored (IGNORED_FIELDS)
    metadata: Ignored = None
    parallel_tool_calls: Ignored = None
    prediction: Ignored = None
    prompt_cache_key: Ignored = None
    prompt_cache_options: Ignored = None
    prompt_cache_retention: Ignored = None
    reasoning_effort: Ignored = None
    safety_identifier: Ignored = None
    service_tier: Ignored = None
    store: Ignored = None
    verbosity: Ignored = None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs_with_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise ValueError("needs logprobs set to true")
        return value

    def optional_parameters(self) -> dict[str, Any]:
        optional = super().optional_parameters()
        engine_format = self.response_format.engine_format() if self.response_format else None
        if engine_format is not None:
            optional["response_format"] = engine_format
        if self.logprobs:
            optional["logprobs"] = self.top_logprobs or 0
        return optional


# --- responses


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionLogprobs(BaseModel):
    """OpenAI's legacy shape: parallel lists, one entry per token."""

    text_offset: list[int]
    token_logprobs: list[float]
    tokens: list[str]
    # The likeliest tokens at each position, and the sampled one, by text.
    top_logprobs: list[dict[str, float]]


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: CompletionLogprobs | None = Field(None, description="When the request set logprobs.")
    finish_reason: FinishReason | None


class _Envelope(BaseModel):
    """What every response and stream chunk starts with, in OpenAI's order; each
    subclass narrows `object` and `choices` in place."""

    id: str
    object: str
    created: int
    model: str
    choices: list[Any]
    usage: Usage | None = None


class CompletionResponse(_Envelope):
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class TopLogprob(BaseModel):
    token: str
    logprob: float
    # The token's UTF-8 bytes: several tokens may each hold part of one character.
    bytes: list[int] | None


class TokenLogprobOut(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChatLogprobs(BaseModel):
    content: list[TokenLogprobOut] | None


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: ChatLogprobs | None = Field(None, description="When the request set logprobs.")
    finish_reason: FinishReason | None


class ChatCompletionResponse(_Envelope):
    object: Literal["chat.completion"] = "chat.completion"
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
    logprobs: ChatLogprobs | None = Field(None, description="When the request set logprobs.")
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(_Envelope):
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChatChunkChoice]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
