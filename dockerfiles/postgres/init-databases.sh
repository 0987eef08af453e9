#!/usr/bin/env bash
# Runs once, when the Postgres data volume is first initialised (/docker-entrypoint-initdb.d): one database and
# one owner per consumer. Airflow's metadata and Optuna's studies belong to the Airflow user, MLflow's
# tracking and registry store to the MLflow user. Names and passwords come from .env via docker-compose.yaml.
set -euo pipefail

: "${AIRFLOW_DB_USER:?AIRFLOW_DB_USER is not set (see .env)}"
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set (see .env)}"
: "${MLFLOW_DB_USER:?MLFLOW_DB_USER is not set (see .env)}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set (see .env)}"

create_database() {
  local database=$1 owner=$2 password=$3
  # psql variables (:"name" quotes an identifier, :'name' a literal) keep the values out of the SQL text.
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v db="$database" -v owner="$owner" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
  echo "init-databases: database ${database} owned by ${owner}"
}

# The database names are fixed by docker-compose.yaml's connection URLs; tests override them.
create_database "${AIRFLOW_DB_NAME:-airflow}" "$AIRFLOW_DB_USER" "$AIRFLOW_DB_PASSWORD"
create_database "${OPTUNA_DB_NAME:-optuna}" "$AIRFLOW_DB_USER" "$AIRFLOW_DB_PASSWORD"
create_database "${MLFLOW_DB_NAME:-mlflow}" "$MLFLOW_DB_USER" "$MLFLOW_DB_PASSWORD"
