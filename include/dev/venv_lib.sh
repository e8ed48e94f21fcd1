# Shared by the scripts that build this project's three environments, each from pinned files:
#   .venv        Airflow 3.3.1 + provider (MWAA parity) and test tools   include/dev/bootstrap.sh
#   .venv-sdk    the sagemaker SDK oracle                                include/sdk_oracle/bootstrap.sh
#   .venv-tools  cfn-lint and the Compose parser                         include/dev/tools_venv.sh
# Source it from the repo root; it defines functions only.
UV_VERSION=0.12.3

pick_python() {
  # Python 3.12 (MWAA's version) first, else any 3.11+. Each candidate is run, not just looked up: a pyenv shim
  # (python3.12) exists on PATH even when no 3.12 is selected, and then fails.
  local c
  for c in "${PYTHON:-}" "$HOME"/.pyenv/versions/3.12*/bin/python3.12 python3.12 /usr/bin/python3.12 \
           python3.11 python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then echo "$c"; return; fi
  done
  echo "No Python 3.11+ found; install Python 3.12 (MWAA's version) and retry, or set PYTHON=/path/to/python3.12" >&2
  exit 1
}

# venv_stamp FILE...: a short hash of the inputs an environment is built from.
venv_stamp() { cat "$@" | sha256sum | cut -c1-16; }

# venv_current VENV STAMP: true when VENV was completely built from inputs with this stamp (then skip all work).
venv_current() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ] && [ -x "$1/bin/python" ]; }

# venv_prepare VENV LABEL: create VENV if missing, forget its stamp until the build finishes, and install uv.
venv_prepare() {
  local venv=$1 label=$2 py
  if [ ! -x "$venv/bin/python" ]; then
    py=$(pick_python)
    echo "$label: creating $venv with $("$py" --version)"
    "$py" -m venv "$venv"
  fi
  rm -f "$venv/.stamp"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
}

# venv_done VENV STAMP: mark VENV as completely built.
venv_done() { echo "$2" > "$1/.stamp"; }
