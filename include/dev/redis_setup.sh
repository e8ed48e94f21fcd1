#!/usr/bin/env bash
# Redis for tests/test_celery_services.py (the CeleryExecutor's broker, as in docker-compose.yaml): Debian's
# redis-server, started by the test itself on a free loopback port. Idempotent: installs only when missing.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
redis-server --version
