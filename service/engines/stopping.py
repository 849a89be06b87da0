"""Stop strings for engines that have no native support (simulated, transformers).

OpenAI semantics: generation ends at the first stop string, which is not returned.
Text that might be the start of a stop string is held back until it is decided, so
a client never sees half of a stop string that a later token completes.
"""

from __future__ import annotations

from collections.abc import Sequence


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
        keep = max((self._partial_suffix(buffer, s) for s in self._stop), default=0)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """Text held back when the sequence ends without completing a stop string."""
        held, self._held = self._held, ""
        return held

    @staticmethod
    def _partial_suffix(buffer: str, stop: str) -> int:
        """Length of the longest end of `buffer` that starts `stop`."""
        for length in range(min(len(stop) - 1, len(buffer)), 0, -1):
            if stop.startswith(buffer[-length:]):
                return length
        return 0
