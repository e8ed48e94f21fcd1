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
UV_VERSION=0.12.3

pick_python() {
  # Python 3.12 (MWAA's version) first, else any 3.11+.
  local c
  for c in "${PYTHON:-}" "$HOME"/.pyenv/versions/3.12*/bin/python3.12 python3.12 /usr/bin/python3.12 python3.11 python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then echo "$c"; return; fi
  done
  echo "No Python 3.11+ found; install Python 3.12 and retry, or set PYTHON=/path/to/python3.12" >&2
  exit 1
}

stamp_now=$(cat "$REQS" "$SELF" | sha256sum | cut -c1-16)
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp_now" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  py=$(pick_python)
  echo "sdk_oracle bootstrap: creating $VENV with $("$py" --version)"
  "$py" -m venv "$VENV"
fi
rm -f "$VENV/.stamp"

# --compile-bytecode: the SDK is ~500 modules; without .pyc files (e.g. under PYTHONDONTWRITEBYTECODE=1) every
# generate.py run would recompile them (~2 s) and print SyntaxWarnings from sagemaker-core's docstrings.
if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"; then
  echo "sdk_oracle bootstrap: installing $REQS with uv $UV_VERSION"
  UV_LINK_MODE=copy "$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" -r "$REQS"
else
  echo "sdk_oracle bootstrap: uv unavailable, installing $REQS with pip" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"  # pip compiles .pyc itself
fi

SAGEMAKER_SUPPRESS_V2_WARNING=1 "$VENV/bin/python" -W ignore - <<'PY'
import logging
logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
from importlib.metadata import version
import sagemaker.estimator  # noqa: F401  the oracle's entry point imports
assert version("sagemaker") == "2.257.7", version("sagemaker")
print("sdk_oracle bootstrap: sagemaker", version("sagemaker"), "| sagemaker-core", version("sagemaker-core"),
      "| boto3", version("boto3"), "| importlib-metadata", version("importlib-metadata"))
PY
echo "$stamp_now" > "$VENV/.stamp"
