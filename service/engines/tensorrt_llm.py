"""The production engine: TensorRT-LLM's LLM API (1.2.x, PyTorch backend).

Each upstream call made here is listed, with the NVIDIA/TensorRT-LLM file and commit it
was checked against, in docs/tensorrt-llm-api.md. tests/service/fake_tensorrt_llm carries
the same signatures and behaviours, and tests/service/test_tensorrt_llm_engine.py pins
the fake to the recorded upstream signatures so drift shows up as a failing test.

Threading: `LLM(...)` takes minutes (weights, CUDA graphs, MPI workers) and runs in a
worker thread; `generate_async` must run on the event-loop thread because the
`RequestOutput` it returns binds an asyncio queue to the running loop, which the
executor's dispatch thread feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.engine_options import engine_option_problems
from service.engines.base import (
    OPTIONAL_PARAMETERS,
    UNKNOWN_LOGPROB,
    ChatMessage,
    Engine,
    EngineError,
    EngineInfo,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    InvalidRequestError,
    KvCacheStats,
    PromptTooLongError,
    ResponseFormat,
    TokenLogprob,
)
from service.engines.stopping import held_back
from service.engines.token_pieces import TokenPieces

logger = logging.getLogger(__name__)

# CompletionOutput.finish_reason (tensorrt_llm/executor/result.py) -> our protocol.
# 'cancelled' comes from abort(); 'timeout' from a request the runtime timed out.
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "cancelled": "abort",
    "timeout": "abort",
}

# What the worker says when a prompt does not fit (base_worker.py `_deduce_max_tokens`,
# llm.py `_check_arguments`): these per-request errors mean "prompt too long".
_CONTEXT_ERROR_MARKERS = ("default_max_tokens", "max_seq_len", "max_num_tokens")

# GenerationRequest fields that SamplingParams takes under the same name.
_SAMPLING_PASSTHROUGH = (
    "top_k",
    "min_p",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
)

# The PyTorch backend's TorchSampler draws from one generator seeded once for the
# whole executor, so SamplingParams.seed changes nothing (docs/tensorrt-llm-api.md).
SEED_UNSUPPORTED = "seed: the TensorRT-LLM PyTorch sampler does not honour per-request seeds"


SPECULATIVE_TOP_LOGPROBS = (
    "logprobs: with speculative decoding TensorRT-LLM scores one token per position "
    "(ask for at most 1 alternative)"
)


class TensorRTLLMEngine(Engine):
    """Runs `tensorrt_llm.LLM` in this process; requests go through in-flight batching."""

    def __init__(
        self,
        *,
        model: str,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        mpi_launch: MpiLaunch | None = None,
        max_batch_size: int | None = None,
        max_num_tokens: int | None = None,
        kv_cache_free_gpu_memory_fraction: float | None = None,
        trust_remote_code: bool = False,
        max_seq_len: int | None = None,
        stall_seconds: float | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not model:
            raise ValueError("model: a Hugging Face checkpoint directory or id is required")
        if tensor_parallel_size < 1:
            raise ValueError(
                f"tensor_parallel_size: must be at least 1, got {tensor_parallel_size}"
            )
        if pipeline_parallel_size < 1:
            raise ValueError(
                f"pipeline_parallel_size: must be at least 1, got {pipeline_parallel_size}"
            )
        ranks = tensor_parallel_size * pipeline_parallel_size
        if mpi_launch is not None and mpi_launch.ranks != ranks:
            raise ValueError(
                f"tensor_parallel_size x pipeline_parallel_size is {ranks}, but the MPI "
                f"launch started {mpi_launch.ranks} ranks (tllm_mpi_size)"
            )
        for name, value in (
            ("max_batch_size", max_batch_size),
            ("max_num_tokens", max_num_tokens),
            ("max_seq_len", max_seq_len),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name}: must be at least 1, got {value}")
        fraction = kv_cache_free_gpu_memory_fraction
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(
                f"kv_cache_free_gpu_memory_fraction: must be in (0, 1], got {fraction}"
            )
        self._model = model
        self._tensor_parallel_size = tensor_parallel_size
        self._pipeline_parallel_size = pipeline_parallel_size
        self._mpi_launch = mpi_launch
        self._max_batch_size = max_batch_size
        self._max_num_tokens = max_num_tokens
        self._kv_fraction = fraction
        problems = engine_option_problems(engine_options or {})
        if problems:
            raise ValueError("engine_options: " + "; ".join(problems))
        if stall_seconds is not None and stall_seconds <= 0:
            raise ValueError(f"stall_seconds: must be positive, got {stall_seconds}")
        self._trust_remote_code = trust_remote_code
        self._max_seq_len = max_seq_len
        self._engine_options = dict(engine_options or {})
        self._llm: Any = None
        self._sampling_params_cls: Any = None
        self._guided_params_cls: Any = None
        self._prompt_limit: int | None = None
        self._progress = ProgressWatch(stall_seconds)
        self._iteration = IterationStats()
        self._stats_task: asyncio.Task[None] | None = None
        self._pieces: TokenPieces | None = None

    def llm_kwargs(self, kv_cache_config_cls: Any) -> dict[str, Any]:
        """Keyword arguments for `tensorrt_llm.LLM`: the settings (unset ones keep upstream
        defaults) and the engine options, which never name a setting's option."""
        options = dict(self._engine_options)
        kv_cache_options = options.pop("kv_cache_config", None) or {}
        kwargs: dict[str, Any] = {
            "model": self._model,
            "tensor_parallel_size": self._tensor_parallel_size,
            "trust_remote_code": self._trust_remote_code,
            # Iteration stats (queue, KV-cache blocks) for the metrics; as trtllm-serve.
            "enable_iter_perf_stats": True,
        }
        if self._pipeline_parallel_size > 1:
            kwargs["pipeline_parallel_size"] = self._pipeline_parallel_size
        if self._max_batch_size is not None:
            kwargs["max_batch_size"] = self._max_batch_size
        if self._max_num_tokens is not None:
            kwargs["max_num_tokens"] = self._max_num_tokens
        if self._max_seq_len is not None:
            kwargs["max_seq_len"] = self._max_seq_len
        if self._kv_fraction is not None:
            kv_cache_options = {**kv_cache_options, "free_gpu_memory_fraction": self._kv_fraction}
        if kv_cache_options:
            kwargs["kv_cache_config"] = kv_cache_config_cls(**kv_cache_options)
        return kwargs | options

    async def load(self) -> EngineInfo:
        if self._llm is not None:
            raise EngineError("the TensorRT-LLM engine is already loaded")
        if self._max_seq_len is None:
            # Upstream derives max_seq_len inside the worker and never writes it back
            # to llm.args here, so without this the server would not know the context
            # window and the worker would refuse long prompts mid-stream.
            self._max_seq_len = await asyncio.to_thread(
                checkpoint_max_seq_len, self._model, self._trust_remote_code
            )
        llm, sampling_params_cls, version = await asyncio.to_thread(self._construct)
        from tensorrt_llm.sampling_params import GuidedDecodingParams

        self._guided_params_cls = GuidedDecodingParams
        if llm.tokenizer is None:
            await asyncio.to_thread(llm.shutdown)
            raise EngineError(f"model {self._model!r} has no tokenizer TensorRT-LLM can load")
        self._llm = llm
        self._sampling_params_cls = sampling_params_cls
        self._stats_task = asyncio.create_task(self._follow_stats(llm))
        self._prompt_limit = prompt_token_limit(llm.args)
        self._pieces = TokenPieces(self._hf_tokenizer())
        logger.info(
            "TensorRT-LLM %s loaded %s (tensor_parallel_size=%d, pipeline_parallel_size=%d, "
            "prompt limit %s tokens)",
            version,
            self._model,
            self._tensor_parallel_size,
            self._pipeline_parallel_size,
            self._prompt_limit,
        )
        # The server checks max_tokens against max_context_tokens, so it gets the
        # context window (prompt + output) when upstream resolved one; prompts are held
        # to the smaller _prompt_limit in stream().
        return EngineInfo(
            model_name=self._model,
            max_context_tokens=getattr(llm.args, "max_seq_len", None) or self._prompt_limit,
            supports_seed=False,
            optional_parameters=self._optional_parameters(),
            extra={"tensorrt_llm_version": version},
        )

    def _optional_parameters(self) -> frozenset[str]:
        # SamplingParams has a field for each; response_format needs the guided decoding
        # backend, which LLM() only builds when engine options name one. logit_bias would
        # go in as SamplingParams.embedding_bias, a tensor as wide as the model's logits
        # that the sampler adds in place: a width this adapter cannot check without a
        # GPU is refused rather than guessed (docs/tensorrt-llm-api.md).
        honoured = set(OPTIONAL_PARAMETERS) - {"logit_bias"}
        if not self._engine_options.get("guided_decoding_backend"):
            honoured.discard("response_format")
        return frozenset(honoured)

    def _construct(self) -> tuple[Any, Any, str]:
        # Imported here, not at module import: tensorrt_llm exists only in the GPU image
        # and its import alone initialises CUDA, torch and MPI.
        try:
            import tensorrt_llm
            from tensorrt_llm.llmapi import KvCacheConfig
        except ImportError as exc:
            raise EngineError(
                "ENGINE=tensorrt-llm needs the tensorrt_llm package (use the TensorRT-LLM image)"
            ) from exc
        except OSError as exc:
            # `import tensorrt_llm` dlopens native libraries (libpython3.x.so first); an
            # image without one fails here, before any model code runs.
            raise EngineError(
                f"tensorrt_llm cannot load a native library the image lacks: {exc}"
            ) from exc
        try:
            llm = tensorrt_llm.LLM(**self.llm_kwargs(KvCacheConfig))
        except ValueError as exc:
            # Upstream validates every LLM argument and raises ValueError (pydantic's
            # ValidationError is one) naming the argument.
            raise EngineError(f"TensorRT-LLM rejected its settings: {exc}") from exc
        except RuntimeError as exc:
            # e.g. "Only 1 GPUs are available, but 2 are required." or a worker that
            # died while loading the model.
            raise EngineError(f"TensorRT-LLM could not start: {exc}") from exc
        version = str(getattr(tensorrt_llm, "__version__", "unknown"))
        return llm, tensorrt_llm.SamplingParams, version

    def _require_llm(self) -> Any:
        if self._llm is None:
            raise EngineError("the TensorRT-LLM engine is not loaded")
        return self._llm

    def _hf_tokenizer(self) -> Any:
        # llm.tokenizer is TensorRT-LLM's TransformersTokenizer wrapper; the Hugging Face
        # tokenizer it wraps (its .tokenizer) has bos_token, which the wrapper lacks.
        tokenizer = self._require_llm().tokenizer
        return getattr(tokenizer, "tokenizer", tokenizer)

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        tokenizer = self._hf_tokenizer()
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        try:
            rendered = tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:
            # transformers raises ValueError when the model has no chat template and the
            # template itself raises jinja2 errors for conversations it refuses.
            raise EngineError(f"the model's chat template rejected the messages: {exc}") from exc
        return str(rendered)

    def encode_prompt(self, prompt: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids as trtllm-serve makes them: chat prompts (rendered by a template
        that writes its own special tokens) with add_special_tokens=False."""
        tokenizer = self._hf_tokenizer()
        return list(tokenizer.encode(prompt, add_special_tokens=add_special_tokens))

    def sampling_params(self, request: GenerationRequest) -> Any:
        """`SamplingParams` for one request, with max_tokens always set (upstream default: 32)."""
        if request.max_tokens < 1:
            raise EngineError(f"max_tokens: must be at least 1, got {request.max_tokens}")
        if request.seed is not None:
            raise InvalidRequestError(SEED_UNSUPPORTED)
        kwargs: dict[str, Any] = {"max_tokens": request.max_tokens}
        if request.temperature <= 0 or request.top_p <= 0:
            # Greedy. top_p=0 would mean greedy too, but the runtime refuses it
            # (tensorrt_llm/sampling_params.py), so greedy is asked for by temperature.
            kwargs["temperature"] = 0.0
        else:
            kwargs["temperature"] = request.temperature
            kwargs["top_p"] = request.top_p
        if request.stop:
            kwargs["stop"] = list(request.stop)
        # Same names in SamplingParams; None keeps the runtime's default.
        for name in _SAMPLING_PASSTHROUGH:
            if getattr(request, name) is not None:
                kwargs[name] = getattr(request, name)
        if request.stop_token_ids:
            kwargs["stop_token_ids"] = list(request.stop_token_ids)
        if request.response_format is not None:
            kwargs["guided_decoding"] = self._guided_decoding(request.response_format)
        if (request.logprobs or 0) > 1 and self._engine_options.get("speculative_config"):
            # Speculative samplers score the top token alone (they refuse logprobs > 1
            # in the worker, where it would surface as a 500).
            raise InvalidRequestError(SPECULATIVE_TOP_LOGPROBS)
        if request.logprobs is not None:
            # SamplingParams reads 0 as "no log-probabilities" (`logprobs and int(...)`;
            # the PyTorch backend's return_log_probs is bool(logprobs)): the sampled
            # token's own value needs at least the top 1.
            kwargs["logprobs"] = max(1, request.logprobs)
        try:
            return self._sampling_params_cls(**kwargs)
        except ValueError as exc:
            message = f"TensorRT-LLM rejected the sampling parameters: {exc}"
            raise InvalidRequestError(message) from exc

    def _guided_decoding(self, response_format: ResponseFormat) -> Any:
        # trtllm-serve's mapping (serve/openai_protocol.py): json_object -> any JSON,
        # json_schema -> JSON matching the schema.
        if response_format.type == "json_object":
            return self._guided_params_cls(json_object=True)
        return self._guided_params_cls(json=dict(response_format.schema or {}))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        llm = self._require_llm()
        # Tokenizing a long prompt takes milliseconds of CPU: keep it off the loop, and do
        # it once here (the ids go to generate_async) rather than again inside upstream.
        prompt_ids = await asyncio.to_thread(
            lambda: self.encode_prompt(
                request.prompt, add_special_tokens=request.add_special_tokens
            )
        )
        prompt_tokens = len(prompt_ids)
        if self._prompt_limit is not None and prompt_tokens > self._prompt_limit:
            raise PromptTooLongError(prompt_tokens, self._prompt_limit)
        params = self.sampling_params(request)
        try:
            output = llm.generate_async(prompt_ids, sampling_params=params, streaming=True)
        except ValueError as exc:
            # Upstream's own prompt check (LLM._check_arguments) in case our limit was off.
            if "max_num_tokens" in str(exc) or "max_seq_len" in str(exc):
                limit = self._prompt_limit if self._prompt_limit is not None else prompt_tokens - 1
                raise PromptTooLongError(prompt_tokens, limit) from exc
            raise InvalidRequestError(f"TensorRT-LLM rejected the request: {exc}") from exc
        except RuntimeError as exc:
            # "LLM is shutting down", or a background executor error surfacing here.
            logger.error("TensorRT-LLM refused request %s: %s", request.request_id, exc)
            raise EngineError("the engine is not accepting requests") from exc

        # aclosing: when our consumer closes this stream early, _follow's cleanup (the
        # abort) must run now, not whenever the garbage collector finalises it.
        limit = self._prompt_limit if self._prompt_limit is not None else prompt_tokens - 1
        assert self._pieces is not None  # set by load(), with the LLM
        followed = _follow(output, request, prompt_tokens, limit, self._progress, self._pieces)
        async with contextlib.aclosing(followed) as chunks:
            async for chunk in chunks:
                yield chunk

    def fatal_error(self) -> str | None:
        # What upstream's own generate_async checks (llm._executor, is_shutdown()), plus
        # the two ways a dead worker shows before anything shuts down: an error queued for
        # the next _handle_background_error, and a finished MPI worker future.
        llm = self._llm
        if llm is None:
            return None  # not loaded yet, or shut down by us: nothing has died
        executor = llm._executor
        if executor is None:
            return "TensorRT-LLM was shut down"
        if executor.is_shutdown():
            return "the TensorRT-LLM executor shut down"
        if not executor._error_queue.empty():
            return "the TensorRT-LLM executor reported a fatal error"
        # Only the multi-process proxy has MPI workers; the in-process worker has none.
        if any(future.done() for future in getattr(executor, "mpi_futures", ())):
            return "a TensorRT-LLM worker process exited"
        # Under mpirun the ranks give no futures: the session server on rank 0 is what
        # mpirun tears down when any rank of the group dies.
        if self._mpi_launch is not None and not self._mpi_launch.session_alive():
            return (
                f"the MPI session server at {self._mpi_launch.session_address} is gone: "
                "a rank of the multi-node group exited"
            )
        return self._progress.stalled()

    def stalled_seconds(self) -> float:
        return self._progress.stalled_seconds()

    def queued_requests(self) -> int:
        return self._iteration.queued

    def kv_cache(self) -> KvCacheStats | None:
        return self._iteration.kv_cache

    async def _follow_stats(self, llm: Any) -> None:
        """Keep the latest iteration stats, as trtllm-serve's collector loop drains them
        (LLM.get_stats_async); a failure costs the KV series, never a request."""
        while True:
            try:
                async for stats in llm.get_stats_async(timeout=STATS_POLL_SECONDS):
                    self._iteration = IterationStats.parse(stats)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.debug("reading TensorRT-LLM iteration stats failed", exc_info=True)
            await asyncio.sleep(STATS_POLL_SECONDS)

    async def shutdown(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stats_task
        llm, self._llm = self._llm, None
        if llm is not None:
            # Joins the executor and MPI workers: seconds, so off the loop.
            await asyncio.to_thread(llm.shutdown)


@dataclass(frozen=True)
class MpiLaunch:
    """This process as upstream's trtllm-llmapi-launch starts rank 0's task (the
    multi-node launch, docs/tensorrt-llm-api.md): the LLM then binds to the ranks
    mpirun started through the session server at `session_address`
    (RemoteMpiCommSessionClient), and there are `ranks` of them (tllm_mpi_size)."""

    ranks: int
    session_address: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MpiLaunch | None:
        if env.get("TLLM_SPAWN_PROXY_PROCESS") != "1":
            return None
        address = env.get("TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR", "")
        if not address.startswith("tcp://") or not address.rpartition(":")[2].isdigit():
            raise ValueError(
                f"TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR: must be tcp://host:port, got {address!r}"
            )
        ranks = env.get("tllm_mpi_size", "1")
        if not ranks.isdigit() or int(ranks) < 1:
            raise ValueError(f"tllm_mpi_size: must be a positive integer, got {ranks!r}")
        return cls(ranks=int(ranks), session_address=address)

    def session_alive(self) -> bool:
        host, _, port = self.session_address.removeprefix("tcp://").rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            return False
        return True


# How often the iteration stats are drained; the endpoint picker scrapes every 50 ms
# but routes on relative load, and a second-old KV figure is still the right order.
STATS_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class IterationStats:
    """What the metrics need from one TensorRT-LLM iteration-stats record."""

    queued: int = 0
    kv_cache: KvCacheStats | None = None

    @classmethod
    def parse(cls, record: Any) -> IterationStats:
        """A record from get_stats_async: a dict (1.x) or its JSON text (older releases);
        fields as trtllm-serve's MetricsCollector.log_iteration_stats reads them."""
        stats = json.loads(record) if isinstance(record, str) else record
        kv = stats.get("kvCacheStats") or {}
        cache = None
        if "usedNumBlocks" in kv and kv.get("maxNumBlocks"):
            cache = KvCacheStats(
                used_blocks=int(kv["usedNumBlocks"]),
                max_blocks=int(kv["maxNumBlocks"]),
                tokens_per_block=int(kv.get("tokensPerBlock", 0)),
            )
        return cls(queued=int(stats.get("numQueuedRequests", 0)), kv_cache=cache)


async def _follow(
    output: Any,
    request: GenerationRequest,
    prompt_tokens: int,
    prompt_limit: int,
    progress: ProgressWatch,
    pieces: TokenPieces,
) -> AsyncIterator[GenerationChunk]:
    """Turn a streaming RequestOutput, updated in place, into protocol deltas.

    Text is tracked by how much has been sent rather than by `text_diff` so that a tail
    which may still become a stop string is held back: upstream cuts a stop string out
    of `text` only once it is complete, after its first characters were already
    streamed by trtllm-serve. When the runtime matches a stop string at token level
    instead, it trims the stop's token ids and the detokenizer never sees them, so the
    text keeps the stop's first part: a request that ends on one of its stop strings
    therefore drops the held-back tail. Token counts are tracked the same way because
    upstream also trims `token_ids` when a stop sequence ends the request; so are
    log-probabilities, by position in `token_ids` (see `token_logprobs`).
    """
    stops = tuple(s for s in request.stop if s)
    alternatives = request.logprobs

    sent_text = 0
    sent_tokens = 0
    with progress.tracking():
        try:
            async for _ in output:
                progress.advanced()
                if output.finished:
                    break
                completion = output.outputs[0]
                text = completion.text
                safe_end = len(text) - held_back(text, stops)
                if safe_end > sent_text:
                    tokens = len(completion.token_ids)
                    yield GenerationChunk(
                        text=text[sent_text:safe_end],
                        token_count=max(0, tokens - sent_tokens),
                        prompt_tokens=prompt_tokens,
                        logprobs=None
                        if alternatives is None
                        else token_logprobs(completion, sent_tokens, tokens, alternatives, pieces),
                    )
                    sent_text = safe_end
                    sent_tokens = max(sent_tokens, tokens)
            completion = output.outputs[0]
            text = completion.text
            end = len(text)
            if completion.stop_reason in stops:
                end -= held_back(text, stops)
            tokens = len(completion.token_ids)
            yield GenerationChunk(
                text=text[sent_text:end],
                token_count=max(0, tokens - sent_tokens),
                prompt_tokens=prompt_tokens,
                finish_reason=finish_reason(completion.finish_reason),
                logprobs=None
                if alternatives is None
                else token_logprobs(completion, sent_tokens, tokens, alternatives, pieces),
            )
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except EngineError:
            raise
        except Exception as exc:
            if sent_text == 0 and any(m in str(exc) for m in _CONTEXT_ERROR_MARKERS):
                # The worker refused the prompt for the context window (e.g. a
                # checkpoint whose max_seq_len we could not read up front).
                raise PromptTooLongError(prompt_tokens, prompt_limit) from exc
            logger.exception("TensorRT-LLM failed request %s", request.request_id)
            raise EngineError("the engine failed while generating") from exc
        finally:
            if not output.finished:
                # The client went away (task cancelled or stream closed early): free the
                # sequence's batch slot and KV cache now instead of at max_tokens.
                _abort(output, request.request_id)


def token_logprobs(
    completion: Any, start: int, end: int, alternatives: int, pieces: TokenPieces
) -> tuple[TokenLogprob, ...]:
    """Entries for `completion.token_ids[start:end]`, read at the same positions of
    `completion.logprobs`.

    Positions, not `logprobs_diff`: the diff is per upstream response while our chunks
    hold text back, and a token-level stop word is trimmed from `token_ids` but not
    from `logprobs`. The PyTorch sampler (1.2) gives each position a {token id:
    Logprob(logprob, rank)} of the top `SamplingParams.logprobs` of the raw logits, so a
    sampled token outside them has no value of its own (UNKNOWN_LOGPROB, as OpenAI
    reports one outside its top 20); the TensorRT backend gives plain floats.
    """
    entries = []
    logprobs = completion.logprobs or ()
    for position in range(start, end):
        token_id = completion.token_ids[position]
        scores = logprobs[position] if position < len(logprobs) else {}
        if isinstance(scores, dict):
            sampled = scores.get(token_id)
            logprob = UNKNOWN_LOGPROB if sampled is None else float(sampled.logprob)
            ranked = sorted(scores.items(), key=lambda item: item[1].rank or 0)
            top = tuple(pieces(other, float(lp.logprob)) for other, lp in ranked[:alternatives])
        else:
            logprob, top = float(scores), ()
        entries.append(pieces(token_id, logprob, top))
    return tuple(entries)


def _abort(output: Any, request_id: str) -> None:
    try:
        output.abort()
    except Exception:
        logger.warning("could not abort TensorRT-LLM request %s", request_id, exc_info=True)


def finish_reason(upstream: str | None) -> FinishReason:
    """Map CompletionOutput.finish_reason; a finished request without one ended normally."""
    if upstream is None:
        return "stop"
    reason = _FINISH_REASONS.get(upstream)
    if reason is None:
        logger.warning("unknown TensorRT-LLM finish_reason %r, reporting 'stop'", upstream)
        return "stop"
    return reason


def prompt_token_limit(args: Any) -> int | None:
    """The longest prompt the loaded LLM accepts, from its resolved `llm.args`.

    The PyTorch backend rejects prompts longer than max_num_tokens unless chunked
    prefill is on (LLM._check_arguments); a prompt must also leave max_seq_len room
    for at least one generated token.
    """
    limits: list[int] = []
    max_num_tokens = getattr(args, "max_num_tokens", None)
    if max_num_tokens and not getattr(args, "enable_chunked_prefill", False):
        limits.append(int(max_num_tokens))
    max_seq_len = getattr(args, "max_seq_len", None)
    if max_seq_len:
        limits.append(int(max_seq_len) - 1)
    return min(limits) if limits else None


def checkpoint_max_seq_len(model: str, trust_remote_code: bool) -> int | None:
    """The context window the checkpoint declares (`max_position_embeddings`), read in
    the server process, or None when it declares none (upstream's worker then decides)."""
    if Path(model).is_dir():
        config_file = Path(model) / "config.json"
        if not config_file.is_file():
            return None
        config: dict[str, Any] = json.loads(config_file.read_text())
    else:
        # A hub id: transformers resolves (and caches) config.json as upstream does.
        from transformers import AutoConfig

        try:
            loaded = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as exc:
            raise EngineError(f"could not read the config of model {model!r}: {exc}") from exc
        config = loaded.to_dict()
    for section in (config, config.get("text_config") or {}):
        value = section.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return None


class ProgressWatch:
    """Notices an executor that stopped making progress while requests wait on it.

    A hung NCCL collective, a GPU fault or a worker killed without its future resolving
    leaves every request waiting forever and nothing else reports it. Progress is any
    response from the runtime for any request; a stall is requests in flight and no
    response for longer than `stall_seconds`.
    """

    def __init__(self, stall_seconds: float | None) -> None:
        self._stall_seconds = stall_seconds
        self._in_flight = 0
        self._last_progress = time.monotonic()

    @contextlib.contextmanager
    def tracking(self) -> Any:
        if self._in_flight == 0:
            # An idle engine has not stalled: time starts with the first request.
            self._last_progress = time.monotonic()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def advanced(self) -> None:
        self._last_progress = time.monotonic()

    def stalled_seconds(self) -> float:
        """Seconds without progress while requests are in flight; 0 when idle."""
        if self._in_flight == 0:
            return 0.0
        return time.monotonic() - self._last_progress

    def stalled(self) -> str | None:
        waited = self.stalled_seconds()
        if self._stall_seconds is None or waited <= self._stall_seconds:
            return None
        return (
            f"no progress from the TensorRT-LLM executor for {waited:.1f} s "
            f"with {self._in_flight} requests in flight"
        )
