#!/usr/bin/env bash
# Make sure a real redis-server binary is installed, for the revoker's deny-list
# and applied-set tests (tests/revoker, tests/integration/test_revoker*.py).
# The tests start their own servers on free loopback ports; nothing here runs one.
#
#   scripts/redis.sh install   install redis-server with apt-get if it is missing (idempotent)
#   scripts/redis.sh status    exit 0 if redis-server is on PATH, 3 if not
set -euo pipefail

log() { echo "redis.sh: $*"; }
die() { echo "redis.sh: ERROR: $*" >&2; exit 1; }

cmd_install() {
  if command -v redis-server >/dev/null 2>&1; then
    log "$(redis-server --version | cut -d' ' -f1-3) already installed, nothing to do"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "redis-server missing and no apt-get: install Redis 6.2+ by hand"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "redis-server missing: run as root, or apt-get install -y redis-server"
    sudo=(sudo)
  fi
  log "installing redis-server with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q redis-server >/dev/null \
    || { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q redis-server >/dev/null; } \
    || die "apt-get install redis-server failed"
  command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after apt-get"
  log "installed $(redis-server --version | cut -d' ' -f1-3)"
}

cmd_status() {
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --version
    return 0
  fi
  echo "redis-server not installed (bash scripts/redis.sh install)"
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
