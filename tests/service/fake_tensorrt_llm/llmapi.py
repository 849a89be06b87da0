"""`tensorrt_llm.llmapi` as the adapter sees it: LLM, KvCacheConfig, RequestOutput.

Upstream sources imitated (see docs/tensorrt-llm-api.md for commits):
tensorrt_llm/llmapi/llm.py, llmapi/llm_args.py, llmapi/tokenizer.py,
executor/result.py, executor/executor.py, executor/proxy.py, executor/utils.py,
llmapi/mpi_session.py and llmapi/trtllm-llmapi-launch (the multi-node launch).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import queue
import socket
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from transformers import AutoTokenizer

from .sampling_params import SamplingParams


class KvCacheConfig(BaseModel):
    """Upstream is a pydantic model with extra="forbid" (StrictBaseModel)."""

    model_config = ConfigDict(extra="forbid")

    enable_block_reuse: bool = True
    max_tokens: int | None = None
    max_attention_window: list[int] | None = None
    sink_token_length: int | None = None
    free_gpu_memory_fraction: float | None = Field(default=0.9, ge=0, le=1)
    host_cache_size: int | None = None
    onboard_blocks: bool = True
    cross_kv_cache_fraction: float | None = None
    secondary_offload_min_priority: int | None = None
    event_buffer_max_size: int = 0
    attention_dp_events_gather_period_ms: int = 5
    enable_partial_reuse: bool = True
    copy_on_partial_reuse: bool = True
    use_uvm: bool = False
    max_gpu_total_bytes: int = Field(default=0, ge=0)
    dtype: str = "auto"
    mamba_ssm_cache_dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    tokens_per_block: int = 32
    use_kv_cache_manager_v2: bool = False
    max_util_for_resume: float = Field(default=0.95, ge=0, le=1)


# The LLM keyword arguments upstream accepts beyond its explicit parameters: the
# BaseLlmArgs and TorchLlmArgs fields read upstream (TorchLlmArgs has a few more).
LLM_ARGS_FIELDS = frozenset(
    {
        "custom_tokenizer",
        "model_kwargs",
        "pipeline_parallel_size",
        "context_parallel_size",
        "gpus_per_node",
        "moe_cluster_parallel_size",
        "moe_tensor_parallel_size",
        "moe_expert_parallel_size",
        "enable_attention_dp",
        "enable_lm_head_tp_in_adp",
        "pp_partition",
        "cp_config",
        "load_format",
        "enable_lora",
        "lora_config",
        "kv_cache_config",
        "enable_chunked_prefill",
        "guided_decoding_backend",
        "batched_logits_processor",
        "iter_stats_max_iterations",
        "request_stats_max_iterations",
        "peft_cache_config",
        "scheduler_config",
        "cache_transceiver_config",
        "sparse_attention_config",
        "speculative_config",
        "max_batch_size",
        "max_input_len",
        "max_seq_len",
        "max_beam_width",
        "max_num_tokens",
        "gather_generation_logits",
        "num_postprocess_workers",
        "postprocess_tokenizer_dir",
        "reasoning_parser",
        "decoding_config",
        "otlp_traces_endpoint",
        "return_perf_metrics",
        "perf_metrics_max_requests",
        "orchestrator_type",
        "env_overrides",
        "garbage_collection_gen0_threshold",
        "cuda_graph_config",
        "attention_dp_config",
        "disable_overlap_scheduler",
        "moe_config",
        "nvfp4_gemm_config",
        "attn_backend",
        "sampler_type",
        "sampler_force_async_worker",
        "enable_iter_perf_stats",
        "enable_iter_req_stats",
        "print_iter_log",
        "batch_wait_timeout_ms",
        "batch_wait_timeout_iters",
        # Accepted by BaseLLM besides the model fields.
        "_mpi_session",
        "backend",
    }
)


@dataclass
class Behaviour:
    """What the fake engine does; tests change it before loading."""

    # Text the model "generates" for every prompt, followed by the end token.
    reply: str = "the quick brown fox jumps over the lazy dog"
    # Seconds between streamed steps (the executor's iterations).
    step_seconds: float = 0.0
    # GPUs the fake machine has; LLM refuses a larger tensor_parallel_size like upstream.
    gpu_count: int = 8
    # The context window the worker derives from the checkpoint when LLM(max_seq_len=)
    # is unset. Upstream never writes it back to llm.args in the calling process.
    max_seq_len: int | None = None
    # A per-request error after this many steps: that request fails, the executor lives.
    fail_after_steps: int | None = None
    # A background (fatal) error after this many steps: the executor shuts itself down.
    fatal_after_steps: int | None = None
    # The executor hangs after this many steps (an NCCL hang, a GPU fault): no further
    # response for any request, no error, no finished future.
    hang_after_steps: int | None = None
    # Requests the executor reports queued in its iteration stats.
    queued_requests: int = 0
    # Where the sampled token ranks among the raw logits at each step (1: the likeliest,
    # as greedy decoding without penalties gives). Rank r has log-probability -r*ln 2.
    sampled_rank: int = 1


BEHAVIOUR = Behaviour()


class TransformersTokenizer:
    """Upstream's wrapper (llmapi/tokenizer.py): forwards to the HF tokenizer in `.tokenizer`."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @property
    def eos_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    def encode(self, text: str, *args: Any, **kwargs: Any) -> list[int]:
        return self.tokenizer.encode(text, *args, **kwargs)

    def decode(self, token_ids: list[int], *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(token_ids, *args, **kwargs)

    def apply_chat_template(self, conversation: Any, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.apply_chat_template(conversation, *args, **kwargs)


@dataclass(slots=True)
class Logprob:
    """executor/result.py: a token's log-probability and its rank in the vocabulary."""

    logprob: float
    rank: int | None = None


# executor/result.py: one {token id: Logprob} per generated token.
TokenLogprobs = list[dict[int, Logprob]]


@dataclass(slots=True)
class CompletionOutput:
    """executor/result.py: one sequence; *_diff are what the latest response added."""

    index: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    cumulative_logprob: float | None = None
    logprobs: TokenLogprobs = field(default_factory=list)
    prompt_logprobs: TokenLogprobs = field(default_factory=list)
    finish_reason: Literal["stop", "length", "timeout", "cancelled"] | None = None
    stop_reason: int | str | None = None
    _last_text_len: int = field(default=0, init=False, repr=False)
    _last_token_ids_len: int = field(default=0, init=False, repr=False)
    _last_logprobs_len: int = field(default=0, init=False, repr=False)

    @property
    def length(self) -> int:
        return len(self.token_ids)

    @property
    def text_diff(self) -> str:
        return self.text[self._last_text_len :]

    @property
    def token_ids_diff(self) -> list[int]:
        return self.token_ids[self._last_token_ids_len :]

    @property
    def logprobs_diff(self) -> TokenLogprobs:
        return self.logprobs[self._last_logprobs_len :]


@dataclass
class _Response:
    """What the executor's dispatch thread hands a result: one iteration's tokens."""

    new_token_ids: list[int]
    is_final: bool
    finish_reason: str | None = None
    # A string is a per-request error; an exception is a background (fatal) one.
    error: Exception | str | None = None
    # The runtime ended the request on a stop word it matched at token level
    # (tllm.FinishReason.STOP_WORDS).
    stop_words: bool = False
    # PyTorch backend with SamplingParams.logprobs: the sampler's log-probabilities of
    # every token generated so far (a list that only grows from response to response).
    log_probs: TokenLogprobs | None = None


class RequestError(RuntimeError):
    """executor/utils.py: one request failed; the executor carries on."""


class GenerationExecutor:
    """The multi-process executor (proxy.py): MPI workers, abort, background errors.

    Upstream's is private to the LLM (`llm._executor`); the error handling follows
    GenerationExecutor._handle_background_error and the proxy's mpi_done_callback.
    """

    def __init__(self, world_size: int, *, remote_session: bool = False) -> None:
        self.running: set[int] = set()
        self.cancel_requested: set[int] = set()
        self.abort_calls: list[int] = []
        self.doing_shutdown = False
        # Errors from the dispatch threads and dead MPI workers, raised (and fatal) at
        # the next _handle_background_error on the main thread.
        self._error_queue: queue.Queue[BaseException] = queue.Queue()
        # Under trtllm-llmapi-launch the ranks belong to mpirun, reached through
        # RemoteMpiCommSessionClient, whose submit() returns no futures: a dead rank
        # shows nowhere here.
        ranks = 0 if remote_session else world_size
        self.mpi_futures: list[Future[None]] = [Future() for _ in range(ranks)]
        for future in self.mpi_futures:
            future.add_done_callback(self._mpi_done)

    def _mpi_done(self, future: Future[None]) -> None:
        if future.exception() is not None:
            self._error_queue.put_nowait(future.exception())

    def worker_died(self, error: BaseException, rank: int = 0) -> None:
        """Fake only: MPI worker `rank` ends with `error` (a crash, an OOM kill)."""
        self.mpi_futures[rank].set_exception(error)

    def is_shutdown(self) -> bool:
        return self.doing_shutdown

    def shutdown(self) -> None:
        self.doing_shutdown = True
        # pre_shutdown aborts every request still running; then the workers exit.
        self.cancel_requested.update(self.running)
        for future in self.mpi_futures:
            if not future.done():
                future.set_result(None)

    def _handle_background_error(self, error: Exception | str | None = None) -> None:
        if error is not None:
            if isinstance(error, str):
                raise RequestError(error)
            if not isinstance(error, RequestError):
                self.shutdown()
            raise error
        if not self._error_queue.empty():
            queued = self._error_queue.get()
            self.shutdown()
            raise queued

    def abort_request(self, request_id: int) -> None:
        # Upstream only queues a CancellingRequest; the worker finishes the request later.
        self.abort_calls.append(request_id)
        self.cancel_requested.add(request_id)


class RequestOutput:
    """One request's result, updated in place by each `async for` step (executor/result.py)."""

    def __init__(
        self,
        request_id: int,
        prompt: str | None,
        prompt_token_ids: list[int],
        sampling_params: SamplingParams,
        tokenizer: TransformersTokenizer,
        executor: GenerationExecutor,
        streaming: bool,
    ) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.prompt_token_ids = prompt_token_ids
        self.sampling_params = sampling_params
        self.tokenizer = tokenizer
        self._executor = executor
        self._streaming = streaming
        self._outputs = [CompletionOutput(0)]
        self._done = False
        self._aborted = False
        # Upstream creates an asyncio-bound queue only when a loop is running in the
        # calling thread; from any other thread the async API does not work.
        self._queue: asyncio.Queue[_Response] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()

    @property
    def outputs(self) -> list[CompletionOutput]:
        return self._outputs[: self.sampling_params.n]

    @property
    def finished(self) -> bool:
        return self._done

    def abort(self) -> None:
        self._executor.abort_request(self.request_id)
        self._aborted = True

    def aborted(self) -> bool:
        return self._aborted

    def __aiter__(self) -> RequestOutput:
        return self

    async def __anext__(self) -> RequestOutput:
        if self._done:
            raise StopAsyncIteration
        response = await self._queue.get()
        if response.error is not None:
            self._executor._handle_background_error(response.error)
        self._handle_response(response)
        # Upstream checks for background errors after every response.
        self._executor._handle_background_error()
        return self

    async def aresult(self) -> RequestOutput:
        while not self._done:
            await self.__anext__()
        return self

    def _handle_response(self, response: _Response) -> None:
        # GenerationResultBase._handle_sequence: tokens first, then the finish reason;
        # a token-level stop word is trimmed from token_ids (unless asked to keep it).
        output = self._outputs[0]
        params = self.sampling_params
        output._last_token_ids_len = len(output.token_ids)
        output.token_ids.extend(response.new_token_ids)
        if response.log_probs is not None:
            # Only the entries this response adds; then (unless cancelled) no more
            # entries than tokens. The stop-word trim below runs after, on token_ids
            # alone, so a trimmed stop word leaves its entries behind.
            output._last_logprobs_len = len(output.logprobs)
            output.logprobs += response.log_probs[output._last_logprobs_len :]
            if response.finish_reason != "cancelled" and len(output.logprobs) > output.length:
                output.logprobs = output.logprobs[: output.length]
        if response.finish_reason == "cancelled":
            output.finish_reason = "cancelled"
        self._done = response.is_final
        if self._done and response.stop_words:
            output.finish_reason = "stop"
            for stop_reason, stop_ids in params._get_stop_reasons_and_words():
                if output.token_ids[-len(stop_ids) :] == stop_ids:
                    output.stop_reason = stop_reason
                    if not params.include_stop_str_in_output:
                        output.token_ids = output.token_ids[: -len(stop_ids)]
                    break
        elif self._done and response.finish_reason != "cancelled":
            output.finish_reason = response.finish_reason
        # DetokenizedGenerationResultBase: streaming decodes only token_ids_diff onto
        # the previous text, so trimmed stop tokens never reach the text.
        output._last_text_len = len(output.text)
        decode_kwargs = {"skip_special_tokens": params.skip_special_tokens}
        if not self._streaming or output.token_ids_diff:
            output.text = self.tokenizer.decode(output.token_ids, **decode_kwargs)
        # Then the string-level check: once a stop string is complete in the text, cut
        # it out, finish with 'stop' and abort.
        if not self._done or output.finish_reason in ("stop", "length"):
            for stop in params._stop_strings():
                if stop in output.text:
                    cut = output.text.find(stop)
                    if params.include_stop_str_in_output:
                        cut += len(stop)
                    output.text = output.text[:cut]
                    output.finish_reason = "stop"
                    output.stop_reason = stop
                    self.abort()
                    self._done = True
                    break


def _remote_mpi_session(world_size: int) -> bool:
    """The multi-node launch as the LLM sees it (executor/utils.py create_mpi_comm_session,
    llmapi/utils.py get_mpi_world_size): with TLLM_SPAWN_PROXY_PROCESS=1 the ranks are
    mpirun's, their number is tllm_mpi_size, and the session server (mgmn_leader_node on
    MPI rank 0) listens at TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR, HMAC key required."""
    if os.environ.get("TLLM_SPAWN_PROXY_PROCESS") != "1":
        return False
    address = os.environ.get("TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR")
    assert address, "TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR is not set."
    assert os.environ.get("TLLM_SPAWN_PROXY_PROCESS_IPC_HMAC_KEY") is not None, (
        "TLLM_SPAWN_PROXY_PROCESS_IPC_HMAC_KEY is not set. "
        "HMAC encryption is required for IPC communication."
    )
    ranks = int(os.environ.get("tllm_mpi_size") or 1)  # noqa: SIM112 (upstream spells it so)
    if world_size > ranks:
        # Modelled on the single-node refusal; upstream's wording here is not recorded.
        raise RuntimeError(f"Only {ranks} MPI ranks are available, but {world_size} are required.")
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError as error:
        raise RuntimeError(f"cannot reach the MPI session server at {address}: {error}") from None
    return True


class LLM:
    """`tensorrt_llm.LLM` (the PyTorch-backend `_TorchLLM`), minus the GPU."""

    _ids = itertools.count(1)

    def __init__(
        self,
        model: str | Path,
        tokenizer: Any = None,
        tokenizer_mode: Literal["auto", "slow"] = "auto",
        skip_tokenizer_init: bool = False,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        revision: str | None = None,
        tokenizer_revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        for key in kwargs:
            if key not in LLM_ARGS_FIELDS:
                raise ValueError(f"{self.__class__.__name__} got invalid argument: {key}")
        kv_cache_config = kwargs.get("kv_cache_config", KvCacheConfig())
        if isinstance(kv_cache_config, dict):
            kv_cache_config = KvCacheConfig(**kv_cache_config)
        if not isinstance(kv_cache_config, KvCacheConfig):
            raise ValueError(f"kv_cache_config must be a KvCacheConfig, got {kv_cache_config!r}")
        world_size = tensor_parallel_size * int(kwargs.get("pipeline_parallel_size") or 1)
        remote_session = _remote_mpi_session(world_size)
        if not remote_session and world_size > BEHAVIOUR.gpu_count:
            raise RuntimeError(
                f"Only {BEHAVIOUR.gpu_count} GPUs are available, but {world_size} are required."
            )
        # Upstream's validator turns an explicit None back into the field default.
        self.args = SimpleNamespace(
            model=model,
            trust_remote_code=trust_remote_code,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            backend=kwargs.get("backend", "pytorch"),
            kv_cache_config=kv_cache_config,
            max_batch_size=kwargs.get("max_batch_size") or 2048,
            max_num_tokens=kwargs.get("max_num_tokens") or 8192,
            max_seq_len=kwargs.get("max_seq_len"),
            enable_chunked_prefill=kwargs.get("enable_chunked_prefill", False),
        )
        self.init_kwargs = {
            "model": model,
            "trust_remote_code": trust_remote_code,
            "tensor_parallel_size": tensor_parallel_size,
            **kwargs,
        }
        # Records for tests: where construction ran, what generate_async was given.
        self.constructed_in_thread = threading.current_thread()
        self.generate_calls: list[dict[str, Any]] = []
        self.shutdown_calls = 0
        self._tokenizer = None
        if not skip_tokenizer_init:
            self._tokenizer = TransformersTokenizer(
                AutoTokenizer.from_pretrained(str(tokenizer or model))
            )
        self._executor: GenerationExecutor | None = GenerationExecutor(
            world_size, remote_session=remote_session
        )
        self._last_executor = self._executor
        # What the worker process resolves (the checkpoint's window unless passed).
        self._worker_max_seq_len = kwargs.get("max_seq_len") or BEHAVIOUR.max_seq_len

    @property
    def tokenizer(self) -> TransformersTokenizer | None:
        return self._tokenizer

    async def get_stats_async(self, timeout: float | None = 2) -> AsyncIterator[dict[str, Any]]:
        """Iteration stats as upstream drains them: nothing unless enable_iter_perf_stats;
        here one record of the current state, each running request holding one block."""
        if not self.init_kwargs.get("enable_iter_perf_stats"):
            return
        running = len(self._last_executor.running)
        yield {
            "numActiveRequests": running,
            "numQueuedRequests": BEHAVIOUR.queued_requests,
            "kvCacheStats": {
                "maxNumBlocks": 1024,
                "freeNumBlocks": 1024 - running,
                "usedNumBlocks": running,
                "tokensPerBlock": 32,
            },
        }

    @property
    def executor(self) -> GenerationExecutor:
        """The fake's engine-side state (upstream's is private and on the GPU)."""
        return self._last_executor

    def generate_async(
        self,
        inputs: Any,
        sampling_params: SamplingParams | None = None,
        lora_request: Any = None,
        prompt_adapter_request: Any = None,
        streaming: bool = False,
        kv_cache_retention_config: Any = None,
        disaggregated_params: Any = None,
        _postproc_params: Any = None,
        scheduling_params: Any = None,
        cache_salt: str | None = None,
    ) -> RequestOutput:
        if self._executor is None or self._executor.is_shutdown():
            raise RuntimeError("LLM is shutting down")
        # The proxy's submit() raises a queued background error (and shuts down).
        self._executor._handle_background_error()
        if sampling_params is None:
            sampling_params = SamplingParams()
        if not isinstance(sampling_params, SamplingParams):
            raise TypeError(
                "The sampling_params must be type SamplingParams or None, "
                f"but got {type(sampling_params)}"
            )
        if sampling_params.end_id is None:
            sampling_params.end_id = self._tokenizer.eos_token_id
        sampling_params._setup(self._tokenizer)
        if sampling_params.n > self.args.max_batch_size:
            raise ValueError(
                f"SamplingParams.n ({sampling_params.n}) should not exceed max_batch_size "
                f"({self.args.max_batch_size})"
            )
        self.generate_calls.append(
            {"inputs": inputs, "sampling_params": sampling_params, "streaming": streaming}
        )
        if isinstance(inputs, str):
            prompt, prompt_token_ids = (
                inputs,
                self._tokenizer.encode(
                    inputs, add_special_tokens=sampling_params.add_special_tokens
                ),
            )
        elif isinstance(inputs, list) and all(isinstance(t, int) for t in inputs):
            prompt, prompt_token_ids = None, list(inputs)
        else:
            raise TypeError(f"The inputs must be type str or list of int, but got {type(inputs)}")
        args = self.args
        if not args.enable_chunked_prefill and len(prompt_token_ids) > args.max_num_tokens:
            raise ValueError(
                f"The sum of prompt length ({float(len(prompt_token_ids))}), query length (0) "
                f"should not exceed max_num_tokens ({args.max_num_tokens})"
            )
        output = RequestOutput(
            next(self._ids),
            prompt,
            prompt_token_ids,
            sampling_params,
            self._tokenizer,
            self._executor,
            streaming,
        )
        self._executor.running.add(output.request_id)
        # The worker runs independently of whoever reads the output, as upstream's does.
        output._worker = asyncio.get_running_loop().create_task(self._work(output))
        return output

    async def _work(self, output: RequestOutput) -> None:
        executor = self._executor
        params = output.sampling_params
        reply = self._tokenizer.encode(BEHAVIOUR.reply, add_special_tokens=False)
        reply.append(self._tokenizer.eos_token_id)
        pending: list[int] = []
        produced: list[int] = []
        try:
            max_tokens = self._deduce_max_tokens(output)
        except ValueError as error:
            # The worker wraps it in RequestError; the client raises it while iterating.
            output._queue.put_nowait(_Response([], True, error=str(error)))
            executor.running.discard(output.request_id)
            return
        stop_words = [ids for _, ids in params._get_stop_reasons_and_words()]
        # The PyTorch backend's OutputConfig.return_log_probs is bool(params.logprobs).
        scored: TokenLogprobs | None = [] if params.logprobs else None
        try:
            for step, token in enumerate(reply):
                await asyncio.sleep(BEHAVIOUR.step_seconds)
                if BEHAVIOUR.hang_after_steps is not None and step >= BEHAVIOUR.hang_after_steps:
                    # Hung until shut down, so tests end cleanly. Shutdown may come from
                    # another thread, where setting an asyncio.Event is not safe.
                    while not executor.doing_shutdown:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                    output._queue.put_nowait(_Response(pending, True, "cancelled"))
                    return
                if BEHAVIOUR.fail_after_steps is not None and step >= BEHAVIOUR.fail_after_steps:
                    output._queue.put_nowait(
                        _Response([], True, error="Encountered an error in forward")
                    )
                    return
                if BEHAVIOUR.fatal_after_steps is not None and step >= BEHAVIOUR.fatal_after_steps:
                    fatal = RuntimeError("Executor worker returned error")
                    output._queue.put_nowait(_Response([], True, error=fatal))
                    return
                if output.request_id in executor.cancel_requested:
                    output._queue.put_nowait(_Response(pending, True, "cancelled"))
                    return
                if token == params.end_id and not params.ignore_eos:
                    output._queue.put_nowait(_Response(pending, True, "stop"))
                    return
                produced.append(token)
                pending.append(token)
                if scored is not None:
                    scored.append(self._top_logprobs(token, params.logprobs))
                log_probs = None if scored is None else list(scored)
                # The runtime matches stop words on token ids before anything is decoded.
                if any(ids and produced[-len(ids) :] == ids for ids in stop_words):
                    output._queue.put_nowait(
                        _Response(pending, True, "stop", stop_words=True, log_probs=log_probs)
                    )
                    return
                final = len(produced) >= max_tokens
                if output._streaming or final:
                    reason = "length" if final else None
                    output._queue.put_nowait(_Response(pending, final, reason, log_probs=log_probs))
                    pending = []
                if final:
                    return
        finally:
            executor.running.discard(output.request_id)

    def _top_logprobs(self, token: int, k: int) -> dict[int, Logprob]:
        """TorchSampler.handle_logprobs (1.2): the k likeliest tokens of the raw logits,
        ranks 1..k, and nothing else: a sampled token outside them is not in the dict."""
        vocabulary = len(self._tokenizer.tokenizer)
        others = (t for t in range(vocabulary) if t != token)
        ranked = {
            rank: token if rank == BEHAVIOUR.sampled_rank else next(others)
            for rank in range(1, k + 1)
        }
        return {t: Logprob(-rank * math.log(2), rank) for rank, t in ranked.items()}

    def _deduce_max_tokens(self, output: RequestOutput) -> int:
        """base_worker.py `_deduce_max_tokens`, with the worker's own max_seq_len."""
        max_tokens = output.sampling_params.max_tokens
        max_seq_len = self._worker_max_seq_len
        if max_seq_len is None:
            return max_tokens
        prompt_len = len(output.prompt_token_ids)
        default_max_tokens = max_seq_len - prompt_len
        if default_max_tokens <= 0:
            raise ValueError(
                f"`default_max_tokens` ({default_max_tokens}) must be greater than 0, "
                f"`default_max_tokens` ({default_max_tokens}) = max_seq_len ({max_seq_len})"
                f" - `splited_prompt_len` ({prompt_len}) - `query_token_len` (0)"
            )
        return min(max_tokens, default_max_tokens)

    def shutdown(self) -> None:
        self.shutdown_calls += 1
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
