"""A server started offline finds its model in the cache, or stops with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from service import __main__ as entry
from service.model_files import ModelNotCached, local_model

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


def _cache_snapshot(cache: Path, repo: str, revision: str) -> Path:
    # huggingface_hub's cache layout: models--<org>--<name>/snapshots/<commit>/...
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    return snapshot


def test_a_cached_pinned_snapshot_is_loaded_from_its_directory(offline_cache: Path) -> None:
    snapshot = _cache_snapshot(offline_cache, "org/model", REVISION)
    assert Path(local_model("org/model", REVISION)) == snapshot


def test_a_missing_quantized_directory_names_the_quantize_job(offline_cache: Path) -> None:
    with pytest.raises(
        ModelNotCached, match=r"quantized/0123456789 does not exist: .*quantize Job"
    ):
        local_model(str(offline_cache / "quantized" / "0123456789"), None)


def test_a_missing_model_is_a_clear_error_not_a_download(offline_cache: Path) -> None:
    with pytest.raises(ModelNotCached, match=r"org/model@0123456789ab.* is not in the model cache"):
        local_model("org/model", REVISION)


def test_a_local_directory_is_used_as_it_is(tmp_path: Path) -> None:
    assert local_model(str(tmp_path), None) == str(tmp_path)


def test_the_server_exits_with_one_line_when_the_cache_lacks_the_model(
    offline_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENGINE", "transformers")
    monkeypatch.setenv("MODEL_PATH", "org/missing")
    monkeypatch.setenv("MODEL_REVISION", REVISION)
    assert entry.main([]) == entry.MODEL_NOT_CACHED_EXIT_STATUS
    err = capsys.readouterr().err
    assert err.startswith("error: model org/missing@") and err.count("\n") == 1
