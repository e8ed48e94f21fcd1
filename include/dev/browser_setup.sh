#!/usr/bin/env bash
# Headless browser for tests/test_ui_browser.py: Debian's Chromium (/usr/bin/chromium) and the Python Playwright
# client (requirements-browser.txt) in .venv, driving that Chromium through executable_path. Playwright's own
# browser download is never used (this machine reaches no browser CDN). Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=include/dev/apt_lib.sh
. include/dev/apt_lib.sh

if ! command -v chromium >/dev/null 2>&1; then
    apt_install "the browser test (tests/test_ui_browser.py drives Debian's Chromium; Playwright's own browser download is never used)" \
        chromium fonts-liberation
fi
chromium --version 2>/dev/null

if ! .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata, pathlib, re
want = {}
for line in pathlib.Path("requirements-browser.txt").read_text().splitlines():
    m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
    if m:
        want[m.group(1)] = m.group(2)
assert all(importlib.metadata.version(n) == v for n, v in want.items())
PY
then
    if [ -x .venv/bin/uv ]; then
        .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements-browser.txt
    else
        .venv/bin/python -m pip install --quiet -r requirements-browser.txt
    fi
fi
.venv/bin/python -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
