"""The Postgres init script of docker-compose.yaml (dockerfiles/postgres/init-databases.sh), run with psql
against the local Postgres under unique database and role names."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

SCRIPT = Path(__file__).resolve().parents[2] / "dockerfiles" / "postgres" / "init-databases.sh"


@pytest.fixture
def server(postgres_url):
    """Connection details of the local Postgres (skips without one or without psql)."""
    if postgres_url is None or shutil.which("psql") is None:
        pytest.skip("needs a local Postgres and the psql client")
    return sa.make_url(postgres_url)


def run_script(server, names: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "PGPASSWORD": server.password or "",
        "POSTGRES_USER": server.username or "postgres",
        **names,
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_init_script_creates_databases_and_owners(server):
    suffix = uuid.uuid4().hex[:8]
    names = {
        "AIRFLOW_DB_USER": f"af_{suffix}",
        "AIRFLOW_DB_PASSWORD": 'it\'s "quoted"',
        "MLFLOW_DB_USER": f"ml_{suffix}",
        "MLFLOW_DB_PASSWORD": "plain",
        "AIRFLOW_DB_NAME": f"airflow_{suffix}",
        "OPTUNA_DB_NAME": f"optuna_{suffix}",
        "MLFLOW_DB_NAME": f"mlflow_{suffix}",
    }
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        first, second = run_script(server, names), run_script(server, names)
        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr  # re-running changes nothing and does not fail
        with admin.connect() as conn:
            owners = dict(
                conn.execute(
                    sa.text(
                        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname LIKE :pattern"
                    ),
                    {"pattern": f"%_{suffix}"},
                ).all()
            )
            can_login = conn.execute(
                sa.text("SELECT bool_and(rolcanlogin) FROM pg_roles WHERE rolname IN (:a, :m)"),
                {"a": names["AIRFLOW_DB_USER"], "m": names["MLFLOW_DB_USER"]},
            ).scalar()
        assert owners == {
            names["AIRFLOW_DB_NAME"]: names["AIRFLOW_DB_USER"],
            names["OPTUNA_DB_NAME"]: names["AIRFLOW_DB_USER"],
            names["MLFLOW_DB_NAME"]: names["MLFLOW_DB_USER"],
        }
        assert can_login
    finally:
        with admin.connect() as conn:
            for key in ("AIRFLOW_DB_NAME", "OPTUNA_DB_NAME", "MLFLOW_DB_NAME"):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{names[key]}"'))
            for key in ("AIRFLOW_DB_USER", "MLFLOW_DB_USER"):
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{names[key]}"'))
        admin.dispose()


def test_init_script_names_a_missing_variable(server):
    result = run_script(server, {"AIRFLOW_DB_USER": "x", "AIRFLOW_DB_PASSWORD": "y", "MLFLOW_DB_USER": "z"})
    assert result.returncode != 0
    assert "MLFLOW_DB_PASSWORD is not set" in result.stderr
