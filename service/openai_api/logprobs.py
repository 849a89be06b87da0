"""Engine token log-probabilities in OpenAI's two shapes: the completions API's parallel
lists and the chat API's list of tokens. A streamed chunk carries the entries of the
tokens it adds; a collected answer all of a sequence's."""

from __future__ import annotations

from collections.abc import Sequence

from service.engines.base import UNKNOWN_LOGPROB, TokenLogprob
from service.openai_api.protocol import (
    ChatLogprobs,
    CompletionLogprobs,
    TokenLogprobOut,
    TopLogprob,
)


def _finite(logprob: float) -> float:
    # Minus infinity (a masked token) and NaN have no JSON form; OpenAI's floor stands in.
    return logprob if logprob > UNKNOWN_LOGPROB else UNKNOWN_LOGPROB


def completion_logprobs(entries: Sequence[TokenLogprob], offset: int) -> CompletionLogprobs:
    """`offset`: where the first entry's token starts in the choice's text."""
    text_offset: list[int] = []
    top_logprobs: list[dict[str, float]] = []
    for entry in entries:
        text_offset.append(offset)
        offset += len(entry.token)
        top = {other.token: _finite(other.logprob) for other in entry.top}
        # OpenAI lists the sampled token too: up to logprobs + 1 entries.
        top.setdefault(entry.token, _finite(entry.logprob))
        top_logprobs.append(top)
    return CompletionLogprobs(
        text_offset=text_offset,
        token_logprobs=[_finite(entry.logprob) for entry in entries],
        tokens=[entry.token for entry in entries],
        top_logprobs=top_logprobs,
    )


def chat_logprobs(entries: Sequence[TokenLogprob]) -> ChatLogprobs:
    return ChatLogprobs(
        content=[
            TokenLogprobOut(
                token=entry.token,
                logprob=_finite(entry.logprob),
                bytes=_bytes(entry),
                top_logprobs=[
                    TopLogprob(token=top.token, logprob=_finite(top.logprob), bytes=_bytes(top))
                    for top in entry.top
                ],
            )
            for entry in entries
        ]
    )


def _bytes(entry: TokenLogprob) -> list[int]:
    if entry.raw is not None:
        return list(entry.raw)
    return list(entry.token.encode("utf-8", "replace"))
