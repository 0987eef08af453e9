"""Feature statistics of the training rows, and how they become MLflow metric names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etl.contract import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from etl.describe import describe_features
from etl.mlflow_logging import collect_metrics


def test_describe_features_numeric_and_categorical(synthetic_frame):
    raw = synthetic_frame[list(FEATURES)]
    stats = describe_features(raw)
    assert set(stats) == set(FEATURES)
    fatigue = stats["Mental Fatigue Score"]
    assert fatigue["mean"] == pytest.approx(raw["Mental Fatigue Score"].mean())
    assert fatigue["std"] == pytest.approx(raw["Mental Fatigue Score"].std())
    assert fatigue["missing_rate"] == pytest.approx(raw["Mental Fatigue Score"].isna().mean())
    assert fatigue["missing_rate"] > 0
    gender = stats["Gender"]
    assert gender["missing_rate"] == 0
    assert sum(gender["shares"].values()) == pytest.approx(1.0)
    assert gender["shares"]["Female"] == pytest.approx((raw["Gender"] == "Female").mean())


def test_describe_features_of_an_all_missing_column(synthetic_frame):
    raw = synthetic_frame[list(FEATURES)].head(3).copy()
    raw["Resource Allocation"] = np.nan
    stats = describe_features(raw)["Resource Allocation"]
    assert stats["mean"] is None and stats["missing_rate"] == 1.0


def test_collect_metrics_flattens_counts_balance_and_stats(synthetic_frame):
    manifest = {
        "counts": {
            "rows_in": 10,
            "rows_quarantined": 1,
            "rows_kept": 8,
            "train_rows": 6,
            "test_rows": 2,
            "rows_dropped": {"missing_target": 1, "two_or_more_missing": 0},
        },
        "class_balance": {"train": {"Low": 3, "Medium": 3, "High": 0}},
        "feature_stats": {"train": describe_features(pd.DataFrame(synthetic_frame[list(FEATURES)]))},
    }
    metrics = collect_metrics(manifest)
    assert metrics["rows_in"] == 10 and metrics["rows_dropped_missing_target"] == 1
    assert metrics["class_share_train_low"] == 0.5 and metrics["class_share_train_high"] == 0
    assert "train_mental_fatigue_score_mean" in metrics
    assert "train_wfh_setup_available_share_yes" in metrics
    per_numeric = [k for k in metrics if k.endswith("_missing_rate")]
    assert len(per_numeric) == len(NUMERIC_FEATURES) + len(CATEGORICAL_FEATURES)
    assert all(isinstance(v, float) for v in metrics.values())
