#!/usr/bin/env bash
# Make sure promtool (Prometheus' rule checker) is at build/tools/promtool (and the
# prometheus server beside it, for scripts/dashboard_snapshot.py), for
# tests/deploy/test_observability.py (`promtool check rules deploy/prometheus/alerts.yml`).
# Takes it from Debian's prometheus package without installing the package (no service
# is set up or started): apt-get download + dpkg-deb -x, ~20 MB, seconds.
#
#   scripts/promtool.sh install   download and unpack it if missing (idempotent)
#   scripts/promtool.sh status    exit 0 if build/tools/promtool runs, 3 if not
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=build/tools
BIN=$DEST/promtool

log() { echo "promtool.sh: $*"; }
die() { echo "promtool.sh: ERROR: $*" >&2; exit 1; }

cmd_install() {
  if [[ -x $BIN ]] && "$BIN" --version >/dev/null 2>&1 && [[ -x $DEST/prometheus ]]; then
    log "$("$BIN" --version 2>&1 | head -1) already at $BIN, nothing to do"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: put a promtool binary at $BIN by hand"
  TMP_DIR=$(mktemp -d); local tmp=$TMP_DIR
  trap 'rm -rf "$TMP_DIR"' EXIT
  log "downloading Debian's prometheus package for promtool"
  (cd "$tmp" && timeout 180 apt-get download -q prometheus >/dev/null 2>&1) \
    || { timeout 180 apt-get update -q >/dev/null 2>&1 \
         && (cd "$tmp" && timeout 180 apt-get download -q prometheus >/dev/null); } \
    || die "apt-get download prometheus failed"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p "$DEST"
  install -m 0755 "$tmp/x/usr/bin/promtool" "$BIN"
  # the server too: scripts/dashboard_snapshot.py scrapes a live stack with it
  install -m 0755 "$tmp/x/usr/bin/prometheus" "$DEST/prometheus"
  log "installed $("$BIN" --version 2>&1 | head -1) at $BIN"
}

cmd_status() {
  if [[ -x $BIN ]] && "$BIN" --version; then
    return 0
  fi
  echo "promtool not installed (bash scripts/promtool.sh install)"
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
