#!/usr/bin/env bash
# Example generator of the Secrets the manifests and the Airflow values reference (they inline none). It
# prints them as YAML; nothing is sent anywhere until you pipe it to kubectl:
#
#   export POSTGRES_PASSWORD=... S3_ACCESS_KEY=... S3_SECRET_KEY=... REDIS_PASSWORD=... RELOAD_TOKEN=... \
#          AIRFLOW_FERNET_KEY=... AIRFLOW_API_SECRET_KEY=... AIRFLOW_JWT_SECRET=...
#   bash deploy/kubernetes/create-secrets.example.sh | kubectl apply -f -
#
# Every credential is a placeholder until you set it: the script stops on the first one left. The addresses
# default to the test-cluster overlay's Services; for external services set POSTGRES_HOST, REDIS_HOST and
# S3_ENDPOINT_URL (and POSTGRES_USER) to yours. Generate the Airflow keys as the chart's docs say, e.g.
# python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())".
set -euo pipefail

NAMESPACE="${NAMESPACE:-burnout}"
KUBECTL="${KUBECTL:-kubectl}"
PLACEHOLDER="CHANGE-ME"

POSTGRES_HOST="${POSTGRES_HOST:-postgres}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-$PLACEHOLDER}"
REDIS_HOST="${REDIS_HOST:-valkey}"
REDIS_PASSWORD="${REDIS_PASSWORD:-$PLACEHOLDER}"
S3_ENDPOINT_URL="${S3_ENDPOINT_URL:-http://minio:9000}"
S3_ACCESS_KEY="${S3_ACCESS_KEY:-$PLACEHOLDER}"
S3_SECRET_KEY="${S3_SECRET_KEY:-$PLACEHOLDER}"
RELOAD_TOKEN="${RELOAD_TOKEN:-$PLACEHOLDER}"
AIRFLOW_FERNET_KEY="${AIRFLOW_FERNET_KEY:-$PLACEHOLDER}"
AIRFLOW_API_SECRET_KEY="${AIRFLOW_API_SECRET_KEY:-$PLACEHOLDER}"
AIRFLOW_JWT_SECRET="${AIRFLOW_JWT_SECRET:-$PLACEHOLDER}"

for name in POSTGRES_PASSWORD REDIS_PASSWORD S3_ACCESS_KEY S3_SECRET_KEY RELOAD_TOKEN AIRFLOW_FERNET_KEY \
            AIRFLOW_API_SECRET_KEY AIRFLOW_JWT_SECRET; do
  if [ "${!name}" = "$PLACEHOLDER" ]; then
    echo "create-secrets: set $name (it is still the placeholder)" >&2
    exit 1
  fi
done

# Passwords go into URLs: percent-encode them so that any character survives.
quote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
pg_password="$(quote "$POSTGRES_PASSWORD")"
redis_password="$(quote "$REDIS_PASSWORD")"
postgres="$POSTGRES_USER:$pg_password@$POSTGRES_HOST:5432"

secret() {  # secret NAME KEY=VALUE...
  local name="$1"
  shift
  local args=()
  for pair in "$@"; do args+=("--from-literal=$pair"); done
  "$KUBECTL" create secret generic "$name" --namespace "$NAMESPACE" --dry-run=client --output yaml "${args[@]}"
  echo "---"
}

# The platform (deploy/kubernetes).
secret burnout-s3 "endpoint-url=$S3_ENDPOINT_URL" "access-key=$S3_ACCESS_KEY" "secret-key=$S3_SECRET_KEY"
# Database 1 holds the stream; Airflow's Celery broker uses database 0. KEDA reads address and password.
secret burnout-redis "url=redis://:$redis_password@$REDIS_HOST:6379/1" "address=$REDIS_HOST:6379" \
  "password=$REDIS_PASSWORD"
secret burnout-mlflow-db "uri=postgresql+psycopg2://$postgres/mlflow"
secret burnout-api "reload-token=$RELOAD_TOKEN"
# The test-cluster overlay's Postgres superuser.
secret burnout-postgres "password=$POSTGRES_PASSWORD"

# Airflow (deploy/airflow/values.yaml): the chart reads the key `connection` of its connection Secrets.
secret burnout-airflow-metadata "connection=postgresql://$postgres/airflow"
secret burnout-airflow-result-backend "connection=db+postgresql://$postgres/airflow"
secret burnout-airflow-broker "connection=redis://:$redis_password@$REDIS_HOST:6379/0"
secret burnout-airflow-fernet "fernet-key=$AIRFLOW_FERNET_KEY"
secret burnout-airflow-api-secret "api-secret-key=$AIRFLOW_API_SECRET_KEY"
secret burnout-airflow-jwt "jwt-secret=$AIRFLOW_JWT_SECRET"
secret burnout-optuna-db "uri=postgresql+psycopg2://$postgres/optuna"
