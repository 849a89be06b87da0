"""Hugging Face transformers on CPU or CUDA: dev machines and GPU-less clusters.

Each sequence runs a manual decode loop (prefill, then one token per forward pass
with the KV cache) in a worker thread, so the event loop never waits on torch. The
loop samples with a per-request `torch.Generator` (a seed gives the same text even
with other requests running), checks an abort flag between tokens (client
disconnect, stop string) and decodes text in the thread too. At most
`max_batch_size` sequences run at once; the rest wait for a thread.

Worker threads are daemons: a model still loading or a sequence still decoding
must not keep the process alive after the server has shut down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from service.engines.base import (
    ChatMessage,
    Engine,
    EngineError,
    EngineInfo,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    PromptTooLongError,
)
from service.engines.stopping import StopMatcher

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("service.engines.transformers")

# Sequences decoded at once when MAX_BATCH_SIZE is unset; each is a thread doing
# its own forward passes, so more mostly adds contention on CPU.
DEFAULT_CONCURRENT_SEQUENCES = 4
# Context length when the model config does not say.
FALLBACK_CONTEXT_TOKENS = 2048

T = TypeVar("T")

# What the decode thread sends to the event loop: (text delta, tokens, finish) or an error.
_Item = tuple[str, int, FinishReason | None] | BaseException


def run_in_daemon_thread(function: Callable[[], T]) -> asyncio.Future[T]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = function()
        except BaseException as error:
            _call_soon(loop, settle, None, error)
        else:
            _call_soon(loop, settle, result, None)

    threading.Thread(target=target, daemon=True, name="transformers-worker").start()
    return future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> bool:
    """Hand a result to the loop; False once the loop is gone (server shut down)."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True


class TransformersEngine(Engine):
    def __init__(
        self,
        *,
        model_path: str,
        trust_remote_code: bool = False,
        max_batch_size: int | None = None,
        max_num_tokens: int | None = None,
    ) -> None:
        self._model_path = model_path
        self._trust_remote_code = trust_remote_code
        self._slots = asyncio.Semaphore(max_batch_size or DEFAULT_CONCURRENT_SEQUENCES)
        self._max_num_tokens = max_num_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._device = "cpu"
        self._max_context_tokens = FALLBACK_CONTEXT_TOKENS
        self._stop_flags: set[threading.Event] = set()

    async def load(self) -> EngineInfo:
        self._tokenizer, self._model, self._device = await run_in_daemon_thread(self._load)
        config = self._model.config
        context = getattr(config, "max_position_embeddings", None) or FALLBACK_CONTEXT_TOKENS
        if self._max_num_tokens:
            context = min(context, self._max_num_tokens)
        self._max_context_tokens = context
        return EngineInfo(
            model_name=self._model_path,
            max_context_tokens=context,
            supports_seed=True,
            extra={"engine": "transformers", "device": self._device},
        )

    def _load(self) -> tuple[Any, Any, str]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        tokenizer = AutoTokenizer.from_pretrained(
            self._model_path, trust_remote_code=self._trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(
            self._model_path,
            trust_remote_code=self._trust_remote_code,
            dtype="auto" if device == "cuda" else torch.float32,
        )
        model.to(device).eval()
        return tokenizer, model, device

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        if self._tokenizer is None or not getattr(self._tokenizer, "chat_template", None):
            raise EngineError("this model has no chat template; use /v1/completions")
        rendered: str = self._tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tokenize=False,
            add_generation_prompt=True,
        )
        return rendered

    async def shutdown(self) -> None:
        for flag in list(self._stop_flags):
            flag.set()
        self._model = None
        self._tokenizer = None

    def _prompt_ids(self, prompt: str) -> list[int]:
        tokenizer = self._tokenizer
        # A chat template usually writes the BOS token itself; do not add a second one.
        bos = tokenizer.bos_token
        add_special = not (bos and prompt.startswith(bos))
        ids: list[int] = tokenizer(prompt, add_special_tokens=add_special)["input_ids"]
        if not ids:
            # A forward pass needs at least one token.
            start = tokenizer.bos_token_id
            ids = [start if start is not None else tokenizer.eos_token_id or 0]
        return ids

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        if self._model is None:
            raise EngineError("model is not loaded")
        prompt_ids = self._prompt_ids(request.prompt)
        prompt_tokens = len(prompt_ids)
        if prompt_tokens >= self._max_context_tokens:
            raise PromptTooLongError(prompt_tokens, self._max_context_tokens - 1)
        budget = min(request.max_tokens, self._max_context_tokens - prompt_tokens)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[_Item] = asyncio.Queue()
        stop_flag = threading.Event()
        stop = StopMatcher(request.stop)

        def emit(item: _Item) -> bool:
            return not stop_flag.is_set() and _call_soon(loop, items.put_nowait, item)

        async with self._slots:
            self._stop_flags.add(stop_flag)
            run_in_daemon_thread(lambda: self._decode(prompt_ids, budget, request, stop_flag, emit))
            try:
                while True:
                    item = await items.get()
                    if isinstance(item, BaseException):
                        logger.error("decode failed", exc_info=item)
                        raise EngineError("generation failed inside the model")
                    text, tokens, finish = item
                    text, stopped = stop.feed(text)
                    if stopped:
                        yield GenerationChunk(text, tokens, prompt_tokens, "stop")
                        return
                    if finish is not None:
                        yield GenerationChunk(text + stop.flush(), tokens, prompt_tokens, finish)
                        return
                    yield GenerationChunk(text, tokens, prompt_tokens)
            finally:
                # Ends the decode loop at its next token if it is still running.
                stop_flag.set()
                self._stop_flags.discard(stop_flag)

    def _decode(
        self,
        prompt_ids: list[int],
        budget: int,
        request: GenerationRequest,
        stop_flag: threading.Event,
        emit: Callable[[_Item], bool],
    ) -> None:
        """The worker thread: prefill, then sample token by token until done or told to stop."""
        try:
            self._decode_loop(prompt_ids, budget, request, stop_flag, emit)
        except Exception as error:
            emit(error)

    def _decode_loop(
        self,
        prompt_ids: list[int],
        budget: int,
        request: GenerationRequest,
        stop_flag: threading.Event,
        emit: Callable[[_Item], bool],
    ) -> None:
        import torch

        model, tokenizer, device = self._model, self._tokenizer, self._device
        if model is None:
            return
        eos_ids = _eos_ids(model, tokenizer)
        generator = torch.Generator(device=device)
        if request.seed is not None:
            generator.manual_seed(request.seed)
        else:
            generator.seed()
        generated: list[int] = []
        sent_text = ""
        past: Any = None
        inputs = torch.tensor([prompt_ids], device=device)
        with torch.inference_mode():
            for step in range(budget):
                if stop_flag.is_set():
                    return
                output = model(input_ids=inputs, past_key_values=past, use_cache=True)
                past = output.past_key_values
                token = _sample(
                    output.logits[0, -1].float(), request.temperature, request.top_p, generator
                )
                if token in eos_ids:
                    emit(("", 0, "stop"))
                    return
                generated.append(token)
                text = tokenizer.decode(generated, skip_special_tokens=True)
                last = step == budget - 1
                # A multi-byte character split across tokens decodes to U+FFFD until whole.
                if text.endswith("\ufffd") and not last:
                    delta = ""
                else:
                    delta, sent_text = text[len(sent_text) :], text
                if not emit((delta, 1, "length" if last else None)):
                    return
                inputs = torch.tensor([[token]], device=device)


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        return frozenset()
    return frozenset(ids if isinstance(ids, list) else [ids])


def _sample(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> int:
    import torch

    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest set of tokens whose probability reaches top_p.
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > top_p
        sorted_probs[outside] = 0
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))
