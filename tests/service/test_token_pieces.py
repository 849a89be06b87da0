"""Token texts and bytes for log-probabilities, on real tokenizers of both families
that split a character across tokens (built on the spot: nothing is downloaded)."""

from __future__ import annotations

from typing import Any

from service.engines.token_pieces import TokenPieces

EURO = "€"  # three UTF-8 bytes: E2 82 AC


def _byte_level_bpe() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # The 256 byte characters and nothing merged: "€" is three tokens.
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    backend = Tokenizer(models.BPE({char: i for i, char in enumerate(sorted(alphabet))}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def _byte_fallback() -> Any:
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "a", *(f"<0x{b:02X}>" for b in range(256))]
    model = models.BPE({p: i for i, p in enumerate(pieces)}, [], byte_fallback=True)
    backend = Tokenizer(model)
    backend.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def _check_splits_the_euro(tokenizer: Any) -> None:
    ids = tokenizer.encode(EURO, add_special_tokens=False)
    assert len(ids) == 3
    pieces = TokenPieces(tokenizer)
    entries = [pieces(token_id, -1.0) for token_id in ids]
    assert [e.token for e in entries] == ["\ufffd"] * 3  # what decode([id]) shows
    assert b"".join(e.raw or b"" for e in entries).decode() == EURO


def test_byte_level_bpe_tokens_keep_their_bytes() -> None:
    _check_splits_the_euro(_byte_level_bpe())


def test_sentencepiece_byte_fallback_tokens_keep_their_bytes() -> None:
    _check_splits_the_euro(_byte_fallback())


def test_whole_characters_need_no_bytes_of_their_own() -> None:
    tokenizer = _byte_level_bpe()
    (token_id,) = tokenizer.encode("a", add_special_tokens=False)
    entry = TokenPieces(tokenizer)(token_id, -0.5)
    assert (entry.token, entry.raw) == ("a", None)
