"""Settings: defaults, environment, flags (which win), and one-line errors."""

from __future__ import annotations

import pytest

from service.settings import (
    CONFIG_ERROR_EXIT_STATUS,
    ENV_VARS,
    Settings,
    build_parser,
    flag_for,
    load_settings,
)

CONTRACT_ENV_VARS = {
    "HOST", "PORT", "ENGINE", "MODEL_PATH", "SERVED_MODEL_NAME", "TENSOR_PARALLEL_SIZE",
    "MAX_BATCH_SIZE", "MAX_NUM_TOKENS", "KV_CACHE_FREE_GPU_MEMORY_FRACTION",
    "TRUST_REMOTE_CODE", "MAX_TOKENS", "TEMPERATURE", "TOP_P", "MAX_CONCURRENT_REQUESTS",
    "MAX_QUEUED_REQUESTS", "API_KEYS", "LOG_LEVEL", "LOG_FORMAT", "DRAIN_TIMEOUT_SECONDS",
    "SIMULATED_TTFT_MS", "SIMULATED_ITL_MS", "SIMULATED_MAX_BATCH",
}  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_env_vars_cover_the_contract_and_every_field() -> None:
    assert CONTRACT_ENV_VARS <= ENV_VARS
    assert {name.upper() for name in Settings.model_fields} == ENV_VARS


def test_every_setting_has_a_kebab_case_flag() -> None:
    options = {opt for action in build_parser()._actions for opt in action.option_strings}
    for name in Settings.model_fields:
        assert flag_for(name) in options
    assert "--model" in options  # the flag vLLM and trtllm-serve users type


def test_help_lists_engine_choices_and_defaults() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "One of: tensorrt-llm, transformers, simulated. Default: simulated." in text
    assert "One of: json, text. Default: text." in text
    assert "Default: 8000." in text and "Default: 256." in text
    assert "Default: false. [env TRUST_REMOTE_CODE]" in text
    # No default is shown for the API keys (empty means auth off; never print keys).
    assert "empty turns auth off. [env API_KEYS]" in text


def test_defaults_bind_loopback_and_use_the_simulated_engine() -> None:
    settings = load_settings([])
    assert (settings.host, settings.port, settings.engine) == ("127.0.0.1", 8000, "simulated")
    assert settings.api_key_list == ()


def test_environment_is_read_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("MAX_TOKENS", "64")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = load_settings(["--port", "9100"])
    assert settings.port == 9100
    assert settings.max_tokens == 64
    assert settings.log_format == "json"


def test_model_flag_and_boolean_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUST_REMOTE_CODE", "false")
    settings = load_settings(["--engine", "transformers", "--model", "/m", "--trust-remote-code"])
    assert settings.model_path == "/m"
    assert settings.trust_remote_code is True
    assert load_settings(["--trust-remote-code", "false"]).trust_remote_code is False


def test_empty_variables_mean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH_SIZE", "")
    monkeypatch.setenv("TEMPERATURE", "")
    settings = load_settings([])
    assert settings.max_batch_size is None
    assert settings.temperature == Settings.model_fields["temperature"].default


def test_api_keys_are_split_trimmed_and_hidden_from_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " key-one-123 ,key-two-456,, ")
    settings = load_settings([])
    assert settings.api_key_list == ("key-one-123", "key-two-456")
    assert "key-one" not in repr(settings)


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--port", "0"], {}, "PORT (--port)"),
        (["--top-p", "1.5"], {}, "TOP_P (--top-p)"),
        ([], {"KV_CACHE_FREE_GPU_MEMORY_FRACTION": "0"}, "KV_CACHE_FREE_GPU_MEMORY_FRACTION"),
        ([], {"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ([], {"SIMULATED_ITL_MS": "inf"}, "SIMULATED_ITL_MS (--simulated-itl-ms)"),
        (["--drain-timeout-seconds", "nan"], {}, "DRAIN_TIMEOUT_SECONDS"),
        ([], {"MAX_BATCH_SIZE": "abc"}, "MAX_BATCH_SIZE (--max-batch-size)"),
        ([], {"PORT": "-1"}, "PORT (--port)"),
        ([], {"API_KEYS": "changeme"}, "API_KEYS"),
        (["--engine", "tensorrt-llm"], {}, "MODEL_PATH is required"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_setting(
    argv: list[str],
    env: dict[str, str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exited:
        load_settings(argv)
    assert exited.value.code == CONFIG_ERROR_EXIT_STATUS
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert named in lines[0]
