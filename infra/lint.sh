#!/usr/bin/env bash
# `make lint` (and the first step of `make test`): ruff's checks, ruff's formatting and mypy on the
# project's Python, with the settings in pyproject.toml. Runs every step, then fails if any did.
# Fix most findings with `.venv/bin/ruff check --fix` and `.venv/bin/ruff format`.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PATHS=(otcdesk streams producers consumers bench tests)

failed=()
step() {
  local name=$1
  shift
  echo "lint: $name"
  "$@" || failed+=("$name")
}
step "ruff check" "$BIN/ruff" check "${PATHS[@]}"
step "ruff format --check" "$BIN/ruff" format --check "${PATHS[@]}"
step "mypy" "$BIN/mypy"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint: failed: ${failed[*]}"
  exit 1
fi
echo "lint: clean"
