#!/usr/bin/env bash
# Set up, then run the main job: a constrained generation with the embedded SmolLM2 model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m structgen.demo "$@"
