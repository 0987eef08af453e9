"""The one evaluation of a fitted model on the TEST split, and its MLflow record.

Metrics are computed through the full raw-input model (preprocessor + estimator), exactly as it is served.
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

METRIC_PREFIX = "test_"


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one labelled split; `confusion[i][j]` counts true CLASSES[i] predicted [j]."""

    metrics: dict[str, float]
    report: dict[str, Any]
    confusion: np.ndarray


def evaluate_model(model, X_raw: pd.DataFrame, y_true: pd.Series) -> Evaluation:
    """Macro-F1, accuracy, macro precision/recall, one-vs-rest ROC-AUC, per-class report, confusion matrix."""
    y_true = np.asarray(y_true)
    y_pred = model.predict(X_raw)
    proba = model.predict_proba(X_raw)
    labels = list(CLASSES)
    metrics = {
        "macro_f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "accuracy": accuracy_score(y_true, y_pred),
        "precision_macro": precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "recall_macro": recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "roc_auc_ovr": roc_auc_score(
            y_true, proba, multi_class="ovr", average="macro", labels=model.classes_
        ),
    }
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    return Evaluation(
        metrics={name: float(value) for name, value in metrics.items()},
        report=report,
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
    )


def macro_f1(model, X_raw: pd.DataFrame, y_true: pd.Series) -> float:
    """Macro-F1 only: the promotion criterion."""
    return float(
        f1_score(
            np.asarray(y_true), model.predict(X_raw), labels=list(CLASSES), average="macro", zero_division=0
        )
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


def log_evaluation(evaluation: Evaluation) -> None:
    """Log the metrics (prefixed `test_`), the per-class report (JSON) and the confusion matrix (PNG)."""
    mlflow.log_metrics({f"{METRIC_PREFIX}{name}": value for name, value in evaluation.metrics.items()})
    mlflow.log_dict(evaluation.report, "evaluation/classification_report.json")
    mlflow.log_dict(
        {"labels": list(CLASSES), "matrix": evaluation.confusion.tolist()}, "evaluation/confusion_matrix.json"
    )
    mlflow.log_figure(plot_confusion_matrix(evaluation.confusion), "evaluation/confusion_matrix.png")
