#!/usr/bin/env bash
# Set up a virtual environment in .venv (once) and run the default training job.
# Extra arguments go to train.py, e.g. ./quickstart.sh --timesteps 50000
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch first, pinned: the CPU build; anything unpinned pulls a multi-GB CUDA build
    .venv/bin/python -m pip install --quiet torch==2.13.0
    .venv/bin/python -m pip install --quiet -e ".[all]"
fi
exec .venv/bin/python train.py "$@"
