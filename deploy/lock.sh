#!/usr/bin/env bash
# Regenerate the image's lock files from pyproject.toml (run after changing a dependency;
# tests/deploy/test_image.py fails while the lock no longer satisfies pyproject.toml).
#   deploy/requirements.lock        runtime: the package's dependencies + the rocksdb extra
#   deploy/build-requirements.lock  build: setuptools and wheel for the wheel build, mypy (mypyc)
#                                   to compile the behaviour layer
# Both with hashes (pip install --require-hashes), for CPython 3.11 on manylinux x86_64
# and aarch64 alike (uv records the hashes of every file of a pinned version).
# Needs uv (pip install uv); it reads the package index, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet)
"$UV" pip compile pyproject.toml --extra rocksdb "${common[@]}" \
  --custom-compile-command "deploy/lock.sh" -o deploy/requirements.lock
"$UV" pip compile deploy/build-requirements.in "${common[@]}" \
  --custom-compile-command "deploy/lock.sh" -o deploy/build-requirements.lock
