"""The one TEST evaluation: metrics through the raw-input model, report and confusion matrix logged."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.neighbors import KNeighborsClassifier

from burnout_base.tracking import ensure_experiment
from etl.contract import CLASSES
from modeling.evaluate import evaluate_model, log_evaluation


def test_evaluate_model_scores_raw_test_records(dataset, make_pipeline):
    evaluation = evaluate_model(
        make_pipeline(KNeighborsClassifier(n_neighbors=9)), dataset.test_raw, dataset.y_test
    )
    assert set(evaluation.metrics) == {
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
    assert all(0 <= value <= 1 for value in evaluation.metrics.values())
    metrics = evaluation.metrics
    assert metrics["macro_f1_ci_low"] < metrics["macro_f1"] < metrics["macro_f1_ci_high"]
    assert evaluation.macro_f1_ci == (metrics["macro_f1_ci_low"], metrics["macro_f1_ci_high"])
    assert sum(evaluation.reliability["count"]) == len(dataset.y_test)
    assert evaluation.metrics["roc_auc_ovr"] > 0.7  # synthetic data is learnable: a real signal, not noise
    assert evaluation.confusion.shape == (3, 3)
    assert evaluation.confusion.sum() == len(dataset.y_test)
    # Rows follow CLASSES: row i sums to the number of TEST records of class i.
    counts = dataset.y_test.value_counts()
    assert evaluation.confusion.sum(axis=1).tolist() == [int(counts.get(c, 0)) for c in CLASSES]
    assert set(CLASSES) <= set(evaluation.report)
    assert evaluation.report["macro avg"]["f1-score"] == evaluation.metrics["macro_f1"]


def test_evaluate_model_interval_is_reproducible_and_calibration_tells_models_apart(dataset, make_pipeline):
    knn = make_pipeline(KNeighborsClassifier(n_neighbors=9))
    first = evaluate_model(knn, dataset.test_raw, dataset.y_test, seed=3)
    assert first.macro_f1_ci == evaluate_model(knn, dataset.test_raw, dataset.y_test, seed=3).macro_f1_ci
    # The prior-only model is calibrated on average but uninformative: a worse Brier score than KNN's.
    prior = evaluate_model(
        make_pipeline(DummyClassifier(strategy="prior")), dataset.test_raw, dataset.y_test, seed=3
    )
    assert first.metrics["brier_score"] < prior.metrics["brier_score"]


def test_macro_f1_ranks_a_real_model_above_a_constant_one(dataset, make_pipeline):
    def macro_f1(model) -> float:
        return evaluate_model(model, dataset.test_raw, dataset.y_test).metrics["macro_f1"]

    good = macro_f1(make_pipeline(KNeighborsClassifier(n_neighbors=9)))
    constant = macro_f1(make_pipeline(DummyClassifier(strategy="most_frequent")))
    assert constant < 0.35 < good


def test_log_evaluation_writes_metrics_report_confusion_and_reliability(
    published_settings, dataset, make_pipeline, tmp_path
):
    evaluation = evaluate_model(
        make_pipeline(KNeighborsClassifier(n_neighbors=9)), dataset.test_raw, dataset.y_test
    )
    with mlflow.start_run(experiment_id=ensure_experiment(published_settings, "evaluate-test")) as run:
        log_evaluation(evaluation)
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["test_macro_f1"] == evaluation.metrics["macro_f1"]
    assert logged["test_roc_auc_ovr"] == evaluation.metrics["roc_auc_ovr"]
    assert logged["test_macro_f1_ci_low"] == evaluation.macro_f1_ci[0]
    assert logged["test_macro_f1_ci_high"] == evaluation.macro_f1_ci[1]
    assert logged["test_brier_score"] == evaluation.metrics["brier_score"]
    assert logged["test_expected_calibration_error"] == evaluation.metrics["expected_calibration_error"]
    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="evaluation", dst_path=str(tmp_path)
        )
    )
    assert (folder / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "reliability.json").read_text()) == evaluation.reliability
    matrix = json.loads((folder / "confusion_matrix.json").read_text())
    assert matrix["labels"] == list(CLASSES)
    np.testing.assert_array_equal(matrix["matrix"], evaluation.confusion)
    assert json.loads((folder / "classification_report.json").read_text())["High"]["support"] > 0
