#!/usr/bin/env bash
# Creates the two virtualenvs every other script uses, idempotently:
#   .venv          the project with all extras (Pulumi program, server, dev tools)
#   .venv-checkov  checkov alone: it pins packaging<24 and an old boto3, which
#                  pip cannot reconcile with pulumi in one environment.
# A stamp holding a hash of the inputs makes a second run a no-op, and any change to
# pyproject.toml or the pins below triggers a reinstall.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
# The server pins match tensorrt-llm 1.2.x; torch is installed first so pip takes the
# CPU build (CI and dev machines have no GPU) before the extras could ask for CUDA.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
CHECKOV_SPEC="checkov==3.3.30"
EXTRAS="infra,server,transformers,bench,dev"

log() { printf '[setup] %s\n' "$*" >&2; }

inputs_hash() {
  { cat pyproject.toml; printf '%s\n' "$TORCH_SPEC" "$CHECKOV_SPEC" "$EXTRAS" "$PYTHON"; } |
    sha256sum | cut -c1-16
}

# venv_ready DIR STAMP: true when DIR was completed for exactly these inputs.
venv_ready() { [[ -x "$1/bin/python" && "$(cat "$1/.setup-stamp" 2>/dev/null)" == "$2" ]]; }

make_venv() {
  if [[ ! -x "$1/bin/python" ]]; then
    log "creating $1 with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$1"
  fi
}

main() {
  local stamp
  stamp="$(inputs_hash)"

  if venv_ready .venv "$stamp"; then
    log ".venv is up to date"
  else
    make_venv .venv
    log "installing $TORCH_SPEC"
    .venv/bin/pip install --quiet "$TORCH_SPEC"
    log "installing the project with extras [$EXTRAS]"
    .venv/bin/pip install --quiet -e ".[$EXTRAS]"
    echo "$stamp" >.venv/.setup-stamp
  fi

  if venv_ready .venv-checkov "$stamp"; then
    log ".venv-checkov is up to date"
  else
    make_venv .venv-checkov
    log "installing $CHECKOV_SPEC"
    .venv-checkov/bin/pip install --quiet "$CHECKOV_SPEC"
    echo "$stamp" >.venv-checkov/.setup-stamp
  fi
}

main "$@"
