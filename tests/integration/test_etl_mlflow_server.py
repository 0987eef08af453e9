"""The ETL logging to a real MLflow tracking server over HTTP (artifacts proxied by the server, as in
compose)."""

from __future__ import annotations

import mlflow
import pytest

from etl.run_etl import run_etl
from etl.synthetic import write_synthetic_csv


@pytest.mark.slow
def test_run_etl_logs_to_the_tracking_server(server_settings, tmp_path):
    csv = write_synthetic_csv(tmp_path / "raw.csv", rows=300, seed=17)["path"]
    summary = run_etl(csv, server_settings)

    mlflow.set_tracking_uri(server_settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    run = client.get_run(summary["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == server_settings.etl_experiment
    assert run.info.status == "FINISHED"
    assert run.data.tags["dataset_version"] == summary["dataset_version"]
    assert run.data.metrics["rows_in"] == 300
    manifest = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/manifest.json")
    assert manifest["dataset_version"] == summary["dataset_version"]
    assert manifest["counts"]["rows_kept"] == summary["rows_kept"]
