#!/usr/bin/env bash
# Set up crossling on a fresh machine: a virtual environment in .venv with every dependency.
# torch comes first and pinned to the CPU wheel: a plain `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[test,fast]"
echo "crossling is installed in .venv: run .venv/bin/crossling --help"
