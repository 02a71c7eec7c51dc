#!/usr/bin/env bash
# The whole check, setup included: lint (ruff), types (mypy), then the full test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy .
# Tests need the docker runner for real in CI (they fail rather than skip there).
.venv/bin/python -m pytest -q "$@"
