"""What one request's sequences produced, observed into the server's metrics as it comes.

Time to first token and inter-token latency are observed per chunk that carries
tokens; token counters and end-to-end latency once, when the request ends. Prompt
tokens count only for sequences that finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from service.admission import QueueFullError
from service.engines.base import FinishReason, GenerationChunk, PromptTooLongError, TokenLogprob
from service.metric_names import REJECT_PROMPT_TOO_LONG, REJECT_QUEUE_FULL
from service.metrics import ServerMetrics

# Refusals after readiness (the runtime counts its own), by what was raised.
_REJECT_REASONS: dict[type[Exception], str] = {
    QueueFullError: REJECT_QUEUE_FULL,
    PromptTooLongError: REJECT_PROMPT_TOO_LONG,
}


@dataclass
class SequenceState:
    """What one sequence produced so far."""

    text: list[str] = field(default_factory=list)
    tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: FinishReason | None = None
    last_token_at: float | None = None
    # Filled only for requests that asked for log-probabilities.
    logprobs: list[TokenLogprob] = field(default_factory=list)


class RequestMetrics:
    """One request's sequences and its share of the server's metrics."""

    def __init__(self, metrics: ServerMetrics, sequences: int) -> None:
        self._metrics = metrics
        self.arrival = time.perf_counter()
        self.sequences = [SequenceState() for _ in range(sequences)]

    @property
    def finished(self) -> bool:
        return all(s.finish_reason is not None for s in self.sequences)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.arrival) * 1000, 3)

    def account(self, index: int, chunk: GenerationChunk) -> None:
        """Add one engine chunk; called once per chunk, so kept to the bare minimum."""
        sequence = self.sequences[index]
        if chunk.token_count:
            now = time.perf_counter()
            if sequence.last_token_at is None:
                self._metrics.ttft.observe(now - self.arrival)
            else:
                self._metrics.itl.observe(now - sequence.last_token_at)
            sequence.last_token_at = now
            sequence.tokens += chunk.token_count
        sequence.text.append(chunk.text)
        if chunk.logprobs is not None:
            sequence.logprobs.extend(chunk.logprobs)
        sequence.prompt_tokens = chunk.prompt_tokens
        if chunk.finish_reason is not None:
            sequence.finish_reason = chunk.finish_reason

    def refused(self, error: BaseException) -> None:
        """Count a request refused before its first chunk, if the refusal has a reason label."""
        for kind, reason in _REJECT_REASONS.items():
            if isinstance(error, kind):
                self._metrics.rejected.labels(reason).inc()

    def end(self, *, admitted: bool) -> None:
        """Count the request's tokens and, if it ran to its end, its latency."""
        metrics = self._metrics
        generated = sum(s.tokens for s in self.sequences)
        if generated:
            metrics.generation_tokens.inc(generated)
        prompt = sum(s.prompt_tokens for s in self.sequences if s.finish_reason)
        if prompt:
            metrics.prompt_tokens.inc(prompt)
        if admitted and self.finished:
            metrics.e2e_latency.observe(time.perf_counter() - self.arrival)
