"""The one evaluation of a fitted model on the TEST split, and its MLflow record.

Metrics are computed through the full raw-input model (preprocessor + estimator), exactly as it is served.
Beside the point scores: a 95 % bootstrap interval of macro-F1 (TEST is one split of a few thousand rows, so
a score alone overstates what it knows) and how well the probabilities are calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from etl.contract import CLASSES
from modeling.uncertainty import (
    DEFAULT_ROUNDS,
    bootstrap_macro_f1,
    expected_calibration_error,
    multiclass_brier_score,
    reliability_bins,
)

METRIC_PREFIX = "test_"


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one labelled split; `confusion[i][j]` counts true CLASSES[i] predicted [j];
    `reliability` is uncertainty.reliability_bins of the predicted class's probability."""

    metrics: dict[str, float]
    report: dict[str, Any]
    confusion: np.ndarray
    macro_f1_ci: tuple[float, float]
    reliability: dict[str, list]


def evaluate_model(
    model, X_raw: pd.DataFrame, y_true: pd.Series, seed: int = 0, rounds: int = DEFAULT_ROUNDS
) -> Evaluation:
    """Macro-F1 with its 95 % bootstrap interval (`rounds` resamples from `seed`), accuracy, macro
    precision/recall, one-vs-rest ROC-AUC, multiclass Brier score, top-label expected calibration error (10
    bins), per-class report, confusion matrix."""
    y_true = np.asarray(y_true)
    y_pred = model.predict(X_raw)
    proba = model.predict_proba(X_raw)
    labels = list(CLASSES)
    ci = bootstrap_macro_f1(y_true, y_pred, rounds=rounds, seed=seed, labels=labels)
    reliability = reliability_bins(y_true, proba, model.classes_)
    metrics = {
        "macro_f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "accuracy": accuracy_score(y_true, y_pred),
        "precision_macro": precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "recall_macro": recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "roc_auc_ovr": roc_auc_score(
            y_true, proba, multi_class="ovr", average="macro", labels=model.classes_
        ),
        "macro_f1_ci_low": ci[0],
        "macro_f1_ci_high": ci[1],
        "brier_score": multiclass_brier_score(y_true, proba, model.classes_),
        "expected_calibration_error": expected_calibration_error(reliability),
    }
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    return Evaluation(
        metrics={name: float(value) for name, value in metrics.items()},
        report=report,
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
        macro_f1_ci=ci,
        reliability=reliability,
    )


def plot_confusion_matrix(confusion: np.ndarray) -> Figure:
    """A labelled confusion-matrix heatmap (a bare Figure: no pyplot state, no GUI backend)."""
    figure = Figure(figsize=(4.8, 4.2), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(confusion, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = range(len(CLASSES))
    axes.set_xticks(ticks, labels=CLASSES)
    axes.set_yticks(ticks, labels=CLASSES)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix (TEST)")
    threshold = confusion.max() / 2 if confusion.size else 0
    for i in ticks:
        for j in ticks:
            color = "white" if confusion[i, j] > threshold else "black"
            axes.text(j, i, str(confusion[i, j]), ha="center", va="center", color=color)
    figure.tight_layout()
    return figure


def plot_reliability(reliability: dict[str, list]) -> Figure:
    """Reliability diagram: accuracy against mean confidence of the predicted class per bin, with the
    diagonal of perfect calibration and the rows per bin as bars."""
    figure = Figure(figsize=(5.2, 4.2), dpi=100)
    axes = figure.add_subplot()
    edges = np.asarray(reliability["edges"])
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    count = np.asarray(reliability["count"], dtype=float)
    share = count / count.sum() if count.sum() else count
    axes.bar(centres, share, width=width * 0.9, color="lightgrey", label="share of rows")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    filled = count > 0
    axes.plot(
        np.asarray(reliability["confidence"], dtype=float)[filled],
        np.asarray(reliability["accuracy"], dtype=float)[filled],
        marker="o",
        color="tab:blue",
        label="model",
    )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("confidence of the predicted class")
    axes.set_ylabel("accuracy")
    axes.set_title("Reliability (TEST)")
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def log_evaluation(evaluation: Evaluation) -> None:
    """Log the metrics (prefixed `test_`, CI bounds and calibration included), the per-class report (JSON),
    the confusion matrix (PNG) and the reliability bins (JSON and PNG)."""
    mlflow.log_metrics({f"{METRIC_PREFIX}{name}": value for name, value in evaluation.metrics.items()})
    mlflow.log_dict(evaluation.report, "evaluation/classification_report.json")
    mlflow.log_dict(
        {"labels": list(CLASSES), "matrix": evaluation.confusion.tolist()}, "evaluation/confusion_matrix.json"
    )
    mlflow.log_figure(plot_confusion_matrix(evaluation.confusion), "evaluation/confusion_matrix.png")
    mlflow.log_dict(evaluation.reliability, "evaluation/reliability.json")
    mlflow.log_figure(plot_reliability(evaluation.reliability), "evaluation/reliability.png")
