"""The one protocol every engine implements.

Routes never see engine internals and engines never see HTTP: a route turns an
OpenAI request into a `GenerationRequest`, iterates `Engine.stream()` and turns the
`GenerationChunk`s back into JSON or server-sent events.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "abort"]


class EngineError(Exception):
    """The engine failed a request; the message is safe to show to clients."""


class InvalidRequestError(EngineError):
    """The engine refuses this request's parameters; maps to HTTP 400."""


class PromptTooLongError(EngineError):
    """The prompt does not fit the engine's context; maps to HTTP 400/413."""

    def __init__(self, prompt_tokens: int, limit: int) -> None:
        super().__init__(
            f"prompt has {prompt_tokens} tokens, more than this model accepts ({limit})"
        )
        self.prompt_tokens = prompt_tokens
        self.limit = limit


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


# Request fields beyond prompt, max_tokens, temperature, top_p, stop and seed that an
# engine may honour (OpenAI / vLLM names). An engine lists the ones it honours in
# EngineInfo.optional_parameters; the server refuses a request that sets any other.
OPTIONAL_PARAMETERS = (
    "top_k",
    "min_p",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "stop_token_ids",
    "response_format",
    "logprobs",
    "logit_bias",
)


@dataclass(frozen=True)
class ResponseFormat:
    """Constrained output: any JSON object, or JSON matching `schema`."""

    type: Literal["json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One sequence to generate. `n > 1` is fanned out by the serving layer."""

    request_id: str
    prompt: str
    max_tokens: int
    temperature: float
    top_p: float
    stop: Sequence[str] = ()
    seed: int | None = None
    # False for prompts a chat template rendered: the template writes the special
    # tokens (BOS) itself, so the tokenizer must not add them again (as trtllm-serve).
    add_special_tokens: bool = True
    # OPTIONAL_PARAMETERS; None (or empty) leaves the engine's default.
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop_token_ids: Sequence[int] = ()
    response_format: ResponseFormat | None = None
    # Log-probabilities of each generated token and of its `logprobs` likeliest
    # alternatives (0: the sampled token's alone); None asks for none.
    logprobs: int | None = None
    # Token id -> a bias added to its logit before sampling.
    logit_bias: Mapping[int, float] | None = None


# What OpenAI reports for a log-probability it cannot give (a token outside the top
# ones computed, or minus infinity, which JSON cannot carry): "very unlikely".
UNKNOWN_LOGPROB = -9999.0


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A token: its text, its log-probability, for a generated token the likeliest
    tokens at its position (most likely first), and its bytes where the text cannot
    show them (part of a multi-byte character, whose text alone is U+FFFD; None: the
    text's UTF-8)."""

    token: str
    logprob: float
    top: tuple[TokenLogprob, ...] = ()
    raw: bytes | None = None


@dataclass(frozen=True)
class GenerationChunk:
    """What one step of a stream adds.

    `text` and `token_count` are deltas; `prompt_tokens` is the whole prompt's
    length, repeated on every chunk so the last one can carry `usage`.
    `finish_reason` is set on the last chunk only. `logprobs`, when the request asked
    for them, has one entry per token counted in `token_count`.
    """

    text: str
    token_count: int
    prompt_tokens: int
    finish_reason: FinishReason | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass
class EngineInfo:
    """What the HTTP layer may know about a loaded engine."""

    model_name: str
    max_context_tokens: int | None = None
    supports_seed: bool = True
    # The OPTIONAL_PARAMETERS this engine honours.
    optional_parameters: frozenset[str] = frozenset()
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KvCacheStats:
    """The engine's KV-cache block pool, as TensorRT-LLM's iteration stats report it."""

    used_blocks: int
    max_blocks: int
    tokens_per_block: int

    @property
    def utilization(self) -> float:
        """Fraction of the pool in use, 0..1 (what routers and autoscalers compare)."""
        return self.used_blocks / self.max_blocks if self.max_blocks else 0.0


class Engine(abc.ABC):
    """An inference engine.

    Lifecycle: constructed cheaply, `await load()` in a lifespan task (may take
    minutes; must not block the event loop), `stream()` many times concurrently,
    `await shutdown()` once. Cancelling the task that iterates `stream()` (client
    disconnect) must abort the request inside the engine and free its slot.
    """

    @abc.abstractmethod
    async def load(self) -> EngineInfo:
        """Load weights; return what the server advertises."""

    @abc.abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Generate one sequence; raises PromptTooLongError before the first chunk."""

    @abc.abstractmethod
    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        """Render chat messages into the prompt text the model was trained on."""

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """Release the engine (GPU memory, MPI workers). Called once."""

    def fatal_error(self) -> str | None:
        """Why this loaded engine can serve no more requests, or None while it can.

        Some engines die after loading (TensorRT-LLM shuts its executor down after a
        fatal error and refuses every later request). The probes ask this, so it must
        be cheap and never block; an engine that cannot die keeps this default.
        """
        return None

    def queued_requests(self) -> int:
        """Requests the engine has accepted but not yet scheduled (its own queue).

        The server's waiting gauge adds these to its admission queue; engines that
        start every request they are given keep this default.
        """
        return 0

    def kv_cache(self) -> KvCacheStats | None:
        """The KV-cache pool now, or None where the engine cannot tell (no series then)."""
        return None

    def stalled_seconds(self) -> float:
        """Seconds the engine has made no progress while requests wait on it (0 if idle).

        Exported as a metric; engines that cannot hang keep this default.
        """
        return 0.0
