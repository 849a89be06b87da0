#!/usr/bin/env bash
# The end-to-end suite: builds the real tools (scripts/toolchain.sh; cached, a no-op
# when warm), starts a local control plane (scripts/cluster.sh, state in
# build/e2e-cluster, stopped on exit) and runs tests/e2e with the real Pulumi CLI.
# Extra arguments go to pytest (e.g. `bash scripts/e2e.sh -k dev -x`).
#
#   E2E_SKIP_SETUP=1  use .venv as it is (scripts/setup.sh otherwise makes it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[e2e] %s\n' "$*" >&2; }

if [[ -z "${E2E_SKIP_SETUP:-}" ]]; then
  bash scripts/setup.sh
fi

start=$SECONDS
log "toolchain"
bin="$(bash scripts/toolchain.sh)"
log "toolchain ready in $((SECONDS - start)) s: $bin"

export CLUSTER_DIR="$PWD/build/e2e-cluster"
export TOOLCHAIN_BIN="$bin"
trap 'bash scripts/cluster.sh down' EXIT
start=$SECONDS
eval "$(bash scripts/cluster.sh up)"
log "cluster up in $((SECONDS - start)) s"

# The whole suite unless the arguments start with a path of their own.
targets=(tests/e2e)
if [[ "${1:-}" == tests/* ]]; then targets=(); fi
E2E_TOOLCHAIN_BIN="$bin" .venv/bin/python -m pytest -p no:cacheprovider "${targets[@]}" "$@"
