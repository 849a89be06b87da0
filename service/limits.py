"""Per-request limits from the settings, checked once the body is parsed (the raw
body's size and value count were bounded before parsing: service.json_budget) and
before any work: each refusal is a 400 naming the field and the setting to change."""

from __future__ import annotations

from service.errors import APIError
from service.settings import Settings


def _over(param: str, what: str, count: int, setting: str, limit: int) -> APIError:
    return APIError(
        400,
        f"{param}: {count} {what} is more than this server allows ({setting}={limit})",
        code="limit_exceeded",
        param=param,
    )


def check_prompts(settings: Settings, prompts: int, n: int) -> None:
    if prompts > settings.max_prompts_per_request:
        raise _over(
            "prompt",
            "prompts",
            prompts,
            "MAX_PROMPTS_PER_REQUEST",
            settings.max_prompts_per_request,
        )
    check_sequences(settings, prompts, n)


def check_messages(settings: Settings, messages: int) -> None:
    if messages > settings.max_messages_per_request:
        raise _over(
            "messages",
            "messages",
            messages,
            "MAX_MESSAGES_PER_REQUEST",
            settings.max_messages_per_request,
        )


def check_sequences(settings: Settings, prompts: int, n: int) -> None:
    """prompts x n: what the engine runs, and what admission counts."""
    if prompts * n > settings.max_sequences_per_request:
        raise _over(
            "n",
            f"sequences ({prompts} prompts x n={n})",
            prompts * n,
            "MAX_SEQUENCES_PER_REQUEST",
            settings.max_sequences_per_request,
        )


def check_top_logprobs(settings: Settings, param: str, alternatives: int | None) -> None:
    """Alternatives per output token: each is decoded and sent with every token."""
    if alternatives is not None and alternatives > settings.max_top_logprobs:
        raise _over(
            param,
            "alternatives per token",
            alternatives,
            "MAX_TOP_LOGPROBS",
            settings.max_top_logprobs,
        )
