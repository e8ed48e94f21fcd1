#!/usr/bin/env bash
# The README's main command (make run): the pipelines end to end on the local AWS emulator, with a summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD/dags:$PWD/plugins:$PWD/include${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python include/dev/run_pipelines.py "$@"
