"""The model card: its content from plain values, and training publishing it on the run and the registry."""

from __future__ import annotations

import mlflow
import pytest
from sklearn.neighbors import KNeighborsClassifier

from burnout_base.tracking import configure_mlflow, ensure_experiment
from modeling.model_card import ModelCardInputs, build_model_card
from modeling.model_io import describe_version
from modeling.registry_names import BACKGROUND_ARTIFACT, IMPORTANCE_CHART_ARTIFACT, MODEL_CARD_ARTIFACT
from modeling.train import TrainedModel, record_trained_model

METRICS = {
    "macro_f1": 0.8612,
    "macro_f1_ci_low": 0.8501,
    "macro_f1_ci_high": 0.8723,
    "accuracy": 0.8702,
    "roc_auc_ovr": 0.9655,
    "brier_score": 0.1871,
    "expected_calibration_error": 0.0213,
}


def _card(**overrides) -> str:
    values = {
        "registered_model_name": "burnout-risk",
        "family": "lightgbm",
        "model_version": 7,
        "params": {"num_leaves": 31, "learning_rate": 0.05},
        "dataset_version": "0123456789abcdef",
        "y_train": ["Low"] * 6 + ["Medium"] * 3 + ["High"],
        "y_test": ["Low"] * 2 + ["Medium"] * 2,
        "test_metrics": METRICS,
        "cv_macro_f1": 0.8544,
        "cv_macro_f1_std": 0.0061,
        "git_commit": "abc123",
    }
    return build_model_card(ModelCardInputs(**{**values, **overrides}))


def test_model_card_states_model_data_metrics_with_interval_and_limits():
    card = _card(importance=[("Mental Fatigue Score", 1.234), ("Resource Allocation", 0.5)])
    assert card.startswith("# Model card: burnout-risk v7 (lightgbm)")
    assert "| num_leaves | `31` |" in card and "`abc123`" in card
    assert "Dataset version `0123456789abcdef`: 10 TRAIN rows" in card and "4 TEST rows" in card
    # Class balance: counts and shares, TRAIN beside TEST, a class absent from TEST shown as 0.
    assert "| Low | 6 | 60.0% | 2 | 50.0% |" in card
    assert "| High | 1 | 10.0% | 0 | 0.0% |" in card
    assert "| macro-F1 | 0.8612 (95 % bootstrap CI [0.850, 0.872]) |" in card
    assert "0.8544 \u00b1 0.0061" in card
    assert "Brier score: 0.1871" in card and "calibration error (10 bins): 0.0213" in card
    assert "| 1 | Mental Fatigue Score | 1.2340 |" in card
    assert "Are Your Employees Burning Out?" in card and "0.33" in card and "0.66" in card
    assert "without human review" in card
    assert "one split of 4 rows" in card and "(here 0.022 wide)" in card


def test_model_card_says_what_was_not_measured():
    card = _card(
        cv_macro_f1=0.85, cv_macro_f1_std=None, test_metrics={"macro_f1": 0.8}, importance=None, params={}
    )
    assert "Cross-validated macro-F1 on TRAIN: 0.8500." in card  # no std for an older study
    assert "| macro-F1 | 0.8000 |" in card
    assert card.count("Not computed for this version.") == 1
    assert "Not measured for this version." in card


def test_record_trained_model_publishes_the_card_on_run_and_registry(
    published_settings, dataset, make_pipeline
):
    settings = published_settings.model_copy(update={"registered_model_name": "card-test"})
    configure_mlflow(settings)
    pipeline = make_pipeline(KNeighborsClassifier(n_neighbors=9))
    with mlflow.start_run(experiment_id=ensure_experiment(settings, settings.training_experiment)):
        trained = TrainedModel(
            "knn", pipeline, {"n_neighbors": 9}, cv_scores=[0.70, 0.74], extra_tags={"members": "knn"}
        )
        summary = record_trained_model(trained, dataset, settings)
    assert summary["cv_macro_f1"] == pytest.approx(0.72) and summary["cv_macro_f1_std"] == pytest.approx(0.02)
    low, high = summary["test_metrics"]["macro_f1_ci_low"], summary["test_metrics"]["macro_f1_ci_high"]
    assert low < summary["test_metrics"]["macro_f1"] < high

    client = mlflow.MlflowClient()
    run = client.get_run(summary["run_id"])
    assert run.data.metrics["cv_macro_f1_std"] == pytest.approx(0.02)
    assert run.data.tags["members"] == "knn" and run.data.tags["family"] == "knn"
    assert run.data.tags["mlflow.note.content"].startswith(
        f"Trained knn on dataset `{dataset.version}` and registered it as `card-test` "
        f"v{summary['model_version']}: test macro-F1 {summary['test_metrics']['macro_f1']:.4f} (95% CI "
    )
    assert "CV macro-F1 0.7200" in run.data.tags["mlflow.note.content"]
    card = mlflow.artifacts.load_text(f"runs:/{summary['run_id']}/{MODEL_CARD_ARTIFACT}")
    version = client.get_model_version_by_alias("card-test", "knn")
    assert int(version.version) == summary["model_version"]
    assert version.description == card and version.tags["members"] == "knn"
    assert f"[{low:.3f}, {high:.3f}]" in card and f"v{summary['model_version']} (knn)" in card
    assert "burnout risk class" in client.get_registered_model("card-test").description
    # The importance ranking logged beside the model is the card's feature table; the background travels too.
    assert "| 1 | " in card and "Not computed for this version." not in card
    explanation = {a.path for a in client.list_artifacts(summary["run_id"], "explanation")}
    assert {IMPORTANCE_CHART_ARTIFACT, BACKGROUND_ARTIFACT} <= explanation
    # Read back from the registry as the pipeline and the service see it.
    described = describe_version(client, "card-test", summary["model_version"])
    assert described["cv_macro_f1_std"] == pytest.approx(0.02)
    assert described["test_metrics"] == pytest.approx(summary["test_metrics"])
