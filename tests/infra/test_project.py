"""Pulumi.yaml, the generated config reference, and how Pulumi runs the program."""

from __future__ import annotations

import subprocess
import sys

import yaml

from infra import docs
from infra.config import SECRET_KEYS, StackConfig, parse, raw_from_stack_file, stack_file_section
from tests.infra.harness import INFRA_DIR, PROJECT, STACKS
from tests.tools import REPO_ROOT

PROJECT_FILE = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())


def test_generated_reference_is_up_to_date() -> None:
    assert docs.main(["--check"]) == 0, "run `python -m infra.docs --write`"


def test_readme_table_lists_every_key_with_its_description() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for doc in docs.key_docs():
        assert doc.description, f"{doc.key} has no description"
        assert f"| `{doc.key}` |" in readme, doc.key


def test_project_runs_infra_with_pip_in_a_virtualenv() -> None:
    assert PROJECT_FILE["name"] == PROJECT == "tensorrt-llm"
    assert PROJECT_FILE["main"] == "infra/"
    runtime = PROJECT_FILE["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    # pip's toolchain installs requirements.txt from the program directory (main).
    lines = (INFRA_DIR / "requirements.txt").read_text().splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == ["-e ..[infra]"]


def test_project_config_declares_every_key_with_the_code_defaults() -> None:
    block = PROJECT_FILE["config"]
    assert set(block) == {f.alias for f in StackConfig.model_fields.values()}
    for key, entry in block.items():
        assert entry["type"] in {"string", "integer", "boolean", "object", "array"}, key
        # The CLI refuses an array type without the type of its items.
        assert entry["type"] != "array" or entry["items"] == {"type": "object"}, key
        assert entry["description"], key
        assert "default" in entry, f"{key}: without a default the CLI calls stacks incomplete"
        # `secret: true` with a plain default fails every stack that leaves the key
        # unset under Pulumi CLI >= 3.202; the program checks secrets are encrypted.
        assert "secret" not in entry, key
        if key in SECRET_KEYS:
            assert entry["default"] == "", key


def test_cli_applied_defaults_change_nothing() -> None:
    """The CLI fills absent keys from Pulumi.yaml; mocks do not. Both must agree."""
    defaults = {k: v["default"] for k, v in PROJECT_FILE["config"].items()}
    for stack in STACKS:
        raw, _ = raw_from_stack_file(stack_file_section(stack), PROJECT)
        as_cli = {**{k: v for k, v in defaults.items() if v != ""}, **raw}
        assert parse(as_cli, PROJECT) == parse(raw, PROJECT), stack


def test_no_program_module_shadows_the_standard_library() -> None:
    # Pulumi puts infra/ first on sys.path; infra/secrets.py would replace `secrets`
    # for pydantic and everything else.
    modules = {p.stem for p in INFRA_DIR.glob("*.py")}
    modules |= {p.parent.name for p in INFRA_DIR.glob("*/__init__.py")}
    assert not modules & set(sys.stdlib_module_names)


def test_the_program_imports_none_of_the_servers_dependencies() -> None:
    """`pulumi up` installs only the [infra] extra: shared facts the program reads from
    service/ (metric names) must come from modules that import nothing of the server."""
    code = (
        "import sys, infra.config, infra.release, infra.namespace, infra.render\n"
        "server = {'fastapi', 'prometheus_client', 'uvicorn', 'torch', 'transformers'}\n"
        "print(sorted(server & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.strip() == "[]", result.stdout
