#!/usr/bin/env bash
# The whole check, setup included: lint (ruff), types (mypy), then the full test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# mypy sees the checkout as the package alchemist_engine (the folder's own name may not be
# a valid module name, e.g. a CI clone called ci-check), through a link inside .venv.
mkdir -p .venv/typecheck && ln -sfn ../.. .venv/typecheck/alchemist_engine
(cd .venv/typecheck && ../bin/mypy --config-file ../../pyproject.toml -p alchemist_engine)
# Tests need the docker runner for real in CI (they fail rather than skip there).
.venv/bin/python -m pytest -q "$@"
