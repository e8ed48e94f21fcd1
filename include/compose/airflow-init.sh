#!/usr/bin/env bash
# Run once by docker-compose.yaml's airflow-init service (as root, like the official Airflow compose file), before
# the other Airflow services start:
#   1. creates the bind-mounted folders (./logs, ./config, ...) and hands them to AIRFLOW_UID;
#   2. migrates the metadata DB: the image's /entrypoint does it because _AIRFLOW_DB_MIGRATE=true;
#   3. writes /opt/airflow/config/airflow.cfg if missing (`airflow config list`). Airflow generates its secrets
#      there (core fernet_key, api_auth jwt_secret, api secret_key): every container reads that one file, so the
#      API server, the scheduler and the triggerer agree on them, and they survive `docker compose down -v`;
#   4. refuses to go on with an empty Fernet key (connection passwords would be stored unencrypted).
set -euo pipefail

if [[ -z "${AIRFLOW_UID:-}" ]]; then
  echo "WARNING: AIRFLOW_UID is not set. On Linux put AIRFLOW_UID=\$(id -u) in .env (see .env.example)," >&2
  echo "         otherwise ./logs and ./config are owned by the image's default user (50000)." >&2
fi
uid="${AIRFLOW_UID:-50000}"

mkdir -p /opt/airflow/{logs,dags,plugins,config}

echo "airflow-init: Airflow version (and DB migration)"
/entrypoint airflow version

echo "airflow-init: writing ${AIRFLOW_CONFIG:-/opt/airflow/config/airflow.cfg} if missing"
/entrypoint airflow config list >/dev/null

fernet_key="$(/entrypoint airflow config get-value core fernet_key 2>/dev/null | tail -n 1 || true)"
if [[ -z "${fernet_key}" ]]; then
  echo "ERROR: the Fernet key is empty, so connection passwords would be stored unencrypted." >&2
  echo "       Remove AIRFLOW__CORE__FERNET_KEY from .env (airflow-init then uses the one generated in" >&2
  echo "       config/airflow.cfg), or set it to a key from:" >&2
  echo "         python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'" >&2
  exit 1
fi

# Only what Airflow writes to: dags/ and plugins/ are the repository's own files and stay as they are.
chown -R "${uid}:0" /opt/airflow/logs /opt/airflow/config
echo "airflow-init: done"
