"""A tiny random-weight Llama and a word-level tokenizer with a chat template, built
on the spot (nothing can be downloaded), saved as a normal HF checkpoint directory."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "hello", "world", "the", "a", "cat", "dog", "sat", "on", "mat", "and", "ran", "to",
    "house", "tree", "sky", "blue", "red", "green", "one", "two", "three", "four", "five",
    "six", "seven", "eight", "nine", "ten", "story", "tell", "me", "about", "you", "how", "are",
]  # fmt: skip
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|> "
    "{{ message['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
CONTEXT_TOKENS = 64


def build_tiny_llama(directory: Path, weight_std: float = 0.02) -> Path:
    """`weight_std` above the default makes attention sharp enough that a wrong
    position or mask changes the greedy text (at 0.02 attention is nearly uniform)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*SPECIAL, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # Like Llama's tokenizer: BOS in front of every encoded text.
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", vocab["<s>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=CONTEXT_TOKENS,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        pad_token_id=vocab["<pad>"],
        initializer_range=weight_std,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory
