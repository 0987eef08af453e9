"""The drift comparison itself: an Evidently report of a window of logged predictions against the champion's
training split, read back as plain numbers, and the figures that go with it.

Evidently is imported lazily, inside `load_evidently`, with its usage telemetry switched off first.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from etl.contract import CATEGORICAL_FEATURES, CLASSES, FEATURES, NUMERIC_FEATURES
from monitoring.prediction_log import PREDICTED_CLASS

NUMERIC_METHOD = "wasserstein"  # normed by the training split's standard deviation
CATEGORY_METHOD = "jensenshannon"


def load_evidently():
    """Import Evidently with its usage telemetry off (`DO_NOT_TRACK`, read when its telemetry would start).

    Evidently 0.7.23 imports `pandas.core.dtypes.common.infer_dtype_from_object`, which pandas 3 removed, at
    import time; only its legacy `TestColumnType` calls it, which this project never runs. A stand-in that
    refuses to be called lets the rest of Evidently import against the project's pandas 3."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "1")
    import pandas.core.dtypes.common as pandas_common

    if not hasattr(pandas_common, "infer_dtype_from_object"):

        def infer_dtype_from_object(dtype):
            raise NotImplementedError("removed in pandas 3; Evidently's legacy TestColumnType is not used")

        pandas_common.infer_dtype_from_object = infer_dtype_from_object
    import evidently

    return evidently


def build_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_threshold: float,
    share: float,
    prediction_threshold: float,
):
    """Run Evidently on the features and the predicted class of `current` against `reference` (both in the
    dataset's column names plus `predicted_class`); returns the report's snapshot."""
    evidently = load_evidently()
    from evidently.metrics import MissingValueCount, ValueDrift
    from evidently.presets import DataDriftPreset

    definition = evidently.DataDefinition(
        numerical_columns=list(NUMERIC_FEATURES),
        categorical_columns=[*CATEGORICAL_FEATURES, PREDICTED_CLASS],
    )
    columns = [*FEATURES, PREDICTED_CLASS]
    report = evidently.Report(
        [
            DataDriftPreset(
                columns=list(FEATURES),
                drift_share=share,
                num_method=NUMERIC_METHOD,
                cat_method=CATEGORY_METHOD,
                threshold=feature_threshold,
            ),
            ValueDrift(column=PREDICTED_CLASS, method=CATEGORY_METHOD, threshold=prediction_threshold),
            *[MissingValueCount(column=name) for name in FEATURES],
        ]
    )
    return report.run(
        evidently.Dataset.from_pandas(current[columns], data_definition=definition),
        evidently.Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def read_scores(snapshot) -> dict[str, float]:
    """Column name -> drift score (a distance: higher is more drift) of every ValueDrift in the snapshot."""
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift"):
            scores[config["column"]] = float(metric["value"])
    return scores


def class_distribution(classes: pd.Series) -> dict[str, float]:
    """Share of each risk class, in the contract's order (0 for a class never seen)."""
    shares = classes.value_counts(normalize=True)
    return {name: round(float(shares.get(name, 0.0)), 4) for name in CLASSES}


def missing_rates(frame: pd.DataFrame) -> dict[str, float]:
    """Share of missing values of each feature."""
    return {name: round(float(frame[name].isna().mean()), 4) for name in FEATURES}


def plot_feature_scores(scores: dict[str, float], threshold: float) -> Figure:
    """One bar per feature (and the predicted class): its drift score against the threshold."""
    names = list(scores)
    figure = Figure(figsize=(8, 0.4 * len(names) + 1.5))
    axes = figure.subplots()
    colors = ["tab:red" if scores[n] >= threshold else "tab:blue" for n in names]
    axes.barh(names, [scores[n] for n in names], color=colors)
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold}")
    axes.invert_yaxis()
    axes.set_xlabel("drift score (normed Wasserstein / Jensen-Shannon)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def plot_side_by_side(title: str, reference: dict[str, float], current: dict[str, float]) -> Figure:
    """Grouped bars: the training split's and the window's value of each key."""
    keys = list(reference)
    positions = range(len(keys))
    figure = Figure(figsize=(max(5, 0.7 * len(keys) + 2), 4))
    axes = figure.subplots()
    axes.bar([p - 0.2 for p in positions], [reference[k] for k in keys], width=0.4, label="training split")
    axes.bar([p + 0.2 for p in positions], [current[k] for k in keys], width=0.4, label="window")
    axes.set_xticks(list(positions), keys, rotation=45 if len(keys) > 3 else 0, ha="right")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    return figure


def build_figures(summary: dict[str, Any]) -> dict[str, Figure]:
    """Artifact file name -> figure, from a drift summary (see monitoring.drift.check_drift)."""
    return {
        "drift_scores.png": plot_feature_scores(summary["feature_scores"], summary["feature_threshold"]),
        "predicted_classes.png": plot_side_by_side(
            f"Predicted classes (training split: its labels); Jensen-Shannon "
            f"{summary['prediction_drift_score']:.3f}, threshold {summary['prediction_threshold']}",
            summary["class_distribution"]["reference"],
            summary["class_distribution"]["current"],
        ),
        "missing_values.png": plot_side_by_side(
            "Missing-value rate", summary["missing_rates"]["reference"], summary["missing_rates"]["current"]
        ),
    }
