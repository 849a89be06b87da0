#!/usr/bin/env bash
# The README's main command: set up, render the dev stack's Kubernetes manifests,
# then serve the OpenAI-compatible API on the simulated engine in the foreground.
# Needs no GPU, cluster, Pulumi CLI or network. Stop it with Ctrl-C.
# PORT (default 8000) picks another port; the server binds 127.0.0.1 only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT="${PORT:-8000}"
STACK="dev"
MANIFESTS="build/manifests/$STACK"

bash scripts/setup.sh demo

echo "[demo] rendering the $STACK stack's manifests into $MANIFESTS"
rm -rf "$MANIFESTS"
.venv/bin/python -m infra.render --stack "$STACK" --out "$MANIFESTS"
find "$MANIFESTS" -type f | sort | sed 's/^/[demo]   /'

base="http://127.0.0.1:$PORT"
cat <<EOF

[demo] starting the server on $base (simulated engine). Try, from another terminal:

  curl -s $base/health/ready
  curl -s $base/v1/models
  curl -s $base/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "simulated", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16}'
  curl -sN $base/v1/completions -H 'Content-Type: application/json' \\
    -d '{"model": "simulated", "prompt": "Once upon a time", "max_tokens": 16, "stream": true}'
  curl -s $base/metrics | grep '^trtllm_'

  .venv/bin/python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="$base/v1", api_key="unused")
reply = client.chat.completions.create(
    model="simulated", messages=[{"role": "user", "content": "Hello"}], max_tokens=16)
print(reply.choices[0].message.content)
PY

EOF

exec .venv/bin/python -m service --engine simulated --host 127.0.0.1 --port "$PORT"
