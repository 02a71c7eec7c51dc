#!/usr/bin/env bash
# Set up everything alchemist-engine needs on a fresh Debian machine with Python 3.11:
# system packages (Docker engine, bubblewrap), the virtualenv (torch 2.13.0 CPU build
# first, so no loose requirement pulls CUDA wheels), the project, a running Docker
# engine and the locally built sandbox image. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

say() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  say "installing torch==2.13.0 (CPU build) first"
  .venv/bin/pip install -q --upgrade pip >.venv/pip-install.log 2>&1
  .venv/bin/pip install -q torch==2.13.0 >>.venv/pip-install.log 2>&1 \
    || { tail -n 40 .venv/pip-install.log >&2; say "installing torch failed"; exit 1; }
fi
say "installing alchemist-engine and its dependencies"
if ! .venv/bin/pip install -q -e ".[test,pdf]" >>.venv/pip-install.log 2>&1; then
  tail -n 40 .venv/pip-install.log >&2
  say "pip install failed (full log: .venv/pip-install.log)"
  exit 1
fi
.venv/bin/python -c "import alchemist_engine.cli" # fails loudly if the install did not work

# The Docker engine: start it when we are root and nothing answers.
if command -v docker >/dev/null && ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
    say "starting dockerd"
    (dockerd >/var/log/alchemist-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
fi
if docker info >/dev/null 2>&1; then
  say "building the sandbox image (locally, nothing is pulled)"
  .venv/bin/python -W ignore::RuntimeWarning -m alchemist_engine.sandbox.image
else
  say "no Docker engine answers: the docker runner is unavailable (bwrap/subprocess remain)"
fi
say "ready"
