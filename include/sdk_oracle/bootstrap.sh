#!/usr/bin/env bash
# Creates .venv-sdk (at the repo root): the SageMaker Python SDK v2 "oracle" environment used by
# include/sdk_oracle/generate.py and tests/test_sdk_oracle.py. It is separate from .venv because sagemaker 2.x
# (importlib-metadata<7) cannot be installed beside Airflow 3.3.1; nothing in dags/ imports it.
# Re-running is cheap: a stamp of requirements.txt + this script skips work when nothing changed.
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # absolute, so the stamp works from any working directory
cd "$(dirname "$SELF")/../.."
VENV=${SDK_VENV:-.venv-sdk}
REQS=include/sdk_oracle/requirements.txt
source include/dev/venv_lib.sh
stamp_now=$(venv_stamp "$REQS" "$SELF" include/dev/venv_lib.sh)
venv_current "$VENV" "$stamp_now" && exit 0
venv_prepare "$VENV" "sdk_oracle bootstrap"

# --compile-bytecode: the SDK is ~500 modules; without .pyc files (e.g. under PYTHONDONTWRITEBYTECODE=1) every
# generate.py run would recompile them (~2 s) and print SyntaxWarnings from sagemaker-core's docstrings.
echo "sdk_oracle bootstrap: installing $REQS with uv $UV_VERSION"
UV_LINK_MODE=copy "$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" -r "$REQS"

SAGEMAKER_SUPPRESS_V2_WARNING=1 "$VENV/bin/python" -W ignore - <<'PY'
import logging
logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
from importlib.metadata import version
import sagemaker.estimator  # noqa: F401  the oracle's entry point imports
assert version("sagemaker") == "2.257.7", version("sagemaker")
print("sdk_oracle bootstrap: sagemaker", version("sagemaker"), "| sagemaker-core", version("sagemaker-core"),
      "| boto3", version("boto3"), "| importlib-metadata", version("importlib-metadata"))
PY
venv_done "$VENV" "$stamp_now"
