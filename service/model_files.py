"""A hub model's files in the local cache (HF_HOME): download once, then find them offline.

`python -m service.model_files` is the model cache prefill Job: it downloads MODEL_PATH
at MODEL_REVISION with huggingface_hub's snapshot download, which resumes what an
earlier attempt fetched (the Job's backoffLimit bounds the attempts), and, for the
quantize Job that runs offline after it, the CALIBRATION_FILES of CALIBRATION_DATASET.
Server pods that start after it run with HF_HUB_OFFLINE=1: `local_model` finds the
snapshot in the cache, or stops the server with one line saying the cache lacks it,
instead of every pod downloading the same weights.

A revision pinned to a commit writes no `refs/main` into the cache, so loading the hub
id offline would fail: the engines get the snapshot directory instead.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class ModelNotCached(RuntimeError):
    """The hub is offline and the cache lacks the model."""


def local_model(path: str, revision: str | None) -> str:
    """The directory to load `path` from: itself if local, else its cached snapshot.

    Offline (HF_HUB_OFFLINE=1) a snapshot missing from the cache raises ModelNotCached;
    online, a pinned revision is downloaded (resuming) and an unpinned id is left to
    the engine, as before.
    """
    if Path(path).is_dir():
        return path
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not constants.HF_HUB_OFFLINE:
        return snapshot_download(path, revision=revision) if revision else path
    if Path(path).is_absolute():
        # A directory in the cache (a quantized checkpoint) that is not there yet.
        raise ModelNotCached(
            f"model directory {path} does not exist: the model cache quantize Job "
            "writes it before the release; check that Job"
        )
    try:
        return snapshot_download(path, revision=revision, local_files_only=True)
    except LocalEntryNotFoundError:
        raise ModelNotCached(
            f"model {path}@{revision or 'main'} is not in the model cache "
            f"({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1 forbids downloading it: "
            "the model cache prefill Job fills it before the release; check that Job"
        ) from None


def download(path: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(path, revision=revision))


def download_calibration(
    hf_home: Path, dataset: str, revision: str | None, files: list[str]
) -> None:
    """The quantize Job's calibration text, fetched here: that Job runs with the hub offline."""
    from huggingface_hub import hf_hub_download

    from service.quantize import calibration_dir

    for name in files:
        path = hf_hub_download(
            dataset,
            name,
            repo_type="dataset",
            revision=revision,
            local_dir=calibration_dir(hf_home, dataset),
        )
        logger.info("calibration file %s of %s in the cache at %s", name, dataset, path)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path, revision = os.environ["MODEL_PATH"], os.environ.get("MODEL_REVISION") or None
    started = time.monotonic()
    snapshot = download(path, revision)
    calibration = [name for name in os.environ.get("CALIBRATION_FILES", "").split(",") if name]
    if calibration:
        download_calibration(
            Path(os.environ["HF_HOME"]),
            os.environ["CALIBRATION_DATASET"],
            os.environ.get("CALIBRATION_REVISION") or None,
            calibration,
        )
    size = sum(f.stat().st_size for f in snapshot.rglob("*") if f.is_file())
    logger.info(
        "model %s@%s in the cache at %s: %.1f GiB in %.0f s",
        path,
        revision or "main",
        snapshot,
        size / 2**30,
        time.monotonic() - started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
