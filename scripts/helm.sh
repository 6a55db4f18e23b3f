#!/usr/bin/env bash
# Put a helm binary at build/tools/helm, for tests/deploy/test_helm.py (`helm lint`, and
# `helm template` compared with the committed renderings in tests/deploy/helm/).
# Built from source with the Go toolchain (`go install`, the Go module proxy): minutes on
# a cold Go cache, so `make test` starts it in the background first thing and the tests that
# run helm wait for it (they run last, with the broker tests); the test finds helm at
# build/tools/helm, $(go env GOPATH)/bin/helm or on PATH.
#
#   scripts/helm.sh install   build it if missing (idempotent)
#   scripts/helm.sh start     the same in the background (make test: the build overlaps the
#                             unit tests; tests/integration/test_helm_binary.py waits for it):
#                             build/tools/helm-build.log, and helm-build.rc when it ends
#   scripts/helm.sh render    rewrite the committed renderings (after changing the chart)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=v3.21.4
DEST=$PWD/build/tools
CHART=deploy/helm/mcp-monitor
OUT=tests/deploy/helm
# the cluster version helm renders for (a source build of helm defaults to v1.20)
KUBE_VERSION=1.30.0

log() { echo "helm.sh: $*"; }
die() { echo "helm.sh: ERROR: $*" >&2; exit 1; }

find_helm() {
  local gopath=""
  command -v go >/dev/null 2>&1 && gopath=$(go env GOPATH)
  for c in "$DEST/helm" "${gopath:+$gopath/bin/helm}" "$(command -v helm || true)"; do
    [[ -n $c && -x $c ]] && { echo "$c"; return 0; }
  done
  return 1
}

cmd_install() {
  if h=$(find_helm); then
    log "$("$h" version --short) already at $h, nothing to do"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "no Go toolchain: install helm by hand"
  mkdir -p "$DEST"
  log "building helm $VERSION with go install (minutes on a cold cache)"
  GOBIN=$DEST GOFLAGS=-buildvcs=false timeout 1800 go install "helm.sh/helm/v3/cmd/helm@$VERSION"
  log "installed $("$DEST/helm" version --short) at $DEST/helm"
}

cmd_start() {
  if h=$(find_helm); then
    log "$("$h" version --short) already at $h, nothing to do"
    return 0
  fi
  mkdir -p "$DEST"
  rm -f "$DEST/helm-build.rc"
  log "building helm in the background: $DEST/helm-build.log, exit code in $DEST/helm-build.rc"
  setsid nohup bash -c '"$0" install > "$1/helm-build.log" 2>&1; echo $? > "$1/helm-build.rc"' \
    "$PWD/scripts/helm.sh" "$DEST" < /dev/null > /dev/null 2>&1 &
  echo $! > "$DEST/helm-build.pid"
}

cmd_render() {
  h=$(find_helm) || die "no helm: bash scripts/helm.sh install"
  "$h" template mcpmon "$CHART" --kube-version "$KUBE_VERSION" > "$OUT/rendered-default.yaml"
  "$h" template mcpmon "$CHART" --kube-version "$KUBE_VERSION" -f "$OUT/full-values.yaml" > "$OUT/rendered-full.yaml"
  log "wrote $OUT/rendered-default.yaml and $OUT/rendered-full.yaml"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  render) cmd_render ;;
  *)
    echo "usage: $0 install|start|render" >&2
    exit 2
    ;;
esac
