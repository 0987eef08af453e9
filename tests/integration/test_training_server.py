"""A tiny-budget training against a real MLflow tracking server over HTTP, then the registered model loaded
by alias in a fresh process and asked about raw records with missing values."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pytest

from burnout_base.tracking import configure_mlflow
from etl.contract import CLASSES, NULLABLE_FEATURES
from etl.dataset import load_dataset
from etl.run_etl import run_etl
from etl.synthetic import write_synthetic_csv
from modeling.train import train_family

# Runs in a new interpreter: nothing from this test process (fitted objects, imported modules) can help it.
FRESH_PROCESS = """
import json, sys
import mlflow, pandas as pd
from modeling.model_io import load_model

uri, records = sys.argv[1], pd.DataFrame(json.loads(sys.argv[2]))
model = load_model(uri)
generic = mlflow.pyfunc.load_model(uri)  # MLflow's own loader, trusting the types stored in MLmodel
print(json.dumps({
    "classes": model.predict(records).tolist(),
    "proba": model.predict_proba(records).tolist(),
    "labels": model.classes_.tolist(),
    "pyfunc": generic.predict(records).tolist(),
}))
"""


@pytest.mark.slow
def test_train_over_http_then_predict_raw_records_by_alias_in_fresh_process(server_settings, tmp_path):
    settings = server_settings
    write_synthetic_csv(tmp_path / "input.csv", rows=500, seed=13)
    run_etl(str(tmp_path / "input.csv"), settings)

    result = train_family("lightgbm", settings, trials=2)

    assert (
        result["family"] == "lightgbm" and 0 < result["cv_macro_f1"] <= 1 and result["cv_macro_f1_std"] >= 0
    )
    assert set(result["test_metrics"]) == {
        "macro_f1",
        "accuracy",
        "precision_macro",
        "recall_macro",
        "roc_auc_ovr",
        "macro_f1_ci_low",
        "macro_f1_ci_high",
        "brier_score",
        "expected_calibration_error",
    }
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(settings.registered_model_name, "lightgbm")
    assert int(version.version) == result["model_version"]
    assert version.tags["family"] == "lightgbm"
    assert version.tags["dataset_version"] == result["dataset_version"]

    run = client.get_run(result["run_id"])
    assert {"family", "dataset_version", "git_commit"} <= set(run.data.tags)
    assert run.data.tags["dataset_version"] == result["dataset_version"]
    assert run.data.metrics["test_macro_f1"] == result["test_metrics"]["macro_f1"]
    assert run.data.metrics["test_macro_f1_ci_low"] == result["test_metrics"]["macro_f1_ci_low"]
    assert run.data.metrics["cv_macro_f1_std"] == result["cv_macro_f1_std"]
    # The model card travels over HTTP too: a run artifact, and the registered version's description.
    card = mlflow.artifacts.load_text(f"runs:/{result['run_id']}/model_card.md")
    assert card == version.description and f"v{result['model_version']} (lightgbm)" in card
    assert "| 1 | " in card  # the importance ranking logged by the same run
    assert {d.dataset.digest for d in run.inputs.dataset_inputs} == {result["dataset_version"]}
    artifacts = {a.path for a in client.list_artifacts(result["run_id"], "evaluation")}
    assert {
        "evaluation/confusion_matrix.png",
        "evaluation/classification_report.json",
        "evaluation/reliability.png",
    } <= artifacts
    trials = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result['run_id']}'"
    )
    assert len(trials) == 2

    dataset = load_dataset(settings)
    records = dataset.test_raw.head(4).copy()
    records.loc[records.index[1], "Resource Allocation"] = np.nan
    records.loc[records.index[2], "Mental Fatigue Score"] = np.nan
    records.loc[records.index[3], list(NULLABLE_FEATURES)] = np.nan
    payload = json.dumps(records.astype(object).where(records.notna(), None).to_dict(orient="records"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, f"models:/{settings.registered_model_name}@lightgbm", payload],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(answer["classes"]) == 4 and set(answer["classes"]) <= set(CLASSES)
    assert set(answer["labels"]) == set(CLASSES)
    np.testing.assert_allclose(np.sum(answer["proba"], axis=1), 1.0, rtol=1e-6)
    assert answer["pyfunc"] == answer["classes"]
