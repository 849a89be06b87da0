"""Stop strings, OpenAI semantics: generation ends at the first one, which is not returned.

Text that might be the start of a stop string is held back until it is decided, so
a client never sees half of a stop string that a later token completes.
`StopMatcher` does the whole job for engines with no native support (simulated,
transformers); TensorRT-LLM cuts complete stop strings itself, so its adapter only
needs `held_back`.
"""

from __future__ import annotations

from collections.abc import Sequence


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that is a proper prefix of a stop string."""
    longest = 0
    for stop in stops:
        # Only tails longer than the best so far can change the answer.
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class StopMatcher:
    def __init__(self, stop: Sequence[str]) -> None:
        self._stop = tuple(s for s in stop if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Add generated text; return (text safe to emit now, whether a stop string hit)."""
        if not self._stop:
            return text, False
        buffer = self._held + text
        hits = [i for i in (buffer.find(s) for s in self._stop) if i >= 0]
        if hits:
            self._held = ""
            return buffer[: min(hits)], True
        keep = held_back(buffer, self._stop)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """Text held back when the sequence ends without completing a stop string."""
        held, self._held = self._held, ""
        return held
