"""Per-request limits from the settings, checked once the body is parsed (the raw
body's size and value count were bounded before parsing: service.json_budget) and
before any work or any echo: each refusal is a 400 naming the field and the setting
to change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.errors import APIError
from service.settings import Settings

if TYPE_CHECKING:
    from service.openai_api.protocol import ChatMessageIn, SamplingFields


def _check(settings: Settings, setting: str, param: str, what: str, count: int) -> None:
    """Refuse `count` of `what` in `param` if it is over the setting (a Settings field)."""
    limit: int = getattr(settings, setting)
    if count > limit:
        raise APIError(
            400,
            f"{param}: {count} {what} is more than this server allows ({setting.upper()}={limit})",
            code="limit_exceeded",
            # OpenAI's param is the top-level field; the message has the whole path.
            param=param.split("[")[0],
        )


def check_prompts(settings: Settings, prompts: int, n: int) -> None:
    _check(settings, "max_prompts_per_request", "prompt", "prompts", prompts)
    check_sequences(settings, prompts, n)


def check_messages(settings: Settings, messages: Sequence[ChatMessageIn]) -> None:
    _check(settings, "max_messages_per_request", "messages", "messages", len(messages))
    for index, message in enumerate(messages):
        _check_echoed(settings, f"messages[{index}].name", message.name)


def check_sequences(settings: Settings, prompts: int, n: int) -> None:
    """prompts x n: what the engine runs, and what admission counts."""
    what = f"sequences ({prompts} prompts x n={n})"
    _check(settings, "max_sequences_per_request", "n", what, prompts * n)


def check_sampling(settings: Settings, body: SamplingFields) -> None:
    """The limits of the fields every OpenAI request has; before the model name is
    looked up, since a 404 echoes it."""
    _check_echoed(settings, "model", body.model)
    _check_echoed(settings, "user", body.user)
    _check(settings, "max_stop_strings", "stop", "stop strings", len(body.stop_list))
    biases = len(body.logit_bias or ())
    _check(settings, "max_logit_bias_entries", "logit_bias", "token biases", biases)


def _check_echoed(settings: Settings, param: str, value: str | None) -> None:
    if value is not None:
        _check(settings, "max_echoed_chars", param, "characters", len(value))


def check_top_logprobs(settings: Settings, param: str, alternatives: int | None) -> None:
    """Alternatives per output token: each is decoded and sent with every token."""
    if alternatives is not None:
        _check(settings, "max_top_logprobs", param, "alternatives per token", alternatives)
