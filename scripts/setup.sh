#!/usr/bin/env bash
# Creates the virtualenvs every other script uses, idempotently:
#   .venv          the project with its extras
#   .venv-checkov  checkov alone: it pins packaging<24 and an old boto3, which
#                  pip cannot reconcile with pulumi in one environment.
# Profiles (first argument):
#   all   (default) everything scripts/test.sh needs: every extra, CPU torch, checkov.
#   demo  what scripts/demo.sh needs: the Pulumi program and the server, no torch and
#         no checkov (the simulated engine needs neither), so the demo starts sooner.
# A stamp holding a hash of the inputs and the profile makes a second run a no-op; an
# "all" venv serves the demo too, and any change to pyproject.toml or the pins below
# triggers a reinstall.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
# torch is installed before the extras so pip takes the CPU build (CI and dev machines
# have no GPU) before anything could ask for PyPI's CUDA build and its GBs of nvidia-*
# wheels. Where the CPU index cannot be reached, PyPI's build is the fallback.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
CPU_TORCH_INDEX="${CPU_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
CHECKOV_SPEC="checkov==3.3.30"
EXTRAS="infra,server,transformers,bench,dev"
DEMO_EXTRAS="infra,server"

log() { printf '[setup] %s\n' "$*" >&2; }

inputs_hash() {
  { cat pyproject.toml; printf '%s\n' "$TORCH_SPEC" "$CHECKOV_SPEC" "$EXTRAS" "$DEMO_EXTRAS" "$PYTHON"; } |
    sha256sum | cut -c1-16
}

# venv_ready DIR STAMP PROFILE: true when DIR was completed for exactly these inputs,
# with this profile or with "all" (which holds everything the demo needs).
venv_ready() {
  local recorded
  [[ -x "$1/bin/python" ]] || return 1
  recorded="$(cat "$1/.setup-stamp" 2>/dev/null)" || return 1
  [[ "$recorded" == "$2 $3" || "$recorded" == "$2 all" ]]
}

make_venv() {
  if [[ ! -x "$1/bin/python" ]]; then
    log "creating $1 with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$1"
  fi
}

# A quick look at the CPU index, so an unreachable one costs seconds, not pip's
# minutes of retries.
cpu_index_reachable() {
  timeout 60 .venv/bin/pip index versions torch --index-url "$CPU_TORCH_INDEX" \
    --timeout 10 --retries 0 >/dev/null 2>&1
}

install_torch() {
  if cpu_index_reachable; then
    log "installing $TORCH_SPEC (CPU build, from $CPU_TORCH_INDEX)"
    # An extra index: its +cpu local version outranks PyPI's build of the same release.
    if .venv/bin/pip install --quiet --extra-index-url "$CPU_TORCH_INDEX" "$TORCH_SPEC"; then
      return
    fi
    log "the CPU build failed to install; falling back to PyPI"
  else
    log "$CPU_TORCH_INDEX is unreachable; falling back to PyPI's $TORCH_SPEC"
  fi
  log "installing $TORCH_SPEC from PyPI (on Linux x86_64 the CUDA build: several GB)"
  .venv/bin/pip install --quiet "$TORCH_SPEC"
}

main() {
  local profile="${1:-all}" stamp extras
  case "$profile" in
    all) extras="$EXTRAS" ;;
    demo) extras="$DEMO_EXTRAS" ;;
    *)
      log "unknown profile '$profile' (all or demo)"
      exit 2
      ;;
  esac
  stamp="$(inputs_hash)"

  if venv_ready .venv "$stamp" "$profile"; then
    log ".venv is up to date"
  else
    make_venv .venv
    if [[ "$profile" == all ]]; then
      install_torch
    fi
    log "installing the project with extras [$extras]"
    .venv/bin/pip install --quiet -e ".[$extras]"
    echo "$stamp $profile" >.venv/.setup-stamp
  fi

  if [[ "$profile" == demo ]]; then
    return
  fi
  if venv_ready .venv-checkov "$stamp" all; then
    log ".venv-checkov is up to date"
  else
    make_venv .venv-checkov
    log "installing $CHECKOV_SPEC"
    .venv-checkov/bin/pip install --quiet "$CHECKOV_SPEC"
    echo "$stamp all" >.venv-checkov/.setup-stamp
  fi
}

main "$@"
