#!/usr/bin/env bash
# Creates .venv with MWAA parity in Airflow's documented two steps, offline but for the package registries:
#   1. apache-airflow 3.3.1 + the amazon provider (+ requirements.txt) under MWAA's vendored Airflow constraints;
#   2. dev/emulator/test tools (requirements-dev.txt), keeping apache-airflow==3.3.1 and MWAA's essential pins.
# Re-running is cheap: a stamp of the requirement files' hash skips work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
CONSTRAINTS=include/mwaa/constraints/airflow-3.3.1-python3.12.txt
ESSENTIAL=include/mwaa/constraints/mwaa-essential-3.3.1.txt

source include/dev/venv_lib.sh
stamp_now=$(venv_stamp requirements.txt requirements-dev.txt "$CONSTRAINTS" "$ESSENTIAL" "$0" include/dev/venv_lib.sh)
venv_current "$VENV" "$stamp_now" && exit 0
venv_prepare "$VENV" bootstrap
UV="$VENV/bin/uv"
# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every interpreter would compile
# Airflow from source again: importing the provider's SageMaker operators took 7.3 s instead of 2.6 s.
export UV_PYTHON="$VENV/bin/python" UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1

# Step 1: Airflow and what the DAGs need, exactly as MWAA resolves them. requirements.txt's first line is the
# constraints URL MWAA uses; offline we feed the vendored copy of the same file instead.
grep -v '^--constraint' requirements.txt > "$VENV/requirements-mwaa-local.txt"
echo "bootstrap: step 1/2 Airflow 3.3.1 + provider under MWAA constraints"
"$UV" pip install --quiet "apache-airflow==3.3.1" -r "$VENV/requirements-mwaa-local.txt" -c "$CONSTRAINTS"

# Step 2: tools that conflict with the full constraints (moto, test tools) with Airflow and MWAA's essentials held.
echo "bootstrap: step 2/2 emulator and test tools (apache-airflow==3.3.1 and MWAA essential pins kept)"
"$UV" pip install --quiet "apache-airflow==3.3.1" "boto3==1.43.56" "botocore==1.43.56" -r requirements-dev.txt \
  -c "$ESSENTIAL"
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version
assert version("apache-airflow") == "3.3.1", version("apache-airflow")
assert version("apache-airflow-providers-amazon") == "9.34.0", version("apache-airflow-providers-amazon")
assert version("apache-airflow-providers-openlineage") == "2.20.0", version("apache-airflow-providers-openlineage")
import aiobotocore, moto  # noqa: F401  deferrable operators need aiobotocore in the triggerer
print("bootstrap: airflow", version("apache-airflow"), "| amazon provider", version("apache-airflow-providers-amazon"),
      "| boto3", version("boto3"), "| moto", version("moto"))
PY
venv_done "$VENV" "$stamp_now"
