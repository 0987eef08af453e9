"""Airflow against Postgres, as docker-compose.yaml runs it: migrate and check a fresh metadata database with
the `airflow` CLI. Every other Airflow test uses SQLite, which never needs the asyncpg driver that Airflow 3
opens Postgres with for its async engine."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow

AIRFLOW = Path(sys.executable).parent / "airflow"
# A query through Airflow's own async session: the API server's execution API reads the database this way.
ASYNC_QUERY = """
import asyncio
import sqlalchemy as sa
from airflow import settings

async def main():
    async with settings.AsyncSession() as session:
        assert (await session.execute(sa.text("SELECT 1"))).scalar() == 1
    await settings.async_engine.dispose()

asyncio.run(main())
"""


@pytest.fixture
def airflow_database(postgres_url) -> Iterator[str]:
    """A fresh database on the local Postgres, as Airflow's psycopg2 URL; dropped afterwards."""
    if postgres_url is None:
        pytest.skip("needs a local Postgres")
    server = sa.make_url(postgres_url)
    name = f"airflow_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(drivername="postgresql+psycopg2", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            # FORCE: a timed-out Airflow command may still hold a connection.
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_airflow(args: list[str], database_url: str, home: Path) -> subprocess.CompletedProcess:
    """Run an Airflow command in a fresh process configured only by the environment, as in a container."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database_url,
        AIRFLOW__CORE__LOAD_EXAMPLES="false",
    )
    return subprocess.run(args, env=env, cwd=home, capture_output=True, text=True, timeout=600)


def test_airflow_migrates_and_checks_a_postgres_database(airflow_database, tmp_path):
    migrate = run_airflow([str(AIRFLOW), "db", "migrate"], airflow_database, tmp_path)
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    check = run_airflow([str(AIRFLOW), "db", "check"], airflow_database, tmp_path)
    assert check.returncode == 0, check.stderr[-3000:]

    query = run_airflow([sys.executable, "-c", ASYNC_QUERY], airflow_database, tmp_path)
    assert query.returncode == 0, query.stderr[-3000:]
