#!/usr/bin/env bash
# make airflow: the real Airflow UI against the local AWS emulator until Ctrl-C (include/dev/airflow_ui.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD/dags:$PWD/plugins:$PWD/include:$PWD/include/dev${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python include/dev/airflow_ui.py "$@"
