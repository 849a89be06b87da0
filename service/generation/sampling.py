"""A request's sampling fields, with the server's defaults, as engine requests.

The one place where a field a client left out takes its value from the settings
(MAX_TOKENS, TEMPERATURE, TOP_P), for every API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from service.engines.base import GenerationRequest
from service.errors import APIError
from service.runtime import Runtime


class RequestedSampling(Protocol):
    """The sampling fields every API's request model has; None means "the default"."""

    @property
    def temperature(self) -> float | None: ...

    @property
    def top_p(self) -> float | None: ...


def max_tokens_for(runtime: Runtime, requested: int | None) -> int:
    """The request's max_tokens (MAX_TOKENS if unset); 400 if it cannot fit the context."""
    tokens = requested or runtime.settings.max_tokens
    limit = runtime.info.max_context_tokens if runtime.info else None
    if limit is not None and tokens > limit:
        raise APIError(
            400,
            f"max_tokens: {tokens} is more than this model's context ({limit} tokens)",
            code="invalid_value",
            param="max_tokens",
        )
    return tokens


def engine_requests(
    runtime: Runtime,
    request_id: str,
    prompts: Sequence[str],
    sampling: RequestedSampling,
    *,
    max_tokens: int | None,
    n: int = 1,
    stop: Sequence[str] = (),
    seed: int | None = None,
    add_special_tokens: bool = True,
    optional: Mapping[str, Any] | None = None,
) -> list[GenerationRequest]:
    """One engine request per prompt and sample (prompts x n), defaults filled in.

    Sequence ids are the request id, suffixed with the sequence's index when there
    are several, so engine logs tie back to the request.
    """
    settings = runtime.settings
    tokens = max_tokens_for(runtime, max_tokens)
    info = runtime.info
    if seed is not None and info is not None and not info.supports_seed:
        raise APIError(400, "seed: not supported by this engine", param="seed")
    optional = dict(optional or {})
    honoured = info.optional_parameters if info is not None else frozenset()
    for name in sorted(set(optional) - honoured):
        raise APIError(400, f"{name}: not supported by this engine", param=name)
    temperature = settings.temperature if sampling.temperature is None else sampling.temperature
    top_p = settings.top_p if sampling.top_p is None else sampling.top_p
    total = len(prompts) * n
    return [
        GenerationRequest(
            request_id=request_id if total == 1 else f"{request_id}-{index}",
            prompt=prompts[index // n],
            max_tokens=tokens,
            temperature=temperature,
            top_p=top_p,
            stop=tuple(stop),
            # n samples of one prompt must differ even with a seed.
            seed=None if seed is None else seed + index % n,
            add_special_tokens=add_special_tokens,
            **optional,
        )
        for index in range(total)
    ]
