"""What one token id stands for, for log-probabilities: its text alone (as trtllm-serve
decodes it: `tokenizer.decode([id])`) and, where that text cannot show it, its bytes.

A token that holds part of a multi-byte character (a CJK character or an emoji split
across byte-level tokens) decodes alone to U+FFFD; OpenAI's `bytes` field exists so a
client can join such tokens' bytes back into the character, so those bytes are read
from the vocabulary instead: byte-level BPE (GPT-2, Llama 3, Qwen) writes each byte as
one printable character, SentencePiece's byte fallback (Llama 2, Mistral) as <0xAB>.
Works on any Hugging Face tokenizer object; imports nothing itself.
"""

from __future__ import annotations

import re
from typing import Any

from service.engines.base import TokenLogprob

_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-to-character table, inverted: printable bytes stand for themselves,
    the others for the characters from U+0100 up, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    shifted = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(0x100 + n): b for n, b in enumerate(shifted)})
    return table


_BYTE_LEVEL = _byte_level_alphabet()


class TokenPieces:
    """Builds TokenLogprob entries for one tokenizer; each id is read once (a vocabulary
    bounds the cache)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        decoder = getattr(backend, "decoder", None)
        self._byte_level = type(decoder).__name__ == "ByteLevel"
        self._cache: dict[int, tuple[str, bytes | None]] = {}

    def __call__(
        self, token_id: int, logprob: float, top: tuple[TokenLogprob, ...] = ()
    ) -> TokenLogprob:
        text, raw = self.piece(token_id)
        return TokenLogprob(text, logprob, top, raw)

    def piece(self, token_id: int) -> tuple[str, bytes | None]:
        """(text, bytes when the text cannot show them, else None)."""
        found = self._cache.get(token_id)
        if found is None:
            text = str(self._tokenizer.decode([token_id]))
            raw = self._raw(token_id) if "\ufffd" in text else None
            found = self._cache[token_id] = (text, raw)
        return found

    def _raw(self, token_id: int) -> bytes | None:
        piece = self._tokenizer.convert_ids_to_tokens(token_id)
        if not isinstance(piece, str):
            return None
        fallback = _BYTE_FALLBACK.fullmatch(piece)
        if fallback is not None:
            return bytes([int(fallback[1], 16)])
        if self._byte_level and all(char in _BYTE_LEVEL for char in piece):
            return bytes(_BYTE_LEVEL[char] for char in piece)
        return None
