#!/usr/bin/env bash
# One-shot setup run by the airflow-init service before any other Airflow component starts: migrate the
# metadata database, then write the admin's password (from .env) where the simple auth manager reads it.
set -euo pipefail

: "${AIRFLOW_ADMIN_USER:?AIRFLOW_ADMIN_USER is not set (see .env)}"
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD is not set (see .env)}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?the passwords file location is not set}"

airflow db migrate

# JSON is written by Python so that any character in the password is escaped correctly.
umask 077
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as file:
    json.dump({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, file)
print(f"airflow-init: database migrated, password of {os.environ['AIRFLOW_ADMIN_USER']!r} written to {path}")
PY
