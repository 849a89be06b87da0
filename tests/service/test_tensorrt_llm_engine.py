"""Contract tests for the TensorRT-LLM engine, run against tests/service/fake_tensorrt_llm.

The fake is loaded under the module name `tensorrt_llm`, so the adapter's lazy imports
find it exactly where they would find the real package. UPSTREAM_SIGNATURES records
what was read in NVIDIA/TensorRT-LLM; the first tests pin the fake to that record so
the fake cannot drift into accepting calls the real package would refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from service.engines import create_engine
from service.engines import tensorrt_llm as tensorrt_llm_engine
from service.engines.base import (
    UNKNOWN_LOGPROB,
    ChatMessage,
    EngineError,
    GenerationChunk,
    GenerationRequest,
    InvalidRequestError,
    KvCacheStats,
    PromptTooLongError,
    TokenLogprob,
)
from service.engines.stopping import held_back
from service.engines.tensorrt_llm import (
    IterationStats,
    MpiLaunch,
    TensorRTLLMEngine,
    finish_reason,
)
from service.settings import Settings
from tests.service.fake_loader import FAKE_DIR, load_fake
from tests.service.merged_reader import read_pausing_after_first

REPO_ROOT = Path(__file__).resolve().parents[2]

# Signatures read in NVIDIA/TensorRT-LLM (docs/tensorrt-llm-api.md has the details).
# Notation: "name" positional-or-keyword, "name=" with a default, "kw:name=" keyword-only
# with a default, "**name" var-keyword.
UPSTREAM_SIGNATURES: dict[str, dict[str, Any]] = {
    "LLM.__init__": {
        # class LLM(_TorchLLM), same explicit parameters as BaseLLM.__init__
        "source": "tensorrt_llm/llmapi/llm.py @ 4c05a74891e4df8066f08ed4ce14b0972abe4e25",
        "params": [
            "self",
            "model",
            "tokenizer=",
            "tokenizer_mode=",
            "skip_tokenizer_init=",
            "trust_remote_code=",
            "tensor_parallel_size=",
            "dtype=",
            "revision=",
            "tokenizer_revision=",
            "**kwargs",
        ],
    },
    "LLM.generate_async": {
        "source": "tensorrt_llm/llmapi/llm.py @ 4c05a74891e4df8066f08ed4ce14b0972abe4e25",
        "params": [
            "self",
            "inputs",
            "sampling_params=",
            "lora_request=",
            "prompt_adapter_request=",
            "streaming=",
            "kv_cache_retention_config=",
            "disaggregated_params=",
            "_postproc_params=",
            "scheduling_params=",
            "cache_salt=",
        ],
    },
    "LLM.shutdown": {
        "source": "tensorrt_llm/llmapi/llm.py @ 4c05a74891e4df8066f08ed4ce14b0972abe4e25",
        "params": ["self"],
    },
    "GenerationExecutor.is_shutdown": {
        # What LLM.generate_async asks before refusing with "LLM is shutting down".
        "source": "tensorrt_llm/executor/executor.py @ ed53795b33fc139493f762a1c6c53f691cf52d38",
        "params": ["self"],
    },
    "SamplingParams": {
        # @dataclass(slots=True, kw_only=True); init=False fields are not parameters.
        "source": "tensorrt_llm/sampling_params.py @ a98a9061d72f6fd39f5d055ebdd2c6878a100e2c",
        "params": [
            f"kw:{name}="
            for name in [
                "end_id",
                "pad_id",
                "max_tokens",
                "bad",
                "bad_token_ids",
                "stop",
                "stop_token_ids",
                "include_stop_str_in_output",
                "embedding_bias",
                "logits_processor",
                "apply_batched_logits_processor",
                "n",
                "best_of",
                "use_beam_search",
                "top_k",
                "top_p",
                "top_p_min",
                "top_p_reset_ids",
                "top_p_decay",
                "seed",
                "temperature",
                "min_tokens",
                "beam_search_diversity_rate",
                "repetition_penalty",
                "presence_penalty",
                "frequency_penalty",
                "length_penalty",
                "early_stopping",
                "no_repeat_ngram_size",
                "min_p",
                "beam_width_array",
                "logprobs",
                "prompt_logprobs",
                "return_context_logits",
                "return_generation_logits",
                "exclude_input_from_output",
                "return_encoder_output",
                "return_perf_metrics",
                "additional_model_outputs",
                "_context_logits_auto_enabled",
                "_generation_logits_auto_enabled",
                "_return_log_probs",
                "lookahead_config",
                "guided_decoding",
                "ignore_eos",
                "detokenize",
                "add_special_tokens",
                "truncate_prompt_tokens",
                "skip_special_tokens",
                "spaces_between_special_tokens",
            ]
        ],
    },
    "KvCacheConfig": {
        # pydantic StrictBaseModel (extra="forbid"): every field is keyword-only.
        "source": "tensorrt_llm/llmapi/llm_args.py, newest stored version (see docs)",
        "params": [
            f"kw:{name}="
            for name in [
                "enable_block_reuse",
                "max_tokens",
                "max_attention_window",
                "sink_token_length",
                "free_gpu_memory_fraction",
                "host_cache_size",
                "onboard_blocks",
                "cross_kv_cache_fraction",
                "secondary_offload_min_priority",
                "event_buffer_max_size",
                "attention_dp_events_gather_period_ms",
                "enable_partial_reuse",
                "copy_on_partial_reuse",
                "use_uvm",
                "max_gpu_total_bytes",
                "dtype",
                "mamba_ssm_cache_dtype",
                "tokens_per_block",
                "use_kv_cache_manager_v2",
                "max_util_for_resume",
            ]
        ],
    },
}

# Defaults the adapter works around or relies on.
UPSTREAM_DEFAULTS: dict[tuple[str, str], Any] = {
    ("SamplingParams", "max_tokens"): 32,
    ("SamplingParams", "seed"): None,
    ("SamplingParams", "add_special_tokens"): True,
    ("LLM.generate_async", "streaming"): False,
    ("KvCacheConfig", "free_gpu_memory_fraction"): 0.9,
}

# BaseLlmArgs fields the adapter passes as LLM(**kwargs) (llm_args.py, same version).
UPSTREAM_LLM_ARGS_USED = frozenset(
    {"max_batch_size", "max_num_tokens", "max_seq_len", "kv_cache_config", "enable_iter_perf_stats"}
)

# Attributes of RequestOutput / CompletionOutput the adapter reads (executor/result.py @
# a678b91aafbeff265cd0b764abb59d7def624ac2; llmapi/llm.py RequestOutput).
UPSTREAM_OUTPUT_ATTRIBUTES = {
    "RequestOutput": ("outputs", "finished", "abort", "__aiter__", "__anext__"),
    "CompletionOutput": ("text", "token_ids", "finish_reason", "stop_reason", "logprobs"),
}

# What the engine's fatal_error() reads: the LLM's private `_executor` (None after
# LLM.shutdown(); llm.py @ 4c05a748), the executor's `_error_queue` of background errors
# (executor.py @ ed53795b) and the proxy's `mpi_futures`, one per worker (proxy.py @
# b93e14ca093e446615f3009cae6ca5a33c4f2f56).
UPSTREAM_LLM_INSTANCE_ATTRIBUTES = ("_executor",)
UPSTREAM_EXECUTOR_INSTANCE_ATTRIBUTES = ("_error_queue", "doing_shutdown", "mpi_futures")

REPLY = "the quick brown fox jumps over the lazy dog"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %} {{ m['role'] }} : {{ m['content'] }}"
    "{% endfor %}{% if add_generation_prompt %} assistant :{% endif %}"
)


def render_signature(obj: Any) -> list[str]:
    rendered = []
    for param in inspect.signature(obj).parameters.values():
        text = param.name
        if param.kind is param.VAR_KEYWORD:
            text = "**" + text
        elif param.kind is param.VAR_POSITIONAL:
            text = "*" + text
        elif param.kind is param.KEYWORD_ONLY:
            text = "kw:" + text
        if param.default is not param.empty:
            text += "="
        rendered.append(text)
    return rendered


def drop_tensorrt_llm_modules() -> None:
    for name in [n for n in sys.modules if n == "tensorrt_llm" or n.startswith("tensorrt_llm.")]:
        del sys.modules[name]


@pytest.fixture
def fake() -> Iterator[ModuleType]:
    """The fake package installed as `tensorrt_llm`, fresh (default behaviour) per test."""
    drop_tensorrt_llm_modules()
    try:
        yield load_fake()
    finally:
        drop_tensorrt_llm_modules()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding a tiny real Hugging Face tokenizer with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", "user", "assistant", ":", *dict.fromkeys(REPLY.split())]
    words += ["hi", "there", "tell", "me", "a", "story"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # Like Llama's: plain encode() prepends BOS.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", words.index("<s>"))]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        chat_template=CHAT_TEMPLATE,
    )
    path = tmp_path_factory.mktemp("model")
    hf.save_pretrained(path)
    return path


def engine_for(model_dir: Path, **overrides: Any) -> TensorRTLLMEngine:
    settings: dict[str, Any] = {
        "model": str(model_dir),
        "tensor_parallel_size": 1,
        "max_batch_size": None,
        "max_num_tokens": None,
        "kv_cache_free_gpu_memory_fraction": 0.9,
        "trust_remote_code": False,
    }
    settings.update(overrides)
    return TensorRTLLMEngine(**settings)


@contextlib.contextmanager
def served(model_dir: Path) -> Iterator[tuple[Any, Any]]:
    """The app on a TensorRT-LLM engine over the fake, loaded: (TestClient, app)."""
    from tests.servers import fast_settings, ready_client

    with ready_client(fast_settings(), engine_for(model_dir)) as client:
        yield client, client.app


def request(prompt: str = "tell me a story", **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "prompt": prompt,
        "max_tokens": 64,
        "temperature": 0.7,
        "top_p": 0.9,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


async def collect(engine: TensorRTLLMEngine, req: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.stream(req)]


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# --- the fake matches upstream ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UPSTREAM_SIGNATURES))
def test_fake_signatures_match_the_upstream_record(fake: ModuleType, name: str) -> None:
    owner, _, member = name.partition(".")
    obj = getattr(fake.llmapi, owner)
    if member:
        obj = getattr(obj, member)
    assert render_signature(obj) == UPSTREAM_SIGNATURES[name]["params"], (
        f"{name} drifted from {UPSTREAM_SIGNATURES[name]['source']}"
    )


@pytest.mark.parametrize(("name", "param"), sorted(UPSTREAM_DEFAULTS))
def test_fake_defaults_match_upstream(fake: ModuleType, name: str, param: str) -> None:
    owner, _, member = name.partition(".")
    obj = getattr(fake.llmapi, owner)
    if member:
        obj = getattr(obj, member)
    default = inspect.signature(obj).parameters[param].default
    assert default == UPSTREAM_DEFAULTS[(name, param)]


def test_fake_exports_the_upstream_import_paths(fake: ModuleType) -> None:
    assert fake.LLM is fake.llmapi.LLM
    assert fake.SamplingParams is fake.llmapi.SamplingParams
    assert sys.modules["tensorrt_llm.llmapi"].KvCacheConfig is fake.llmapi.KvCacheConfig
    assert UPSTREAM_LLM_ARGS_USED <= fake.llmapi.LLM_ARGS_FIELDS
    for cls_name, attributes in UPSTREAM_OUTPUT_ATTRIBUTES.items():
        cls = getattr(fake.llmapi, cls_name)
        missing = [a for a in attributes if not hasattr(cls, a)]
        assert not missing, f"fake {cls_name} lacks {missing}"


def test_fake_llm_has_the_executor_state_upstream_has(fake: ModuleType, model_dir: Path) -> None:
    llm = fake.LLM(str(model_dir))
    assert [a for a in UPSTREAM_LLM_INSTANCE_ATTRIBUTES if not hasattr(llm, a)] == []
    executor = llm._executor
    missing = [a for a in UPSTREAM_EXECUTOR_INSTANCE_ATTRIBUTES if not hasattr(executor, a)]
    assert missing == [], f"fake executor lacks {missing}"
    assert executor._error_queue.empty() and not executor.is_shutdown()
    llm.shutdown()
    assert llm._executor is None


def test_fake_rejects_what_upstream_rejects(fake: ModuleType, model_dir: Path) -> None:
    with pytest.raises(ValueError, match="LLM got invalid argument: max_batch"):
        fake.LLM(str(model_dir), max_batch=8)
    with pytest.raises(ValueError, match="extra"):
        fake.llmapi.KvCacheConfig(free_gpu_memory=0.5)
    with pytest.raises(ValueError, match="less than or equal to 1"):
        fake.llmapi.KvCacheConfig(free_gpu_memory_fraction=1.5)
    with pytest.raises(TypeError, match="random_seed"):
        fake.SamplingParams(random_seed=1)
    with pytest.raises(TypeError):
        fake.SamplingParams(64)  # keyword-only, as upstream


def test_fake_generate_async_needs_the_event_loop_thread(fake: ModuleType, model_dir: Path) -> None:
    llm = fake.LLM(str(model_dir))
    with pytest.raises(RuntimeError, match="no running event loop"):
        llm.generate_async("hi", sampling_params=fake.SamplingParams(max_tokens=1))


# --- construction and loading ----------------------------------------------------------


def test_module_and_constructor_do_not_import_tensorrt_llm() -> None:
    code = (
        "import sys\n"
        "from service.engines.tensorrt_llm import TensorRTLLMEngine\n"
        "TensorRTLLMEngine(model='m')\n"
        "assert 'tensorrt_llm' not in sys.modules, 'imported at module load'\n"
        "assert 'torch' not in sys.modules, 'torch imported at module load'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model": ""}, "model"),
        ({"tensor_parallel_size": 0}, "tensor_parallel_size"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_num_tokens": -1}, "max_num_tokens"),
        ({"kv_cache_free_gpu_memory_fraction": 1.2}, "kv_cache_free_gpu_memory_fraction"),
    ],
)
def test_bad_settings_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        engine_for(Path("m"), **overrides)


def test_llm_kwargs_omit_unset_settings(fake: ModuleType) -> None:
    kwargs = engine_for(Path("m"), kv_cache_free_gpu_memory_fraction=None).llm_kwargs(
        fake.llmapi.KvCacheConfig
    )
    assert kwargs == {
        "model": "m",
        "tensor_parallel_size": 1,
        "trust_remote_code": False,
        "enable_iter_perf_stats": True,
    }


def test_llm_kwargs_pass_every_setting(fake: ModuleType) -> None:
    engine = engine_for(
        Path("m"),
        tensor_parallel_size=2,
        max_batch_size=32,
        max_num_tokens=4096,
        kv_cache_free_gpu_memory_fraction=0.75,
        trust_remote_code=True,
    )
    kwargs = engine.llm_kwargs(fake.llmapi.KvCacheConfig)
    kv = kwargs.pop("kv_cache_config")
    assert isinstance(kv, fake.llmapi.KvCacheConfig)
    assert kv.free_gpu_memory_fraction == 0.75
    assert kwargs == {
        "model": "m",
        "tensor_parallel_size": 2,
        "max_batch_size": 32,
        "max_num_tokens": 4096,
        "trust_remote_code": True,
        "enable_iter_perf_stats": True,
    }


async def test_load_builds_llm_off_the_event_loop(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir, max_num_tokens=512, max_batch_size=16)
    info = await engine.load()
    llm = engine._llm
    assert llm.constructed_in_thread is not threading.current_thread()
    assert llm.init_kwargs["max_num_tokens"] == 512
    assert llm.init_kwargs["max_batch_size"] == 16
    assert llm.init_kwargs["kv_cache_config"].free_gpu_memory_fraction == 0.9
    assert info.model_name == str(model_dir)
    assert info.max_context_tokens == 512
    assert info.extra["tensorrt_llm_version"] == fake.__version__
    await engine.shutdown()


async def test_prompt_limit_defaults_to_upstream_max_num_tokens(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    info = await engine.load()
    assert info.max_context_tokens == 8192  # BaseLlmArgs.max_num_tokens default
    await engine.shutdown()


def model_with_window(model_dir: Path, tmp_path: Path, window: int) -> Path:
    """A copy of the tiny model whose config.json declares a context window."""
    path = tmp_path / "model-with-config"
    shutil.copytree(model_dir, path)
    (path / "config.json").write_text(json.dumps({"max_position_embeddings": window}))
    return path


async def test_context_window_is_read_from_the_checkpoint_and_passed_to_llm(
    fake: ModuleType, model_dir: Path, tmp_path: Path
) -> None:
    # The worker derives the same window, but upstream never writes it back to llm.args.
    fake.llmapi.BEHAVIOUR.max_seq_len = 32
    engine = engine_for(model_with_window(model_dir, tmp_path, 32), max_num_tokens=512)
    info = await engine.load()
    assert engine._llm.init_kwargs["max_seq_len"] == 32
    assert info.max_context_tokens == 32  # what max_tokens is checked against
    with pytest.raises(PromptTooLongError) as caught:
        await collect(engine, request(prompt=" ".join(["hi"] * 40)))
    assert caught.value.limit == 31  # one token must be left to generate
    assert engine._llm.generate_calls == []  # refused before reaching the worker
    await engine.shutdown()


async def test_max_seq_len_setting_overrides_the_checkpoint(
    fake: ModuleType, model_dir: Path, tmp_path: Path
) -> None:
    engine = engine_for(model_with_window(model_dir, tmp_path, 4096), max_seq_len=16)
    info = await engine.load()
    assert engine._llm.init_kwargs["max_seq_len"] == 16
    assert info.max_context_tokens == 16
    await engine.shutdown()


async def test_worker_refusing_a_prompt_for_its_window_is_prompt_too_long(
    fake: ModuleType, model_dir: Path
) -> None:
    # No config.json, so the window is unknown here; only the worker knows it.
    fake.llmapi.BEHAVIOUR.max_seq_len = 16
    engine = engine_for(model_dir)
    info = await engine.load()
    assert info.max_context_tokens == 8192  # max_num_tokens: all the server knows
    with pytest.raises(PromptTooLongError) as caught:
        await collect(engine, request(prompt=" ".join(["hi"] * 20)))
    assert caught.value.prompt_tokens == 21
    assert len(engine._llm.generate_calls) == 1  # the worker, not us, refused it
    await engine.shutdown()


def test_prompt_longer_than_the_window_is_a_400_context_length_exceeded(
    fake: ModuleType, model_dir: Path
) -> None:
    from tests.servers import fast_settings, ready_client

    fake.llmapi.BEHAVIOUR.max_seq_len = 16
    with ready_client(fast_settings(), engine_for(model_dir)) as client:
        runtime = client.app.state.runtime
        prompt = " ".join(["hi"] * 20)
        response = client.post(
            "/v1/completions", json={"model": str(model_dir), "prompt": prompt, "max_tokens": 2}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "context_length_exceeded"
        assert runtime.phase == "ready"


async def test_load_without_the_package_says_which_image(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    drop_tensorrt_llm_modules()
    monkeypatch.setitem(sys.modules, "tensorrt_llm", None)  # import now raises ImportError
    with pytest.raises(EngineError, match="TensorRT-LLM image"):
        await engine_for(model_dir).load()


async def test_native_library_missing_at_import_is_a_clear_engine_error(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path, tmp_path: Path
) -> None:
    from tests.service.fake_tensorrt_llm._native import (
        MISSING_LIBRARIES_ENV,
        python_library_names,
    )

    # The adapter's own `import tensorrt_llm` runs the package's __init__, which
    # dlopens libpython by soname; this image lacks the unversioned name.
    drop_tensorrt_llm_modules()
    (tmp_path / "tensorrt_llm").symlink_to(FAKE_DIR, target_is_directory=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    missing = python_library_names()[1]
    monkeypatch.setenv(MISSING_LIBRARIES_ENV, missing)
    try:
        with pytest.raises(EngineError, match=f"native library the image lacks: {missing}"):
            await engine_for(model_dir).load()
    finally:
        drop_tensorrt_llm_modules()


async def test_load_with_too_many_gpus_is_a_clear_error(fake: ModuleType, model_dir: Path) -> None:
    fake.llmapi.BEHAVIOUR.gpu_count = 1
    with pytest.raises(EngineError, match="could not start: Only 1 GPUs are available"):
        await engine_for(model_dir, tensor_parallel_size=2).load()


# --- streaming --------------------------------------------------------------------------


async def test_responses_queued_while_the_reader_was_busy_reach_the_server_as_one_chunk(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    direct = await collect(engine, request(request_id="direct", logprobs=1))
    # The reader busy (a slow client's write) while the worker keeps stepping.
    merged = request(request_id="merged", logprobs=1)
    chunks = await read_pausing_after_first(engine, merged, lambda: asyncio.sleep(0.05))
    assert len(chunks) < len(direct)
    assert "".join(c.text for c in chunks) == REPLY == "".join(c.text for c in direct)
    assert sum(c.token_count for c in chunks) == sum(c.token_count for c in direct)
    for chunk in chunks:
        assert len(chunk.logprobs or ()) == chunk.token_count
    entries = [entry for c in chunks for entry in c.logprobs or ()]
    assert entries == [entry for c in direct for entry in c.logprobs or ()]
    assert [c.finish_reason for c in chunks][-1] == "stop"


async def test_stream_yields_deltas_that_add_up(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    chunks = await collect(engine, request())
    reply_tokens = len(REPLY.split())
    assert len(chunks) > 1, "streaming=True must give more than one chunk"
    assert "".join(c.text for c in chunks) == REPLY
    assert sum(c.token_count for c in chunks) == reply_tokens
    assert [c.finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    prompt_tokens = len(engine.encode_prompt("tell me a story"))
    assert {c.prompt_tokens for c in chunks} == {prompt_tokens}
    call = engine._llm.generate_calls[0]
    assert call["streaming"] is True
    assert call["inputs"] == engine.encode_prompt("tell me a story")
    assert engine._llm.executor.abort_calls == []  # a finished request is not aborted
    await engine.shutdown()


async def test_max_tokens_is_always_passed(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    chunks = await collect(engine, request(max_tokens=3))
    assert engine._llm.generate_calls[0]["sampling_params"].max_tokens == 3
    assert sum(c.token_count for c in chunks) == 3
    assert "".join(c.text for c in chunks) == "the quick brown"
    assert chunks[-1].finish_reason == "length"
    long_chunks = await collect(engine, request(max_tokens=100))
    assert engine._llm.generate_calls[1]["sampling_params"].max_tokens == 100
    assert sum(c.token_count for c in long_chunks) > 3
    await engine.shutdown()


async def test_sampling_fields_use_upstream_names(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    params = engine.sampling_params(request(temperature=0.5, top_p=0.8, stop=("dog",)))
    assert isinstance(params, fake.SamplingParams)
    assert (params.temperature, params.top_p, params.stop) == (0.5, 0.8, ["dog"])
    greedy = engine.sampling_params(request(temperature=0.0, top_p=0.9))
    assert (greedy.temperature, greedy.top_p) == (0.0, None)
    # top_p=0 means greedy, which the runtime refuses to take as top_p=0.
    top_p_zero = engine.sampling_params(request(temperature=1.0, top_p=0.0))
    assert (top_p_zero.temperature, top_p_zero.top_p) == (0.0, None)
    assert engine.sampling_params(request()).stop is None
    await engine.shutdown()


async def test_seed_is_refused_because_the_pytorch_sampler_ignores_it(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    info = await engine.load()
    assert info.supports_seed is False
    with pytest.raises(InvalidRequestError, match=r"^seed: .*per-request seeds"):
        engine.sampling_params(request(seed=7))
    assert engine.sampling_params(request()).seed is None
    await engine.shutdown()


def test_a_seeded_request_is_a_400_naming_seed(fake: ModuleType, model_dir: Path) -> None:
    from tests.servers import fast_settings, ready_client

    with ready_client(fast_settings(), engine_for(model_dir)) as client:
        runtime = client.app.state.runtime
        body = {"model": str(model_dir), "prompt": "hi", "max_tokens": 2, "seed": 1}
        response = client.post("/v1/completions", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "seed"
        assert runtime.engine._llm.generate_calls == []


async def test_bad_max_tokens_is_refused(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    with pytest.raises(EngineError, match=r"^max_tokens: "):
        await collect(engine, request(max_tokens=0))
    await engine.shutdown()


async def test_stop_string_is_never_partly_streamed(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    chunks = await collect(engine, request(stop=("brown fox",)))
    assert "".join(c.text for c in chunks) == "the quick "
    assert not any("brown" in c.text for c in chunks)
    assert chunks[-1].finish_reason == "stop"
    await engine.shutdown()


async def test_fake_trims_token_level_stop_words_like_upstream(
    fake: ModuleType, model_dir: Path
) -> None:
    # The runtime matches "brown fox" on token ids and trims them; the incremental
    # detokenizer then sees no new ids, so the text keeps the first half of the stop.
    llm = fake.LLM(str(model_dir))
    params = fake.SamplingParams(max_tokens=20, stop=["brown fox"])
    output = llm.generate_async(
        llm.tokenizer.encode("hi", add_special_tokens=False), params, streaming=True
    )
    async for _ in output:
        pass
    completion = output.outputs[0]
    assert (completion.finish_reason, completion.stop_reason) == ("stop", "brown fox")
    assert completion.text == "the quick brown"
    assert llm.tokenizer.decode(completion.token_ids) == "the quick"
    llm.shutdown()


async def test_stop_strings_end_streams_without_their_first_part(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    for stop in ("fox jumps over", "quick", "dog"):
        chunks = await collect(engine, request(stop=(stop,)))
        text = "".join(c.text for c in chunks)
        # Word-level decoding drops the space before a stop that starts on a token.
        assert text.rstrip() == REPLY[: REPLY.index(stop)].rstrip(), stop
        assert chunks[-1].finish_reason == "stop"
    await engine.shutdown()


def test_held_back_keeps_only_possible_stop_starts() -> None:
    assert held_back("the quick bro", ("brown fox",)) == 3
    assert held_back("the quick brown", ("brown fox",)) == 5
    assert held_back("the quick brown f", ("brown fox", "x")) == 7
    assert held_back("the quick", ("brown fox",)) == 0
    assert held_back("aa", ("aab",)) == 2
    assert held_back("anything", ()) == 0


@pytest.mark.parametrize(
    ("upstream", "ours"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("cancelled", "abort"),
        ("timeout", "abort"),
        (None, "stop"),
        ("not_finished", "stop"),
    ],
)
def test_finish_reasons_map_to_the_protocol(upstream: str | None, ours: str) -> None:
    assert finish_reason(upstream) == ours


# --- cancellation -----------------------------------------------------------------------


async def test_cancelling_the_consumer_aborts_the_request(
    fake: ModuleType, model_dir: Path
) -> None:
    fake.llmapi.BEHAVIOUR.step_seconds = 0.02
    fake.llmapi.BEHAVIOUR.reply = " ".join([REPLY] * 20)
    engine = engine_for(model_dir)
    await engine.load()
    received: list[GenerationChunk] = []

    async def consume() -> None:
        async for chunk in engine.stream(request(max_tokens=1000)):
            received.append(chunk)

    task = asyncio.create_task(consume())
    await wait_until(lambda: len(received) >= 2)
    executor = engine._llm.executor
    assert len(executor.running) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(executor.abort_calls) == 1
    await wait_until(lambda: not executor.running)  # the engine freed the sequence
    assert len(received) < 20
    await engine.shutdown()


async def test_closing_the_stream_early_aborts_the_request(
    fake: ModuleType, model_dir: Path
) -> None:
    fake.llmapi.BEHAVIOUR.step_seconds = 0.01
    engine = engine_for(model_dir)
    await engine.load()
    stream = engine.stream(request())
    first = await anext(stream)
    assert first.text
    await stream.aclose()
    executor = engine._llm.executor
    assert len(executor.abort_calls) == 1
    await wait_until(lambda: not executor.running)
    await engine.shutdown()


async def test_engine_failure_mid_stream_is_an_engine_error(
    fake: ModuleType, model_dir: Path
) -> None:
    fake.llmapi.BEHAVIOUR.fail_after_steps = 2
    engine = engine_for(model_dir)
    await engine.load()
    with pytest.raises(EngineError, match=r"^the engine failed while generating$"):
        await collect(engine, request())
    await engine.shutdown()


# --- prompt length ----------------------------------------------------------------------


async def test_long_prompt_is_refused_before_submission(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir, max_num_tokens=8)
    await engine.load()
    with pytest.raises(PromptTooLongError) as caught:
        await collect(engine, request(prompt=" ".join(["hi"] * 20)))
    assert (caught.value.prompt_tokens, caught.value.limit) == (21, 8)  # 20 words + BOS
    assert engine._llm.generate_calls == []
    await engine.shutdown()


async def test_upstream_prompt_check_also_maps_to_prompt_too_long(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir, max_num_tokens=8)
    await engine.load()
    engine._prompt_limit = None  # as if the limit were unknown: upstream must catch it
    with pytest.raises(PromptTooLongError) as caught:
        await collect(engine, request(prompt=" ".join(["hi"] * 20)))
    assert caught.value.prompt_tokens == 21
    assert len(engine._llm.generate_calls) == 1
    await engine.shutdown()


# --- chat template ----------------------------------------------------------------------


async def test_chat_prompt_keeps_a_single_bos(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    prompt = engine.apply_chat_template([ChatMessage("user", "hi there")])
    assert prompt == "<s> user : hi there assistant :"
    bos = engine._llm.tokenizer.tokenizer.bos_token_id
    chat_ids = engine.encode_prompt(prompt, add_special_tokens=False)
    assert chat_ids[0] == bos
    assert chat_ids.count(bos) == 1
    plain_ids = engine.encode_prompt("hi there")
    assert plain_ids[0] == bos  # completion prompts get BOS from the tokenizer
    await engine.shutdown()


def test_chat_prompts_are_tokenized_without_added_special_tokens(
    fake: ModuleType, model_dir: Path
) -> None:
    """As trtllm-serve: the template decides the special tokens, even when it writes none."""
    from tests.servers import fast_settings, ready_client

    with ready_client(fast_settings(), engine_for(model_dir)) as client:
        runtime = client.app.state.runtime
        llm = runtime.engine._llm
        hf = llm.tokenizer.tokenizer
        hf.chat_template = (
            "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}assistant :"
        )
        body = {
            "model": str(model_dir),
            "messages": [{"role": "user", "content": "hi there"}],
            "max_tokens": 2,
        }
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        rendered = "user : hi there assistant :"
        assert llm.generate_calls[0]["inputs"] == hf.encode(rendered, add_special_tokens=False)
        body = {"model": str(model_dir), "prompt": "hi there", "max_tokens": 2}
        assert client.post("/v1/completions", json=body).status_code == 200
        assert llm.generate_calls[1]["inputs"][0] == hf.bos_token_id


async def test_model_without_chat_template_is_an_engine_error(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    engine._llm.tokenizer.tokenizer.chat_template = None
    with pytest.raises(EngineError, match="chat template"):
        engine.apply_chat_template([ChatMessage("user", "hi")])
    await engine.shutdown()


# --- lifecycle --------------------------------------------------------------------------


async def test_shutdown_calls_upstream_once(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    llm = engine._llm
    await engine.shutdown()
    await engine.shutdown()
    assert llm.shutdown_calls == 1
    with pytest.raises(EngineError, match="not loaded"):
        await collect(engine, request())


async def test_requests_after_upstream_shutdown_are_refused(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    engine._llm.shutdown()  # e.g. upstream's own atexit or error handler shut it down
    with pytest.raises(EngineError, match="not accepting requests"):
        await collect(engine, request())


# --- health ---------------------------------------------------------------------------


async def test_a_serving_engine_has_no_fatal_error(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    assert engine.fatal_error() is None  # not loaded yet: loading is not dying
    await engine.load()
    await collect(engine, request())
    fake.llmapi.BEHAVIOUR.fail_after_steps = 1
    with pytest.raises(EngineError):
        await collect(engine, request())
    assert engine.fatal_error() is None  # one request's error leaves the executor up
    await engine.shutdown()
    assert engine.fatal_error() is None  # our own shutdown is not a death


async def test_executor_error_mid_stream_is_fatal(fake: ModuleType, model_dir: Path) -> None:
    fake.llmapi.BEHAVIOUR.fatal_after_steps = 2
    engine = engine_for(model_dir)
    await engine.load()
    with pytest.raises(EngineError, match=r"^the engine failed while generating$"):
        await collect(engine, request())
    assert engine.fatal_error() == "the TensorRT-LLM executor shut down"
    with pytest.raises(EngineError, match="not accepting requests"):
        await collect(engine, request())
    await engine.shutdown()


async def test_dead_worker_is_fatal_before_any_request_notices(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir, tensor_parallel_size=2)
    await engine.load()
    executor = engine._llm._executor
    executor.worker_died(RuntimeError("rank 1 killed"), rank=1)
    assert engine.fatal_error() == "the TensorRT-LLM executor reported a fatal error"
    # The next request makes upstream raise the queued error and shut down.
    with pytest.raises(EngineError, match="not accepting requests"):
        await collect(engine, request())
    assert executor.is_shutdown()
    await engine.shutdown()


async def test_worker_that_exited_without_an_error_is_fatal(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    engine._llm._executor.mpi_futures[0].set_result(None)
    assert engine.fatal_error() == "a TensorRT-LLM worker process exited"
    await engine.shutdown()


async def test_upstream_shutdown_is_fatal(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    engine._llm.shutdown()  # upstream's atexit or exception handler
    assert engine.fatal_error() == "TensorRT-LLM was shut down"
    await engine.shutdown()


async def test_hung_executor_is_fatal_after_the_stall_time(
    fake: ModuleType, model_dir: Path
) -> None:
    fake.llmapi.BEHAVIOUR.hang_after_steps = 2
    engine = engine_for(model_dir, stall_seconds=0.2)
    await engine.load()
    received: list[GenerationChunk] = []

    async def consume() -> None:
        async for chunk in engine.stream(request()):
            received.append(chunk)

    task = asyncio.create_task(consume())
    await wait_until(lambda: len(received) >= 1)
    assert engine.fatal_error() is None  # a short pause is not a stall
    await wait_until(lambda: engine.stalled_seconds() > 0.2)
    reason = engine.fatal_error()
    assert reason is not None and reason.startswith("no progress from the TensorRT-LLM executor")
    assert "1 requests in flight" in reason
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.stalled_seconds() == 0.0  # nothing in flight: nothing stalls
    await engine.shutdown()


async def test_an_idle_engine_never_stalls(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir, stall_seconds=0.05)
    await engine.load()
    await collect(engine, request())
    await asyncio.sleep(0.1)
    assert engine.stalled_seconds() == 0.0
    assert engine.fatal_error() is None
    await collect(engine, request())  # the first request after idling starts a new clock
    assert engine.fatal_error() is None
    await engine.shutdown()


def test_liveness_fails_and_the_metric_shows_a_hung_executor(
    fake: ModuleType, model_dir: Path
) -> None:
    import threading as _threading

    from service.metric_names import ENGINE_STALL_SECONDS
    from tests.servers import fast_settings, ready_client, wait_until

    fake.llmapi.BEHAVIOUR.hang_after_steps = 1
    with ready_client(fast_settings(), engine_for(model_dir, stall_seconds=0.3)) as client:
        runtime = client.app.state.runtime
        assert client.get("/health/live").status_code == 200
        body = {"model": str(model_dir), "prompt": "hi", "max_tokens": 5, "stream": True}
        hung = _threading.Thread(
            target=lambda: client.post("/v1/completions", json=body), daemon=True
        )
        hung.start()
        engine = runtime.engine
        assert wait_until(lambda: engine.stalled_seconds() > 0.3)
        live = client.get("/health/live")
        assert live.status_code == 503
        assert live.json()["reason"].startswith(
            "engine stopped serving: no progress from the TensorRT-LLM executor"
        )
        metrics = client.get("/metrics").text
        stalled = [line for line in metrics.splitlines() if line.startswith(ENGINE_STALL_SECONDS)]
        assert stalled and float(stalled[0].split()[-1]) > 0.3
        engine._llm._executor.shutdown()  # release the hung request
        hung.join(timeout=10)


def test_probes_fail_when_the_executor_dies(fake: ModuleType, model_dir: Path) -> None:
    from tests.servers import fast_settings, ready_client

    with ready_client(fast_settings(), engine_for(model_dir)) as client:
        runtime = client.app.state.runtime
        assert client.get("/health/live").status_code == 200
        runtime.engine._llm._executor.worker_died(RuntimeError("NCCL error"))
        reason = "engine stopped serving: the TensorRT-LLM executor reported a fatal error"
        live = client.get("/health/live")
        assert (live.status_code, live.json()) == (503, {"status": "failed", "reason": reason})
        ready = client.get("/health/ready")
        assert (ready.status_code, ready.json()["reason"]) == (503, reason)


def test_a_request_upstream_rejects_is_a_400_not_a_500(
    fake: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.servers import fast_settings, ready_client

    with ready_client(fast_settings(), engine_for(model_dir)) as client:
        runtime = client.app.state.runtime
        llm = runtime.engine._llm

        def refuse(*args: object, **kwargs: object) -> None:
            raise ValueError("guided decoding is not enabled")

        monkeypatch.setattr(llm, "generate_async", refuse)
        response = client.post(
            "/v1/completions", json={"model": str(model_dir), "prompt": "hi", "max_tokens": 2}
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert "guided decoding is not enabled" in error["message"]
        assert runtime.admission.in_flight == 0


async def test_engine_is_unusable_before_load(model_dir: Path) -> None:
    engine = engine_for(model_dir)
    with pytest.raises(EngineError, match="not loaded"):
        engine.apply_chat_template([ChatMessage("user", "hi")])
    with pytest.raises(EngineError, match="not loaded"):
        await collect(engine, request())


# --- wiring from settings ---------------------------------------------------------------


async def test_engine_setting_builds_this_engine_with_its_settings(
    fake: ModuleType, model_dir: Path
) -> None:
    from service.engines import create_engine
    from service.settings import Settings

    settings = Settings(
        engine="tensorrt-llm",
        model_path=str(model_dir),
        tensor_parallel_size=2,
        max_batch_size=8,
        max_num_tokens=256,
        max_seq_len=1024,
        kv_cache_free_gpu_memory_fraction=0.5,
        trust_remote_code=True,
        engine_stall_seconds=60,
    )
    engine = create_engine(settings)
    assert isinstance(engine, TensorRTLLMEngine)
    info = await engine.load()
    init = engine._llm.init_kwargs
    assert init["model"] == str(model_dir)
    assert init["tensor_parallel_size"] == 2
    assert init["max_batch_size"] == 8
    assert init["max_num_tokens"] == 256
    assert init["kv_cache_config"].free_gpu_memory_fraction == 0.5
    assert init["trust_remote_code"] is True
    assert init["max_seq_len"] == 1024
    assert engine._progress._stall_seconds == 60
    assert info.max_context_tokens == 1024
    chunks = await collect(engine, request(max_tokens=2))
    assert "".join(c.text for c in chunks) == "the quick"
    await engine.shutdown()


# --- engine options (engineOptions / ENGINE_OPTIONS_FILE) ---------------------------------


def test_every_llm_argument_the_fake_knows_is_a_known_engine_option(fake: ModuleType) -> None:
    from service.engine_options import LLM_API_OPTIONS

    # The fake's list was read from upstream's llm_args.py; `_mpi_session` is the alias.
    assert fake.llmapi.LLM_ARGS_FIELDS - {"_mpi_session"} <= LLM_API_OPTIONS


async def test_engine_options_reach_llm_next_to_the_settings(
    fake: ModuleType, model_dir: Path
) -> None:
    options = {
        "enable_chunked_prefill": True,
        "cuda_graph_config": {"max_batch_size": 16},
        "kv_cache_config": {"enable_block_reuse": False, "tokens_per_block": 64},
    }
    engine = engine_for(model_dir, engine_options=options, kv_cache_free_gpu_memory_fraction=0.8)
    await engine.load()
    init = engine._llm.init_kwargs
    assert init["enable_chunked_prefill"] is True
    assert init["cuda_graph_config"] == {"max_batch_size": 16}
    kv = init["kv_cache_config"]
    assert (kv.enable_block_reuse, kv.tokens_per_block) == (False, 64)
    assert kv.free_gpu_memory_fraction == 0.8  # the setting still applies
    assert engine._prompt_limit is None or engine._prompt_limit > 8192  # chunked prefill
    await engine.shutdown()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"enable_chunked_prefil": True}, "enable_chunked_prefil: not an option of "),
        ({"enable_chunked_prefil": True}, "did you mean enable_chunked_prefill?"),
        ({"max_batch_size": 8}, "max_batch_size: set by server.maxBatchSize"),
        ({"kv_cache_config": {"free_gpu_memory_fraction": 0.5}}, "kvCacheFreeGpuMemoryFraction"),
        ({"kv_cache_config": 0.5}, "kv_cache_config: must be a mapping"),
    ],
)
def test_bad_engine_options_are_refused_naming_the_option(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=r"^engine_options: ") as caught:
        engine_for(Path("m"), engine_options=options)
    assert message in str(caught.value)


async def test_a_value_upstream_refuses_is_a_load_error_naming_it(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir, engine_options={"kv_cache_config": {"tokens_per_blok": 8}})
    with pytest.raises(EngineError, match=r"(?s)rejected its settings: .*tokens_per_blok"):
        await engine.load()


def test_engine_options_file_flows_from_settings_to_the_engine(
    fake: ModuleType, model_dir: Path, tmp_path: Path
) -> None:
    from service.engines import create_engine
    from service.settings import Settings

    path = tmp_path / "engine-options.json"
    path.write_text(json.dumps({"enable_chunked_prefill": True}))
    settings = Settings(
        engine="tensorrt-llm", model_path=str(model_dir), engine_options_file=str(path)
    )
    engine = create_engine(settings)
    assert engine.llm_kwargs(fake.llmapi.KvCacheConfig)["enable_chunked_prefill"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"max_num_token": 4096}', "max_num_token: not an option of TensorRT-LLM's LLM API"),
        ("[1, 2]", "must hold a JSON object"),
        ("{", "is not JSON"),
    ],
)
def test_a_bad_engine_options_file_is_a_one_line_config_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "engine-options.json"
    path.write_text(content)
    code = (
        "from service.settings import load_settings\n"
        f"load_settings(['--engine-options-file', {str(path)!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("invalid setting: ENGINE_OPTIONS_FILE"), lines
    assert message in lines[0]


# --- sampling extensions and response_format ------------------------------------------


async def test_sampling_extensions_reach_sampling_params(fake: ModuleType, model_dir: Path) -> None:
    engine = engine_for(model_dir)
    info = await engine.load()
    assert "top_k" in info.optional_parameters
    assert "response_format" not in info.optional_parameters  # no guided decoding backend
    assert "logit_bias" not in info.optional_parameters  # its tensor width is unchecked
    params = engine.sampling_params(
        request(
            top_k=5,
            min_p=0.05,
            repetition_penalty=1.1,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            stop_token_ids=(7,),
        )
    )
    assert (params.top_k, params.min_p, params.repetition_penalty) == (5, 0.05, 1.1)
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)
    assert params.stop_token_ids == [7]
    plain = engine.sampling_params(request())
    assert (plain.top_k, plain.repetition_penalty, plain.stop_token_ids) == (None, None, None)
    await engine.shutdown()


async def test_a_stop_token_id_ends_the_stream_without_the_token(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    await engine.load()
    fox = engine._llm.tokenizer.tokenizer.convert_tokens_to_ids("fox")
    chunks = await collect(engine, request(stop_token_ids=(fox,)))
    assert "".join(c.text for c in chunks).split() == ["the", "quick", "brown"]
    assert chunks[-1].finish_reason == "stop"
    await engine.shutdown()


def test_response_format_becomes_guided_decoding_when_a_backend_is_set(
    fake: ModuleType, model_dir: Path
) -> None:
    from tests.servers import fast_settings, ready_client

    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    engine = engine_for(model_dir, engine_options={"guided_decoding_backend": "xgrammar"})
    with ready_client(fast_settings(), engine) as client:
        messages = [{"role": "user", "content": "hi"}]
        for response_format, expected in [
            ({"type": "json_object"}, fake.sampling_params.GuidedDecodingParams(json_object=True)),
            (
                {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}},
                fake.sampling_params.GuidedDecodingParams(json=schema),
            ),
        ]:
            body = {
                "model": str(model_dir),
                "messages": messages,
                "max_tokens": 2,
                "response_format": response_format,
            }
            response = client.post("/v1/chat/completions", json=body)
            assert response.status_code == 200, response.text
            call = engine._llm.generate_calls[-1]
            assert call["sampling_params"].guided_decoding == expected
        assert engine._llm.init_kwargs["guided_decoding_backend"] == "xgrammar"


def test_response_format_without_a_guided_backend_is_a_400(
    fake: ModuleType, model_dir: Path
) -> None:
    with served(model_dir) as (client, app):
        body = {
            "model": str(model_dir),
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"},
        }
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "response_format"
        assert app.state.runtime.engine._llm.generate_calls == []


# --- iteration stats: the engine's queue and KV cache for the metrics


async def test_iteration_stats_feed_queue_and_kv_cache(
    fake: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tensorrt_llm_engine, "STATS_POLL_SECONDS", 0.01)
    fake.llmapi.BEHAVIOUR.queued_requests = 3
    fake.llmapi.BEHAVIOUR.step_seconds = 0.05
    engine = engine_for(model_dir)
    await engine.load()
    try:
        assert engine.kv_cache() is None or engine.kv_cache().used_blocks == 0
        task = asyncio.create_task(collect(engine, request()))
        await wait_until(lambda: (engine.kv_cache() or KvCacheStats(0, 1, 1)).used_blocks == 1)
        assert engine.queued_requests() == 3
        assert engine.kv_cache() == KvCacheStats(
            used_blocks=1, max_blocks=1024, tokens_per_block=32
        )
        await task
    finally:
        fake.llmapi.BEHAVIOUR.queued_requests = 0
        fake.llmapi.BEHAVIOUR.step_seconds = 0.0
        await engine.shutdown()
    assert engine._stats_task is not None and engine._stats_task.done()


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {
                "numQueuedRequests": 2,
                "kvCacheStats": {"maxNumBlocks": 100, "usedNumBlocks": 25, "tokensPerBlock": 64},
            },
            IterationStats(2, KvCacheStats(25, 100, 64)),
        ),
        # Older releases hand out the JSON text of the same record.
        (
            '{"numQueuedRequests": 1, "kvCacheStats": {"maxNumBlocks": 8, "usedNumBlocks": 8}}',
            IterationStats(1, KvCacheStats(8, 8, 0)),
        ),
        # No KV stats (or an empty pool): no KV series rather than a false 0.
        ({"numQueuedRequests": 0}, IterationStats(0, None)),
        ({"kvCacheStats": {"maxNumBlocks": 0, "usedNumBlocks": 0}}, IterationStats(0, None)),
    ],
)
def test_iteration_stats_records_parse_as_trtllm_serve_reads_them(
    record: object, expected: IterationStats
) -> None:
    assert IterationStats.parse(record) == expected


# --- log-probabilities (SamplingParams.logprobs; executor/result.py CompletionOutput;
# _torch/pyexecutor/sampler.py TorchSampler.handle_logprobs; docs/tensorrt-llm-api.md)

HALF = -math.log(2)


async def scored_run(
    model_dir: Path, req: GenerationRequest
) -> tuple[list[GenerationChunk], list[TokenLogprob]]:
    """A loaded engine's chunks for `req`, and their log-probability entries in order."""
    engine = engine_for(model_dir)
    await engine.load()
    try:
        chunks = await collect(engine, req)
    finally:
        await engine.shutdown()
    return chunks, [entry for chunk in chunks for entry in chunk.logprobs or ()]


async def _run_fake(fake: ModuleType, model_dir: Path, **params: Any) -> Any:
    llm = fake.LLM(str(model_dir))
    ids = llm.tokenizer.encode("hi", add_special_tokens=False)
    output = llm.generate_async(ids, fake.SamplingParams(max_tokens=20, **params), streaming=True)
    growth = []
    async for _ in output:
        growth.append((len(output.outputs[0].token_ids), len(output.outputs[0].logprobs)))
    llm.shutdown()
    return output.outputs[0], growth


async def test_fake_returns_top_k_logprobs_as_the_pytorch_sampler_does(
    fake: ModuleType, model_dir: Path
) -> None:
    completion, growth = await _run_fake(fake, model_dir, logprobs=2)
    # One {token id: Logprob} per token, growing with the tokens while streaming.
    assert all(tokens == scored for tokens, scored in growth)
    for token_id, scores in zip(completion.token_ids, completion.logprobs, strict=True):
        assert [(s.rank, s.logprob) for s in scores.values()] == [(1, HALF), (2, 2 * HALF)]
        assert next(iter(scores)) == token_id
    # logprobs=0 reads as "none" upstream (`logprobs and int(logprobs)`).
    assert fake.SamplingParams(logprobs=0).logprobs == 0
    completion, _ = await _run_fake(fake, model_dir, logprobs=0)
    assert completion.logprobs == []


async def test_fake_leaves_a_sampled_token_outside_the_top_k_out(
    fake: ModuleType, model_dir: Path
) -> None:
    fake.llmapi.BEHAVIOUR.sampled_rank = 3
    completion, _ = await _run_fake(fake, model_dir, logprobs=2)
    for token_id, scores in zip(completion.token_ids, completion.logprobs, strict=True):
        assert token_id not in scores and len(scores) == 2


async def test_fake_keeps_the_logprobs_of_a_trimmed_stop_word(
    fake: ModuleType, model_dir: Path
) -> None:
    completion, _ = await _run_fake(fake, model_dir, logprobs=1, stop=["brown fox"])
    assert len(completion.logprobs) == len(completion.token_ids) + 2


async def test_logprobs_zero_asks_upstream_for_the_top_one(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir)
    info = await engine.load()
    assert "logprobs" in info.optional_parameters
    assert engine.sampling_params(request(logprobs=0)).logprobs == 1
    assert engine.sampling_params(request()).logprobs is None
    await engine.shutdown()
    _, entries = await scored_run(model_dir, request(logprobs=0, max_tokens=4))
    assert [e.token for e in entries] == REPLY.split()[:4]
    assert [e.logprob for e in entries] == pytest.approx([HALF] * 4)
    assert all(e.top == () for e in entries)


async def test_alternatives_are_decoded_in_rank_order(fake: ModuleType, model_dir: Path) -> None:
    _, entries = await scored_run(model_dir, request(logprobs=3, max_tokens=2))
    assert len(entries) == 2
    for entry in entries:
        assert entry.top[0].token == entry.token
        assert [top.logprob for top in entry.top] == pytest.approx([HALF, 2 * HALF, 3 * HALF])
        # The fake ranks the lowest other ids next: <unk> and <s>, decoded one by one.
        assert [top.token for top in entry.top[1:]] == ["<unk>", "<s>"]


async def test_a_sampled_token_outside_the_top_k_is_reported_unknown(
    fake: ModuleType, model_dir: Path
) -> None:
    fake.llmapi.BEHAVIOUR.sampled_rank = 2
    _, entries = await scored_run(model_dir, request(logprobs=0, max_tokens=3))
    assert [e.logprob for e in entries] == [UNKNOWN_LOGPROB] * 3


@pytest.mark.parametrize("stop", ["brown fox", "jumps"])
async def test_one_logprob_entry_per_counted_token_whatever_stop_trims(
    fake: ModuleType, model_dir: Path, stop: str
) -> None:
    # "brown fox" is matched on token ids and trimmed from token_ids but not from
    # logprobs; "jumps" is a one-token stop the text cut finds.
    chunks, entries = await scored_run(model_dir, request(logprobs=1, stop=(stop,)))
    assert all(len(chunk.logprobs or ()) == chunk.token_count for chunk in chunks)
    assert len(entries) == sum(chunk.token_count for chunk in chunks)
    assert [e.token for e in entries][:2] == ["the", "quick"]


def test_chat_logprobs_through_the_api_on_tensorrt_llm(fake: ModuleType, model_dir: Path) -> None:
    with served(model_dir) as (client, app):
        body = {
            "model": str(model_dir),
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3,
            "logprobs": True,
            "top_logprobs": 2,
        }
        answer = client.post("/v1/chat/completions", json=body).json()
        content = answer["choices"][0]["logprobs"]["content"]
        assert [item["token"] for item in content] == REPLY.split()[:3]
        assert all(len(item["top_logprobs"]) == 2 for item in content)
        assert len(content) == answer["usage"]["completion_tokens"]
        (call,) = app.state.runtime.engine._llm.generate_calls
        assert call["sampling_params"].logprobs == 2


async def test_alternatives_with_speculative_decoding_are_refused(
    fake: ModuleType, model_dir: Path
) -> None:
    engine = engine_for(model_dir, engine_options={"speculative_config": {"decoding_type": "MTP"}})
    await engine.load()
    with pytest.raises(InvalidRequestError, match=r"^logprobs: .*speculative"):
        engine.sampling_params(request(logprobs=2))
    assert engine.sampling_params(request(logprobs=1)).logprobs == 1
    await engine.shutdown()


# --- the multi-node launch -------------------------------------------------------------
# trtllm-llmapi-launch runs this server on MPI rank 0 beside the session server
# (mgmn_leader_node) and says where it listens and how many ranks mpirun started; the
# fake binds to it as the real LLM does, so these tests play mgmn_leader_node with a
# listening socket.


@pytest.fixture
def session_server() -> Iterator[socket.socket]:
    """mgmn_leader_node's listening socket, on loopback."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server


def launched_at(port: int, ranks: int = 16) -> dict[str, str]:
    """The environment trtllm-llmapi-launch gives rank 0's task."""
    return {
        "TLLM_SPAWN_PROXY_PROCESS": "1",
        "TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR": f"tcp://127.0.0.1:{port}",
        "TLLM_SPAWN_PROXY_PROCESS_IPC_HMAC_KEY": "ab" * 32,
        "tllm_mpi_size": str(ranks),
    }


def launched(server: socket.socket, ranks: int = 16) -> dict[str, str]:
    return launched_at(server.getsockname()[1], ranks)


def test_a_plain_process_is_no_mpi_launch() -> None:
    assert MpiLaunch.from_env({}) is None


def test_the_server_settings_reach_the_llm_with_the_launch(
    fake: ModuleType,
    model_dir: Path,
    session_server: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in launched(session_server).items():
        monkeypatch.setenv(name, value)
    settings = Settings(
        engine="tensorrt-llm",
        model_path=str(model_dir),
        tensor_parallel_size=8,
        pipeline_parallel_size=2,
    )
    engine = create_engine(settings)
    assert engine._mpi_launch == MpiLaunch(
        ranks=16, session_address=launched(session_server)["TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR"]
    )
    kwargs = engine.llm_kwargs(fake.llmapi.KvCacheConfig)
    assert (kwargs["tensor_parallel_size"], kwargs["pipeline_parallel_size"]) == (8, 2)


def test_ranks_that_do_not_match_the_parallelism_are_refused(
    session_server: socket.socket, model_dir: Path
) -> None:
    launch = MpiLaunch.from_env(launched(session_server, ranks=8))
    with pytest.raises(ValueError, match=r"is 16, but the MPI launch started 8 ranks"):
        engine_for(model_dir, tensor_parallel_size=8, pipeline_parallel_size=2, mpi_launch=launch)


async def test_a_lost_rank_makes_the_leader_unhealthy(
    fake: ModuleType,
    model_dir: Path,
    session_server: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = launched(session_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    engine = engine_for(
        model_dir,
        tensor_parallel_size=8,
        pipeline_parallel_size=2,
        mpi_launch=MpiLaunch.from_env(env),
    )
    await engine.load()
    # Under mpirun the executor has no worker futures to watch.
    assert engine._llm._executor.mpi_futures == []
    await collect(engine, request())
    assert engine.fatal_error() is None
    # mpirun tears the job down when any rank dies, rank 0's session server with it.
    session_server.close()
    assert engine.fatal_error() == (
        f"the MPI session server at {env['TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR']} is gone: "
        "a rank of the multi-node group exited"
    )
    await engine.shutdown()


async def test_the_llm_refuses_to_start_without_its_session_server(
    fake: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    env = launched_at(port, ranks=2)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    engine = engine_for(model_dir, tensor_parallel_size=2, mpi_launch=MpiLaunch.from_env(env))
    with pytest.raises(EngineError, match="cannot reach the MPI session server"):
        await engine.load()
