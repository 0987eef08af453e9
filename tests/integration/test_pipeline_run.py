"""run_pipeline end to end on tiny synthetic data: ETL, every family, promotion, one JSON summary; a second
run on the same input reuses the dataset and the studies, and its identical models tie: the champion stays."""

from __future__ import annotations

import json

import mlflow
import pytest

from burnout.pipeline import run_pipeline
from burnout_base.tracking import configure_mlflow
from etl.synthetic import write_synthetic_csv
from modeling.families import FAMILIES


@pytest.mark.slow
def test_run_pipeline_promotes_the_best_family_then_a_rerun_keeps_it(settings, tmp_path):
    path = tmp_path / "input.csv"
    write_synthetic_csv(path, rows=500, seed=17)

    first = run_pipeline(settings, input=str(path), trials=1)

    assert json.loads(json.dumps(first)) == first  # JSON-able as printed by the CLI
    assert set(first["families"]) == set(FAMILIES)
    assert set(first["seconds"]) == {"etl", "promote", "total", *(f"train_{f}" for f in FAMILIES)}
    assert first["seconds"]["total"] >= sum(v for k, v in first["seconds"].items() if k != "total") - 1
    champion = first["champion"]
    candidates = first["promotion"]["candidates"]
    assert champion["macro_f1_current_test"] == max(c["macro_f1"] for c in candidates.values())
    assert champion["family"] == max(candidates, key=lambda f: candidates[f]["macro_f1"])
    assert champion["test_metrics"] == first["families"][champion["family"]]["test_metrics"]
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    alias = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert int(alias.version) == champion["version"] and alias.tags["family"] == champion["family"]

    again = run_pipeline(settings, input=str(path), trials=1)

    assert again["etl"]["reused"] is True and again["dataset_version"] == first["dataset_version"]
    for family, summary in again["families"].items():
        # The study already holds its budget: the same best parameters are refit, on the same data and seed.
        assert summary["best_params"] == first["families"][family]["best_params"]
        assert summary["model_version"] > first["families"][family]["model_version"]
    assert again["promotion"]["decision"] == "kept"
    assert again["promotion"]["reason"] == "tie keeps the incumbent"
    assert again["champion"]["version"] == champion["version"]
