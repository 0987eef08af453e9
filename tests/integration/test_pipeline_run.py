"""run_pipeline end to end on tiny synthetic data, as the burnout_pipeline DAG runs it: ingest, ETL, every
family and their ensemble, promotion, one JSON summary; a second run on the same input reuses the dataset and
the models; with retrain it reuses the studies, and its identical models tie: the champion stays."""

from __future__ import annotations

import json

import mlflow
import pytest

from burnout_base.tracking import configure_mlflow
from burnout_dev.processes import free_port
from etl.synthetic import write_synthetic_csv
from modeling.families import FAMILIES
from pipeline.run import run_pipeline


@pytest.mark.slow
def test_run_pipeline_promotes_the_best_family_then_a_rerun_keeps_it(settings, tmp_path):
    settings = settings.model_copy(update={"api_url": f"http://127.0.0.1:{free_port()}"})  # no API there
    path = tmp_path / "input.csv"
    write_synthetic_csv(path, rows=500, seed=17)

    first = run_pipeline(settings, input=str(path), trials=1)

    assert json.loads(json.dumps(first)) == first  # JSON-able as printed by the CLI
    assert set(first) == {
        "dataset_version",
        "champion",
        "promotion",
        "families",
        "etl",
        "api_reload",
        "seconds",
    }
    assert set(first["families"]) == {*FAMILIES, "ensemble"}
    trained = {f"train_{f}" for f in (*FAMILIES, "ensemble")}
    assert set(first["seconds"]) == {"ingest", "etl", "promote", "total", *trained}
    assert first["api_reload"]["status"] == "skipped"
    assert not any(summary["reused"] for summary in first["families"].values())
    assert first["seconds"]["total"] >= sum(v for k, v in first["seconds"].items() if k != "total") - 1
    champion = first["champion"]
    candidates = first["promotion"]["candidates"]
    assert champion["macro_f1_current_test"] == max(c["macro_f1"] for c in candidates.values())
    assert champion["family"] == max(candidates, key=lambda f: candidates[f]["macro_f1"])
    assert champion["test_metrics"] == first["families"][champion["family"]]["test_metrics"]
    # Honest uncertainty: the champion's score with its interval, and its CV spread across folds.
    low, high = champion["macro_f1_current_test_ci"]
    assert low <= champion["macro_f1_current_test"] <= high
    assert champion["test_metrics"]["macro_f1_ci_low"] <= champion["test_metrics"]["macro_f1"]
    assert champion["cv_macro_f1_std"] == first["families"][champion["family"]]["cv_macro_f1_std"] >= 0
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    alias = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert int(alias.version) == champion["version"] and alias.tags["family"] == champion["family"]

    reused = run_pipeline(settings, input=str(path), trials=1)

    assert reused["etl"]["reused"] is True and reused["dataset_version"] == first["dataset_version"]
    for family, summary in reused["families"].items():
        assert summary["reused"] and summary["model_version"] == first["families"][family]["model_version"]
        # Read back from the training run: the same CV and TEST figures as when it was trained.
        assert summary["cv_macro_f1_std"] == pytest.approx(first["families"][family]["cv_macro_f1_std"])
        assert summary["test_metrics"] == pytest.approx(first["families"][family]["test_metrics"])
    assert reused["champion"]["version"] == champion["version"]

    again = run_pipeline(settings, input=str(path), trials=1, retrain=True)

    assert again["etl"]["reused"] is True and again["dataset_version"] == first["dataset_version"]
    for family, summary in again["families"].items():
        # The study already holds its budget: the same best parameters are refit, on the same data and seed.
        assert summary["best_params"] == first["families"][family]["best_params"]
        assert summary["model_version"] > first["families"][family]["model_version"]
    assert again["promotion"]["decision"] == "kept"
    assert again["promotion"]["reason"].startswith("tie keeps the incumbent: ")
    assert again["promotion"]["macro_f1_difference_ci"] == [0.0, 0.0]
    assert again["champion"]["version"] == champion["version"]
