#!/usr/bin/env bash
# Make sure the map renderers are installed: Debian's headless-capable Chromium
# (the `mcpmon map` HTML page is rendered and checked for console errors in
# tests/charter_tools) and Graphviz `dot` (the map's PNG). Nothing is started.
#
#   scripts/chromium.sh install   apt-get install chromium and graphviz if missing (idempotent)
#   scripts/chromium.sh status    exit 0 if both are on PATH, 3 if not
set -euo pipefail

log() { echo "chromium.sh: $*"; }
die() { echo "chromium.sh: ERROR: $*" >&2; exit 1; }

have_all() { command -v chromium >/dev/null 2>&1 && command -v dot >/dev/null 2>&1; }

cmd_install() {
  if have_all; then
    log "$(chromium --version 2>/dev/null | head -1) and $(dot -V 2>&1 | head -1) already installed, nothing to do"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "chromium/dot missing and no apt-get: install Chromium and Graphviz by hand"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "run as root, or apt-get install -y chromium graphviz"
    sudo=(sudo)
  fi
  local pkgs=(chromium graphviz fonts-dejavu-core)
  log "installing ${pkgs[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null \
    || { "${sudo[@]}" apt-get update -q >/dev/null \
         && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; } \
    || die "apt-get install ${pkgs[*]} failed"
  have_all || die "chromium or dot still not on PATH after apt-get"
  log "installed $(chromium --version 2>/dev/null | head -1), $(dot -V 2>&1 | head -1)"
}

cmd_status() {
  if have_all; then
    chromium --version
    dot -V
    return 0
  fi
  echo "chromium or dot not installed (bash scripts/chromium.sh install)"
  return 3
}

case "${1:-}" in
  install) cmd_install ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|status" >&2
    exit 2
    ;;
esac
