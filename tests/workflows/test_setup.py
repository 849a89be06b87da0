"""scripts/setup.sh installs CPU torch where its index answers, falls back to PyPI where
it does not, and keeps torch and checkov out of the demo's set-up.

The script runs in a copy of the repository with a stand-in interpreter whose venvs
hold a pip that only records its arguments, so nothing is installed or downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tools import REPO_ROOT

FAKE_PIP = """#!/bin/sh
echo "$(basename "$(dirname "$(dirname "$0")")") $*" >>"$PIP_LOG"
[ "$1" = index ] && exit "$CPU_INDEX_RC"
exit 0
"""
# Stands in for python3: `-m venv DIR` makes DIR/bin/{python,pip}.
FAKE_PYTHON = f"""#!/bin/sh
if [ "$1" = --version ]; then echo "Python 3.11.0"; exit 0; fi
mkdir -p "$3/bin"
printf '#!/bin/sh\\nexit 0\\n' >"$3/bin/python"
cat >"$3/bin/pip" <<'PIP'
{FAKE_PIP}PIP
chmod +x "$3/bin/python" "$3/bin/pip"
"""


@dataclass
class Setup:
    root: Path

    def run(self, *args: str, cpu_index_up: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.root / "scripts" / "setup.sh"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={
                "PATH": "/usr/bin:/bin",
                "PYTHON": str(self.root / "fake-python"),
                "PIP_LOG": str(self.root / "pip.log"),
                "CPU_INDEX_RC": "0" if cpu_index_up else "1",
            },
        )

    def pip_calls(self) -> list[str]:
        log = self.root / "pip.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return Setup(tmp_path)


def torch_installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith(".venv install") and "torch==" in c]


def test_torch_comes_from_the_cpu_index_when_it_answers(setup: Setup) -> None:
    setup.run()
    (install,) = torch_installs(setup.pip_calls())
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in install


def test_an_unreachable_cpu_index_falls_back_to_pypi_with_a_message(setup: Setup) -> None:
    result = setup.run(cpu_index_up=False)
    (install,) = torch_installs(setup.pip_calls())
    assert "index-url" not in install
    assert "unreachable" in result.stderr and "CUDA build" in result.stderr


def test_the_demo_profile_installs_neither_torch_nor_checkov(setup: Setup) -> None:
    setup.run("demo")
    calls = setup.pip_calls()
    assert torch_installs(calls) == []
    assert not any(c.startswith(".venv-checkov") for c in calls), calls
    assert any(c.endswith("-e .[infra,server]") for c in calls), calls


def test_a_full_venv_serves_the_demo_and_a_demo_venv_is_completed_for_tests(
    setup: Setup,
) -> None:
    setup.run("demo")
    setup.run("demo")
    assert len(setup.pip_calls()) == 1, "a second demo set-up must install nothing"
    setup.run()
    assert len(torch_installs(setup.pip_calls())) == 1, "the test set-up adds torch"
    before = len(setup.pip_calls())
    assert "up to date" in setup.run("demo").stderr
    setup.run()
    assert len(setup.pip_calls()) == before


def test_an_unknown_profile_is_refused(setup: Setup) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failure:
        setup.run("everything")
    assert "unknown profile 'everything'" in failure.value.stderr
