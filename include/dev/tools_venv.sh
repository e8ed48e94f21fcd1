#!/usr/bin/env bash
# Creates .venv-tools (at the repo root): developer/CI tools that must not share .venv with Airflow 3.3.1 and its
# MWAA constraints, today cfn-lint for include/infra/mlops-stack.yaml (tests/test_iam_infra.py runs
# .venv-tools/bin/cfn-lint), and the AWS CLI v1 that `make bench` compares the uploader with
# (.venv-tools/bin/aws). Pins: requirements-tools.txt.
# Re-running is cheap: a stamp of requirements-tools.txt + this script skips work when nothing changed.
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # absolute, so the stamp works from any working directory
cd "$(dirname "$SELF")/../.."
VENV=${TOOLS_VENV:-.venv-tools}
REQS=requirements-tools.txt
source include/dev/venv_lib.sh
stamp_now=$(venv_stamp "$REQS" "$SELF" include/dev/venv_lib.sh)
venv_current "$VENV" "$stamp_now" && [ -x "$VENV/bin/cfn-lint" ] && [ -x "$VENV/bin/aws" ] && exit 0
venv_prepare "$VENV" "tools venv"
echo "tools venv: installing $REQS with uv $UV_VERSION"
# sync, not install: the venv then holds exactly the pinned set (a pin dropped from the file is uninstalled).
UV_LINK_MODE=copy "$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" "$REQS"

expected=$(sed -n 's/^cfn-lint==//p' "$REQS")
actual=$("$VENV/bin/cfn-lint" --version | awk '{print $2}')
if [ "$actual" != "$expected" ]; then
  echo "tools venv: cfn-lint is $actual, $REQS pins $expected" >&2
  exit 1
fi
expected_cli=$(sed -n 's/^awscli==//p' "$REQS")
actual_cli=$("$VENV/bin/aws" --version 2>&1 | sed -n 's|^aws-cli/\([^ ]*\).*|\1|p')
if [ "$actual_cli" != "$expected_cli" ]; then
  echo "tools venv: aws-cli is ${actual_cli:-missing}, $REQS pins awscli $expected_cli" >&2
  exit 1
fi
echo "tools venv: cfn-lint $actual, aws-cli $actual_cli ($("$VENV/bin/python" --version))"
venv_done "$VENV" "$stamp_now"
