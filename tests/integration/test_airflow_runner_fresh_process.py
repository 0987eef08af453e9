"""The in-process Airflow harness in a fresh interpreter: migrating once per AIRFLOW_HOME, and re-pointing an
Airflow that was already imported with another home (as when an earlier test imported it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys
from pathlib import Path
from burnout_dev.airflow_runner import configure_airflow, ensure_airflow_db, load_dag
first, second = Path(sys.argv[1]), Path(sys.argv[2])
configure_airflow(first)
ran = [ensure_airflow_db(), ensure_airflow_db()]
configure_airflow(second)
ran.append(ensure_airflow_db())
from airflow import settings
print(json.dumps({"ran": ran, "engine": str(settings.engine.url), "dag": load_dag("etl_mlflow").dag_id}))
"""


def test_configure_airflow_migrates_once_and_repoints(tmp_path):
    env_free = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no AIRFLOW_* or BURNOUT_* from outside
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "a"), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env_free,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ran"] == [True, False, True]  # migrated, skipped (already at head), migrated the new home
    assert report["engine"] == f"sqlite:///{tmp_path / 'b' / 'airflow.db'}"
    assert report["dag"] == "etl_mlflow"
    assert (tmp_path / "a" / "airflow.db").is_file() and (tmp_path / "b" / "airflow.db").is_file()
