"""Every server setting, read once: CLI flag > environment variable > default.

The environment variable of a field is its name upper-cased (`max_tokens` ->
`MAX_TOKENS`) and its flag is the name kebab-cased (`--max-tokens`). The chart and
the Dockerfile check themselves against `ENV_VARS`, so a field added here is the
only change needed to add a setting.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Literal, NoReturn, get_args, get_origin

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.engine_options import read_engine_options

EngineName = Literal["tensorrt-llm", "transformers", "simulated"]

# Values people paste from examples and forget to replace; starting with one of these
# as an API key would look secure and not be.
PLACEHOLDER_API_KEYS = frozenset({"changeme", "change-me", "placeholder", "your-api-key", "sk-xxx"})

# Exit status for a bad configuration, the same as argparse's usage errors.
CONFIG_ERROR_EXIT_STATUS = 2


class Settings(BaseSettings):
    # An empty variable (a chart value left blank) means "use the default".
    # No inf or nan: an infinite simulated delay or drain would hang instead of failing.
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        env_ignore_empty=True,
        allow_inf_nan=False,
    )

    # --- HTTP server
    host: str = Field("127.0.0.1", description="Interface to bind (the image sets 0.0.0.0).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")

    # --- engine
    engine: EngineName = Field("simulated", description="Which engine serves requests.")
    model_path: str | None = Field(
        None,
        description="Hugging Face checkpoint directory or hub id (tensorrt-llm, transformers).",
    )
    model_revision: str | None = Field(
        None, description="Hub revision of MODEL_PATH (a commit hash pins it)."
    )
    served_model_name: str | None = Field(
        None, description="Model name in the API (default: MODEL_PATH or the engine's own)."
    )
    listed_model_names: str = Field(
        "",
        description="Comma-separated names of the other models behind the same gateway, "
        "which /v1/models lists after this server's own (requests for them never reach it).",
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model is split across.")
    pipeline_parallel_size: int = Field(
        1, ge=1, description="Pipeline stages (tensorrt-llm); ranks = tensor x pipeline."
    )
    max_batch_size: int | None = Field(
        None, ge=1, description="Sequences the engine runs at once (engine default if unset)."
    )
    max_num_tokens: int | None = Field(
        None, ge=1, description="Tokens per engine iteration; longer prompts are refused."
    )
    max_seq_len: int | None = Field(
        None,
        ge=1,
        description="Longest prompt + output (tensorrt-llm; default: the checkpoint's "
        "max_position_embeddings).",
    )
    kv_cache_free_gpu_memory_fraction: float = Field(
        0.9, gt=0, le=1, description="Share of free GPU memory TensorRT-LLM gives the KV cache."
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint.")
    engine_options_file: str | None = Field(
        None,
        description="JSON file of extra TensorRT-LLM LLM API options (like trtllm-serve's "
        "--extra_llm_api_options); the chart mounts it from server.engineOptions.",
    )
    engine_stall_seconds: float = Field(
        300.0,
        ge=0,
        description="Fail liveness when requests are in flight and the engine produced "
        "nothing for this long (tensorrt-llm; 0 turns the check off).",
    )

    # --- request defaults (used when a request leaves the field out)
    max_tokens: int = Field(256, ge=1, description="Default max_tokens of a request.")
    temperature: float = Field(1.0, ge=0, le=2, description="Default sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Default nucleus sampling top_p.")

    # --- admission and limits
    max_concurrent_requests: int = Field(
        64,
        ge=1,
        description="Sequences (prompts x n) handed to the engine at once; set near its "
        "batch size.",
    )
    max_queued_requests: int = Field(
        256, ge=0, description="Sequences waiting for the engine; more are refused with 429."
    )
    max_sequences_per_request: int = Field(
        64, ge=1, description="Sequences (prompts x n) one request may ask for."
    )
    max_prompts_per_request: int = Field(
        16, ge=1, description="Prompts in one /v1/completions request."
    )
    max_messages_per_request: int = Field(
        1024, ge=1, description="Messages in one /v1/chat/completions request."
    )
    max_top_logprobs: int = Field(
        20,
        ge=0,
        description="Likeliest tokens a request may ask for at each output token "
        "(logprobs, top_logprobs); each is decoded and sent with every token.",
    )
    max_stop_strings: int = Field(
        4, ge=1, description="Strings in one request's stop list (OpenAI allows 4)."
    )
    max_logit_bias_entries: int = Field(
        300, ge=0, description="Token ids in one request's logit_bias (0 refuses any)."
    )
    max_echoed_chars: int = Field(
        256,
        ge=1,
        description="Characters in a model, user or message name (errors and logs echo them).",
    )
    api_keys: str = Field(
        "", repr=False, description="Comma-separated bearer keys; empty turns auth off."
    )

    # --- connections (what one client may hold, whatever it sends)
    max_connections: int = Field(
        2048, ge=1, description="Open connections; more are refused at accept with a 503."
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send a request's headers once it starts."
    )
    body_timeout_seconds: float = Field(
        60.0, gt=0, description="Time a client has to send a request body after its headers."
    )
    send_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a client may leave a response unread before it is disconnected.",
    )

    # --- operations
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="Log level of the server and uvicorn."
    )
    log_format: Literal["json", "text"] = Field(
        "text", description="One JSON object per line, or text."
    )
    drain_timeout_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight requests may take to finish."
    )

    health_generate_interval_seconds: float = Field(
        10.0,
        ge=0,
        description="/health/generate runs a one-token generation at most this often; "
        "callers in between get the last result.",
    )
    health_generate_timeout_seconds: float = Field(
        30.0, gt=0, description="/health/generate fails if no token comes within this time."
    )

    # --- simulated engine
    simulated_ttft_ms: float = Field(50.0, ge=0, description="Simulated time to first token.")
    simulated_itl_ms: float = Field(10.0, ge=0, description="Simulated time per further token.")
    simulated_max_batch: int = Field(64, ge=1, description="Simulated sequences run at once.")
    simulated_load_seconds: float = Field(
        0.0, ge=0, description="Simulated model load time (to exercise startup probes)."
    )

    @field_validator("log_level", "log_format", "engine", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("engine_options_file")
    @classmethod
    def _engine_options_are_readable_and_known(cls, value: str | None) -> str | None:
        if value is not None:
            read_engine_options(value)
        return value

    @field_validator("api_keys")
    @classmethod
    def _no_placeholder_keys(cls, value: str) -> str:
        for key in _split_commas(value):
            if key.lower() in PLACEHOLDER_API_KEYS:
                raise ValueError(f"{key!r} is a placeholder, not an API key")
        return value

    @model_validator(mode="after")
    def _engine_needs_model(self) -> Settings:
        if self.engine != "simulated" and not self.model_path:
            raise ValueError(f"MODEL_PATH is required when ENGINE is {self.engine}")
        return self

    @property
    def api_key_list(self) -> tuple[str, ...]:
        return _split_commas(self.api_keys)

    @property
    def listed_models(self) -> tuple[str, ...]:
        return _split_commas(self.listed_model_names)

    @property
    def model_name(self) -> str | None:
        """The name the API advertises, when settings alone decide it."""
        return self.served_model_name or self.model_path


def _split_commas(value: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in value.split(",") if key.strip())


ENV_VARS: frozenset[str] = frozenset(name.upper() for name in Settings.model_fields)

# Flags people know from vLLM / trtllm-serve, on top of the --kebab-case of every field.
_FLAG_ALIASES: dict[str, tuple[str, ...]] = {"model_path": ("--model",)}


def flag_for(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage over several lines; a config error must be one line."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT_STATUS)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m service",
        description="TensorRT-LLM inference server. Every flag also reads the environment "
        "variable named after it (--max-tokens <- MAX_TOKENS); the flag wins.",
    )
    for name, field in Settings.model_fields.items():
        flags = (flag_for(name), *_FLAG_ALIASES.get(name, ()))
        help_text = _help_text(name, field.description or "", field.annotation, field.default)
        if field.annotation is bool:
            # `--trust-remote-code` alone means true; `--trust-remote-code false` also works.
            parser.add_argument(*flags, dest=name, nargs="?", const="true", help=help_text)
        else:
            parser.add_argument(*flags, dest=name, metavar=name.upper(), help=help_text)
    return parser


def _help_text(name: str, description: str, annotation: Any, default: Any) -> str:
    """The field's description, its choices and default, and its env var."""
    parts = [description]
    if get_origin(annotation) is Literal:
        parts.append("One of: " + ", ".join(map(str, get_args(annotation))) + ".")
    if default is not None and default != "":
        shown = str(default).lower() if isinstance(default, bool) else default
        parts.append(f"Default: {shown}.")
    parts.append(f"[env {name.upper()}]")
    # argparse treats % in help as a format directive.
    return " ".join(parts).replace("%", "%%")


def describe_error(error: ValidationError) -> str:
    """One line naming each bad setting by its env var and flag."""
    parts = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        message = item["msg"].removeprefix("Value error, ")
        if field in Settings.model_fields:
            parts.append(f"{field.upper()} ({flag_for(field)}): {message}")
        else:
            parts.append(message)
    return "invalid setting: " + "; ".join(parts)


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    """Parse flags over the environment; exit 2 with one line on any bad value."""
    args = build_parser().parse_args(argv)
    overrides = {name: value for name, value in vars(args).items() if value is not None}
    try:
        return Settings(**overrides)
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT_STATUS) from None
