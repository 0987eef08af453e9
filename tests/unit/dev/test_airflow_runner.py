"""Airflow's environment for in-process runs, and how a failed run is reported."""

from __future__ import annotations

import pytest

from burnout_dev.airflow_runner import DAGS_FOLDER, DagRunFailed, airflow_environment, require_success


def test_airflow_environment_uses_sqlite_under_home_and_project_dags(tmp_path):
    env = airflow_environment(tmp_path)

    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow.db'}"
    assert (
        env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
        and (DAGS_FOLDER / "burnout_pipeline.py").is_file()
    )
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_require_success_names_failed_tasks_and_why():
    summary = {
        "dag_id": "etl_mlflow",
        "run_id": "r1",
        "state": "failed",
        "failed_tasks": ["run_etl"],
        "errors": ["task etl_mlflow.run_etl FAILED after 4 tries: InputError: cannot read s3://raw/x"],
    }

    with pytest.raises(
        DagRunFailed, match=r"failed tasks run_etl \(task etl_mlflow.run_etl FAILED .*s3://raw/x\)"
    ):
        require_success(summary)


def test_require_success_passes_a_successful_run_through():
    summary = {"dag_id": "d", "run_id": "r", "state": "success", "failed_tasks": [], "errors": []}

    assert require_success(summary) is summary
