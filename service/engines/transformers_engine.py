"""Hugging Face transformers on CPU or CUDA: dev machines and GPU-less clusters.

One decode thread runs every sequence (continuous batching): it prefills each new
request on its own, merges it into the running batch (left-padded KV cache, attention
mask, per-row positions) and then advances all rows with one forward pass per step,
admitting waiting requests between steps. On a GPU one batched forward costs about
what one sequence's forward costs, so concurrent requests share each step instead of
queueing for the GIL and the GPU in a thread each.

Per step the thread does one device-to-host sync (the sampled tokens of all rows),
detokenizes each row incrementally (a few tokens, not the whole text) and hands the
results to the event loop through a mailbox that wakes the loop once for whatever
piled up since it last ran (each wake-up makes the two threads trade the GIL). Each request
samples with its own `torch.Generator`, so a seed repeats its text; a row's logits can
differ in the last bits when other rows share its batch, as in other batching engines.
Requests beyond `max_batch_size` wait in the thread's queue; a cancelled request
leaves the batch at the next step. Log-probabilities, for the rows that ask, are those
of the raw logits (before temperature and top_p, as TensorRT-LLM's sampler reports
them) and cost one more device-to-host copy in the steps that have such rows.

Threads are daemons: a model still loading or a batch still decoding must not keep
the process alive after the server has shut down.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from service.engines.base import (
    ChatMessage,
    Engine,
    EngineError,
    EngineInfo,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    InvalidRequestError,
    PromptTooLongError,
    TokenLogprob,
)
from service.engines.stopping import StopMatcher
from service.engines.token_pieces import TokenPieces

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("service.engines.transformers")

# Sequences in one batch when MAX_BATCH_SIZE is unset. On a GPU a wider batch costs
# little more per step; on a CPU each row adds real work, so fewer run at once there.
DEFAULT_BATCH_SIZE = {"cuda": 32, "cpu": 8}
# How long shutdown waits for the decode thread to finish its current step.
SHUTDOWN_WAIT_S = 10.0
# How long the decode thread stays (idle) after shutdown; see _DecodeWorker._run.
LINGER_AFTER_CLOSE_S = 60.0
# Context length when the model config does not say.
FALLBACK_CONTEXT_TOKENS = 2048

T = TypeVar("T")

# What the decode thread sends a request: (text delta, tokens, finish, the token's
# log-probabilities if asked) or an error.
_Item = tuple[str, int, FinishReason | None, TokenLogprob | None] | BaseException


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

    threading.Thread(target=target, daemon=True, name="transformers-load").start()
    return future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> bool:
    """Hand a result to the loop; False once the loop is gone (server shut down)."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True


class _TextDelta:
    """Incremental detokenization: each token costs two decodes of a few tokens, not one
    of the whole text. Decoding from a window that starts a token or more back keeps
    what depends on context (leading spaces, characters split across tokens) right."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # window start
        self._read = 0  # tokens already turned into text

    def add(self, token: int, last: bool) -> str:
        self._ids.append(token)
        decode = self._tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self._ids[self._prefix :], skip_special_tokens=True)
        # A multi-byte character split across tokens decodes to U+FFFD until whole.
        if after.endswith("\ufffd") and not last:
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before) :]


@dataclass(eq=False)
class _Sequence:
    """One request inside the decode thread; `aborted` is set from the event loop."""

    prompt_ids: list[int]
    budget: int
    temperature: float
    top_p: float
    seed: int | None
    mailbox: _Mailbox
    deliver: Callable[[_Item], None]
    text: _TextDelta
    logit_bias: Mapping[int, float] | None = None
    generated: int = 0
    aborted: bool = False
    generator: Any = None
    # Alternatives per token to score (GenerationRequest.logprobs); None: no scoring.
    logprobs: int | None = None
    # logit_bias as (token ids, biases) on the device, made once when admitted.
    bias: tuple[Any, Any] | None = None


@dataclass
class _Batch:
    """The running rows around one left-padded KV cache.

    Row i's real tokens are the last `lengths[i]` columns of the cache; the columns
    left of them are padding that the attention mask hides. Per-row tensors stay on
    the device so a step copies nothing from the host.
    """

    rows: list[_Sequence] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # host copy of the positions
    cache: Any = None  # a DynamicCache: [rows, heads, columns, dim] per layer
    # "tokens" [rows] (the next input), "positions", "temperature", "top_p" [rows, 1]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> int:
        return max(self.lengths, default=0)


class _DecodeWorker:
    """The thread that owns the model's forward passes."""

    def __init__(self, model: Any, tokenizer: Any, device: str, max_batch: int) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        self._max_batch = max_batch
        self._eos = _eos_ids(model, tokenizer)
        parameters = inspect.signature(model.forward).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        # Computing logits only for the last position saves a [prompt, vocab] matmul.
        self._last_logits_only = takes_any or "logits_to_keep" in parameters
        self._mask_style = _mask_style(model)
        self._condition = threading.Condition()
        self._waiting: deque[_Sequence] = deque()
        self._batch = _Batch()
        self._closed = False
        self._outbox: dict[_Mailbox, list[tuple[_Sequence, _Item]]] = {}
        self._pieces = TokenPieces(tokenizer)
        self.crashed: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="transformers-decode")
        self._thread.start()

    def submit(self, sequence: _Sequence) -> None:
        with self._condition:
            if self._closed:
                raise EngineError("the engine is shutting down")
            self._waiting.append(sequence)
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()

    def wait_stopped(self, timeout_s: float) -> bool:
        """True once the thread has finished its last step and let go of the model."""
        return self._stopped.wait(timeout_s)

    @property
    def sequences(self) -> int:
        """Requests waiting or running (the thread drops aborted ones at its next step)."""
        with self._condition:
            return len(self._waiting) + len(self._batch.rows)

    def _run(self) -> None:
        import torch

        try:
            with torch.inference_mode():
                while self._next_round():
                    pass
        except BaseException as error:  # the thread must report, not vanish
            logger.exception("decode thread failed")
            self.crashed = f"decode thread failed: {error!r}"
            raise
        finally:
            self._abort_everything()
            self._model = self._tokenizer = None
            self._stopped.set()
        # Linger instead of ending at once: a thread that ran OpenMP work (torch on a
        # CPU) and ends just before the process does makes the process abort at exit
        # ("terminate called without an active exception") about one time in three.
        threading.Event().wait(LINGER_AFTER_CLOSE_S)

    def _next_round(self) -> bool:
        """Admit waiting requests, advance the batch one token; False once closed."""
        with self._condition:
            while not self._closed and not self._waiting and not self._batch.rows:
                self._condition.wait()
            if self._closed:
                return False
            room = self._max_batch - len(self._batch.rows)
            admitted = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
        for sequence in admitted:
            if not sequence.aborted:
                self._admit(sequence)
        if self._batch.rows:
            try:
                self._step()
            except Exception as error:
                # One bad step fails the rows it carried; the thread keeps serving.
                for row in self._batch.rows:
                    self._send(row, error)
                self._batch = _Batch()
        self._flush()
        return True

    def _admit(self, sequence: _Sequence) -> None:
        """Prefill one request alone, sample its first token, add it to the batch."""
        import torch
        from transformers import DynamicCache

        device, length = self._device, len(sequence.prompt_ids)
        try:
            sequence.generator = torch.Generator(device=device)
            if sequence.seed is not None:
                sequence.generator.manual_seed(sequence.seed)
            else:
                sequence.generator.seed()
            if sequence.logit_bias:
                ids, biases = zip(*sequence.logit_bias.items(), strict=True)
                sequence.bias = (
                    torch.tensor(ids, device=device),
                    torch.tensor(biases, device=device),
                )
            state = {
                "positions": torch.tensor([[length]], device=device),
                "temperature": torch.tensor([[float(sequence.temperature)]], device=device),
                "top_p": torch.tensor([[float(sequence.top_p)]], device=device),
            }
            ids = torch.tensor([sequence.prompt_ids], device=device)
            extra = {"logits_to_keep": 1} if self._last_logits_only else {}
            output = self._model(
                input_ids=ids, past_key_values=DynamicCache(), use_cache=True, **extra
            )
            logits = output.logits[:, -1]
            state["tokens"] = _sample(logits, [sequence], state)
            (entry,) = self._score(logits, [sequence], state["tokens"])
            (token,) = state["tokens"].tolist()
            if not self._finished(sequence, token, entry):
                self._merge(sequence, output.past_key_values, length, state)
        except Exception as error:
            self._send(sequence, error)

    def _merge(self, row: _Sequence, cache: Any, length: int, state: dict[str, Any]) -> None:
        """Append one prefilled row, padding whichever side is shorter on the left."""
        import torch
        from torch.nn.functional import pad
        from transformers import DynamicCache

        batch = self._batch
        if batch.cache is None:
            batch.cache, batch.state = cache, state
            batch.rows, batch.lengths = [row], [length]
            return
        columns = batch.columns
        width = max(columns, length)

        def widen(tensor: Any, have: int) -> Any:
            return pad(tensor, (0, 0, width - have, 0)) if width > have else tensor

        layers = zip(batch.cache.to_legacy_cache(), cache.to_legacy_cache(), strict=True)
        merged = DynamicCache.from_legacy_cache(
            tuple(
                (
                    torch.cat([widen(keys, columns), widen(new_keys, length)]),
                    torch.cat([widen(values, columns), widen(new_values, length)]),
                )
                for (keys, values), (new_keys, new_values) in layers
            )
        )
        merged_state = {key: torch.cat([batch.state[key], state[key]]) for key in batch.state}
        # Only now, so a merge that fails (out of memory) leaves the batch as it was.
        batch.cache, batch.state = merged, merged_state
        batch.rows.append(row)
        batch.lengths.append(length)

    def _step(self) -> None:
        """One forward pass for every row, one token sampled for each."""
        import torch

        batch = self._batch
        self._drop([row for row in batch.rows if row.aborted])
        if not batch.rows:
            return
        columns, state = batch.columns, batch.state
        output = self._model(
            input_ids=state["tokens"].unsqueeze(1),
            attention_mask=self._attention_mask(batch),
            position_ids=state["positions"],
            past_key_values=batch.cache,
            cache_position=torch.arange(columns, columns + 1, device=self._device),
            use_cache=True,
        )
        batch.cache = output.past_key_values
        batch.lengths = [length + 1 for length in batch.lengths]
        state["positions"] = state["positions"] + 1
        logits = output.logits[:, -1]
        state["tokens"] = _sample(logits, batch.rows, state)
        entries = self._score(logits, batch.rows, state["tokens"])
        # The step's one device-to-host sync (two with log-probabilities).
        tokens = state["tokens"].tolist()
        done = [
            row
            for row, token, entry in zip(batch.rows, tokens, entries, strict=True)
            if self._finished(row, token, entry)
        ]
        self._drop(done)

    def _attention_mask(self, batch: _Batch) -> Any:
        """The mask for this step's query, or None when no row has padding.

        Built here from the row lengths: transformers' generic builder syncs with the
        device and runs a vmap in Python on every call.
        """
        import torch

        width = batch.columns + 1
        if all(length == batch.columns for length in batch.lengths):
            return None
        # The new token lands at column `width - 1` of every row.
        first_real = width - (batch.state["positions"] + 1)
        keep = torch.arange(width, device=self._device).unsqueeze(0) >= first_real
        if self._mask_style == "2d":
            return keep.long()
        keep = keep[:, None, None, :]
        if self._mask_style == "sdpa":
            return keep
        # Eager attention adds the mask to the scores.
        dtype = self._model.dtype
        zeros = torch.zeros(keep.shape, dtype=dtype, device=self._device)
        return zeros.masked_fill(~keep, torch.finfo(dtype).min)

    def _finished(self, row: _Sequence, token: int, entry: TokenLogprob | None) -> bool:
        """Deliver a sampled token; True when the row is done."""
        if token in self._eos:
            self._send(row, ("", 0, "stop", None))
            return True
        row.generated += 1
        last = row.generated >= row.budget
        self._send(row, (row.text.add(token, last), 1, "length" if last else None, entry))
        return last or row.aborted

    def _score(
        self, logits: torch.Tensor, rows: Sequence[_Sequence], tokens: torch.Tensor
    ) -> list[TokenLogprob | None]:
        """Each row's sampled token and its likeliest alternatives, for the rows that
        asked (None for the others, and no work at all when none did)."""
        scored: list[TokenLogprob | None] = [None] * len(rows)
        wanted = [i for i, row in enumerate(rows) if row.logprobs is not None]
        if not wanted:
            return scored
        import torch

        index = torch.tensor(wanted, device=logits.device)
        logprobs = torch.log_softmax(logits[index].float(), dim=-1)
        picked = tokens[index]
        sampled = logprobs.gather(1, picked.unsqueeze(1)).squeeze(1).tolist()
        most = min(max(rows[i].logprobs or 0 for i in wanted), logprobs.shape[-1])
        values, ids = torch.topk(logprobs, most, dim=-1)
        values_rows, ids_rows = values.tolist(), ids.tolist()
        for j, (i, token) in enumerate(zip(wanted, picked.tolist(), strict=True)):
            keep = rows[i].logprobs or 0
            top = tuple(
                self._pieces(other, value)
                for other, value in zip(ids_rows[j][:keep], values_rows[j][:keep], strict=True)
            )
            scored[i] = self._pieces(token, sampled[j], top)
        return scored

    def _drop(self, gone: list[_Sequence]) -> None:
        """Remove finished rows and the padding columns no remaining row needs."""
        if not gone:
            return
        import torch
        from transformers import DynamicCache

        batch = self._batch
        keep = [i for i, row in enumerate(batch.rows) if row not in gone]
        if not keep:
            self._batch = _Batch()
            return
        start = batch.columns - max(batch.lengths[i] for i in keep)
        index = torch.tensor(keep, device=self._device)
        batch.cache = DynamicCache.from_legacy_cache(
            tuple(
                (keys[index, :, start:], values[index, :, start:])
                for keys, values in batch.cache.to_legacy_cache()
            )
        )
        batch.state = {key: tensor[index] for key, tensor in batch.state.items()}
        batch.rows = [batch.rows[i] for i in keep]
        batch.lengths = [batch.lengths[i] for i in keep]

    def _send(self, row: _Sequence, item: _Item) -> None:
        self._outbox.setdefault(row.mailbox, []).append((row, item))

    def _flush(self) -> None:
        """Post the step's items: at most one wake-up per event loop."""
        outbox, self._outbox = self._outbox, {}
        for mailbox, items in outbox.items():
            if not mailbox.post(items):
                for row, _ in items:
                    row.aborted = True  # the loop is gone; nobody is listening

    def _abort_everything(self) -> None:
        with self._condition:
            self._closed = True
            left = list(self._waiting) + self._batch.rows
            self._waiting.clear()
            self._batch = _Batch()
        for row in left:
            self._send(row, ("", 0, "abort", None))
        self._flush()


class _Mailbox:
    """What the decode thread has for one event loop's requests.

    The loop is woken only when the box goes from empty to not empty; items posted
    before it runs ride along, so a busy loop is not woken once per step.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[_Sequence, _Item]] = []

    def post(self, items: list[tuple[_Sequence, _Item]]) -> bool:
        """From the decode thread; False once the loop is gone."""
        with self._lock:
            wake = not self._items
            self._items.extend(items)
        return not wake or _call_soon(self._loop, self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for row, item in items:
            if not row.aborted:
                row.deliver(item)


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
        self._max_batch_size = max_batch_size
        self._max_num_tokens = max_num_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._worker: _DecodeWorker | None = None
        self._mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = (
            weakref.WeakKeyDictionary()
        )
        self._device = "cpu"
        self._max_context_tokens = FALLBACK_CONTEXT_TOKENS

    async def load(self) -> EngineInfo:
        self._tokenizer, self._model, self._device = await run_in_daemon_thread(self._load)
        config = self._model.config
        context = getattr(config, "max_position_embeddings", None) or FALLBACK_CONTEXT_TOKENS
        if self._max_num_tokens:
            context = min(context, self._max_num_tokens)
        self._max_context_tokens = context
        max_batch = self._max_batch_size or DEFAULT_BATCH_SIZE[self._device]
        self._worker = _DecodeWorker(self._model, self._tokenizer, self._device, max_batch)
        return EngineInfo(
            model_name=self._model_path,
            max_context_tokens=context,
            supports_seed=True,
            optional_parameters=frozenset({"logprobs", "logit_bias"}),
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

    def _mailbox(self) -> _Mailbox:
        loop = asyncio.get_running_loop()
        mailbox = self._mailboxes.get(loop)
        if mailbox is None:
            mailbox = self._mailboxes[loop] = _Mailbox(loop)
        return mailbox

    @property
    def sequences_in_flight(self) -> int:
        """Requests the decode thread holds, waiting or running."""
        return self._worker.sequences if self._worker else 0

    def fatal_error(self) -> str | None:
        return self._worker.crashed if self._worker else None

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
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
            # Let the thread finish its step before the interpreter (and CUDA) goes away
            # under it; a step that hangs must not hold shutdown up for long.
            await run_in_daemon_thread(lambda: worker.wait_stopped(SHUTDOWN_WAIT_S))
        self._model = None
        self._tokenizer = None

    def _prompt_ids(self, prompt: str, add_special_tokens: bool) -> list[int]:
        tokenizer = self._tokenizer
        ids: list[int] = tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
        if not ids:
            # A forward pass needs at least one token.
            start = tokenizer.bos_token_id
            ids = [start if start is not None else tokenizer.eos_token_id or 0]
        return ids

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        worker = self._worker
        if worker is None or self._model is None:
            raise EngineError("model is not loaded")
        prompt_ids = self._prompt_ids(request.prompt, request.add_special_tokens)
        prompt_tokens = len(prompt_ids)
        if prompt_tokens >= self._max_context_tokens:
            raise PromptTooLongError(prompt_tokens, self._max_context_tokens - 1)
        vocabulary = self._model.get_output_embeddings().weight.shape[0]
        outside = [token for token in request.logit_bias or () if token >= vocabulary]
        if outside:
            raise InvalidRequestError(
                f"logit_bias: token id {outside[0]} is not in this model's vocabulary "
                f"(0 to {vocabulary - 1})"
            )
        items: asyncio.Queue[_Item] = asyncio.Queue()
        sequence = _Sequence(
            prompt_ids=prompt_ids,
            budget=min(request.max_tokens, self._max_context_tokens - prompt_tokens),
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            logit_bias=request.logit_bias,
            mailbox=self._mailbox(),
            deliver=items.put_nowait,
            text=_TextDelta(self._tokenizer),
            logprobs=request.logprobs,
        )
        stop = StopMatcher(request.stop)
        worker.submit(sequence)
        try:
            while True:
                item = await items.get()
                if isinstance(item, BaseException):
                    logger.error("decode failed", exc_info=item)
                    raise EngineError("generation failed inside the model")
                text, tokens, finish, entry = item
                logprobs = None if entry is None else (entry,)
                text, stopped = stop.feed(text)
                if stopped:
                    yield GenerationChunk(text, tokens, prompt_tokens, "stop", logprobs)
                    return
                if finish is not None:
                    text += stop.flush()
                    yield GenerationChunk(text, tokens, prompt_tokens, finish, logprobs)
                    return
                yield GenerationChunk(text, tokens, prompt_tokens, logprobs=logprobs)
        finally:
            # The decode thread drops the row at its next step if it is still running.
            sequence.aborted = True


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        return frozenset()
    return frozenset(ids if isinstance(ids, list) else [ids])


def _mask_style(model: Any) -> str:
    """How a step passes a padding mask: a ready 4D mask ("sdpa", "eager") skips
    transformers' slow builder, but only full attention can use one; other models get
    the 2D mask and transformers builds the rest ("2d")."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    windowed = (
        getattr(text, "sliding_window", None)
        or getattr(text, "attention_chunk_size", None)
        or any(kind != "full_attention" for kind in getattr(text, "layer_types", None) or ())
    )
    implementation = getattr(config, "_attn_implementation", None)
    return implementation if implementation in ("sdpa", "eager") and not windowed else "2d"


def _sample(logits: torch.Tensor, rows: Sequence[_Sequence], state: dict[str, Any]) -> torch.Tensor:
    """One token per row of `logits` ([rows, vocab]), each row by its own settings."""
    import torch

    if any(row.bias is not None for row in rows):
        logits = logits.float().clone()
        for i, row in enumerate(rows):
            if row.bias is not None:
                ids, biases = row.bias
                logits[i, ids] += biases
    if all(row.temperature <= 0 for row in rows):
        return torch.argmax(logits, dim=-1)
    logits = logits.float()
    greedy = torch.argmax(logits, dim=-1) if any(row.temperature <= 0 for row in rows) else None
    # Greedy rows' scaling is irrelevant (they take the argmax) but must not divide by 0.
    probs = torch.softmax(logits / state["temperature"].clamp(min=1e-5), dim=-1)
    if any(row.top_p < 1 for row in rows):
        # Keep each row's smallest set of tokens whose probability reaches its top_p.
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > state["top_p"]
        # top_p = 1 keeps everything, whatever the rounding of the sum.
        outside &= state["top_p"] < 1
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs.masked_fill(outside, 0))
    picks = [
        torch.multinomial(probs[i], 1, generator=row.generator)
        if greedy is None or row.temperature > 0
        else greedy[i : i + 1]
        for i, row in enumerate(rows)
    ]
    return torch.cat(picks)
