"""Fixtures shared by every test: isolated settings, and the real services the platform talks to
(an MLflow tracking server over HTTP, an S3-compatible endpoint, Postgres when one runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from burnout_base.settings import Settings
from burnout_dev.processes import free_port, stop_process_tree, wait_until_answers

REPO = Path(__file__).resolve().parents[1]
REAL_DATASET = REPO.parent / "shared" / "data" / "enriched_employee_dataset.csv"
VENV_BIN = Path(sys.executable).parent
# MLflow and Airflow start sub-commands by name.
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
POSTGRES_ADMIN_URL = os.environ.get(
    "BURNOUT_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def real_dataset() -> Path:
    """The real Kaggle dataset beside the project; tests that need it skip cleanly without it."""
    if not REAL_DATASET.exists():
        pytest.skip(f"real dataset not found at {REAL_DATASET}")
    return REAL_DATASET


@pytest.fixture
def make_settings(tmp_path: Path):
    """Build isolated embedded-mode settings under a temporary BURNOUT_HOME (no .env is read)."""

    def build(**overrides) -> Settings:
        # One service worker: the suite shares two cores (tests/unit/api/test_workers.py starts several).
        values = {"home": tmp_path / "home", "tuning_trials": 2, "cv_folds": 2, "api_workers": 1, **overrides}
        settings = Settings(_env_file=None, **values)
        settings.ensure_home()
        return settings

    return build


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


def _create_postgres_database() -> str | None:
    """Create a fresh database on the local Postgres and return its URL, or None when none runs."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"burnout_test_{uuid.uuid4().hex[:10]}"
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    except Exception:
        return None


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """A fresh Postgres database for this test session, or None when no Postgres is reachable."""
    return _create_postgres_database()


@pytest.fixture
def optuna_postgres_url() -> str | None:
    """A fresh Postgres database of the test's own for an Optuna storage, or None when no Postgres is
    reachable. Not the session's `postgres_url`: MLflow's server migrates that one, and Optuna and MLflow both
    keep their schema version in one `alembic_version` table, so Optuna would refuse MLflow's."""
    return _create_postgres_database()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, postgres_url) -> Iterator[str]:
    """A real `mlflow server` over HTTP: Postgres backend store when one runs, SQLite otherwise; artifacts
    served (proxied) by the server itself, as in compose."""
    root = tmp_path_factory.mktemp("mlflow-server")
    backend = postgres_url or f"sqlite:///{root / 'mlflow.db'}"
    port = free_port()
    with open(root / "server.log", "w") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(root / "artifacts"),
                "--serve-artifacts",
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answers(
                f"{url}/health", "mlflow server", lambda: process.poll() is None, root / "server.log", 120
            )
            yield url
        finally:
            stop_process_tree(process.pid)
            process.wait()


@pytest.fixture
def server_settings(make_settings, mlflow_server) -> Settings:
    """Settings pointing at the session's real MLflow server (artifacts proxied by the server)."""
    return make_settings(mlflow_tracking_uri=mlflow_server, mlflow_artifact_root=None)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible HTTP endpoint (moto in server mode; MinIO cannot run on these machines)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(make_settings, s3_endpoint) -> Settings:
    """Settings with the S3 lake on the moto endpoint and fresh buckets for this test."""
    import boto3

    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(
        lake_backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_access_key="test",
        s3_secret_key="test",
        raw_bucket=f"raw-{suffix}",
        processed_bucket=f"processed-{suffix}",
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    for bucket in (settings.raw_bucket, settings.processed_bucket):
        s3.create_bucket(Bucket=bucket)
    return settings


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Iterator[Path]:
    """Airflow configured once per session on a temporary AIRFLOW_HOME (SQLite metadata DB, migrated once,
    the project's DAGs): `dag.test()` runs in-process against it."""
    from burnout_dev.airflow_runner import (
        QUIET_NAMESPACES,
        airflow_environment,
        configure_airflow,
        ensure_airflow_db,
    )

    home = tmp_path_factory.mktemp("airflow-home")
    with pytest.MonkeyPatch.context() as patch:  # the environment is restored at the end of the session
        for name in [n for n in os.environ if n.startswith("AIRFLOW")]:
            patch.delenv(name)
        for name, value in airflow_environment(home).items():
            patch.setenv(name, value)
        patch.setenv("AIRFLOW__LOGGING__NAMESPACE_LEVELS", QUIET_NAMESPACES)
        configure_airflow(home)
        ensure_airflow_db()
        yield home
