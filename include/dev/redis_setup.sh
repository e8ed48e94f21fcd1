#!/usr/bin/env bash
# Redis for tests/test_celery_services.py (the CeleryExecutor's broker, as in docker-compose.yaml): Debian's
# redis-server, started by the test itself on a free loopback port. Idempotent: installs only when missing.
set -euo pipefail
# shellcheck source=include/dev/apt_lib.sh
. "$(dirname "$0")/apt_lib.sh"

if ! command -v redis-server >/dev/null 2>&1; then
    apt_install "the CeleryExecutor test's broker (tests/test_celery_services.py)" redis-server
fi
redis-server --version
