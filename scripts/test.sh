#!/usr/bin/env bash
# The README's test command: set up the virtualenvs, lint, then run every test.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/image -x`).
# Exit status: 1 for a set-up or lint failure, otherwise pytest's own status
# (0 passed, 1 failed, 5 no tests collected, ...), which .ci/run interprets.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

echo "[test] ruff check ."
.venv/bin/ruff check .
echo "[test] ruff format --check ."
.venv/bin/ruff format --check .

echo "[test] pytest"
pytest_status=0
.venv/bin/python -m pytest "${@:-tests}" || pytest_status=$?
exit "$pytest_status"
