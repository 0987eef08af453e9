"""The drift rule on synthetic frames (no MLflow, no lake): which features drift, when the share or the
predicted classes ask for retraining, missing-value rates, the window, and Evidently's telemetry switch."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pandas as pd
import pytest

from burnout_base.settings import Settings
from etl.contract import TARGET, burn_rate_to_class
from etl.errors import InputError
from etl.synthetic import generate_synthetic
from monitoring.drift import compare_window, describe_drift_run, resolve_window
from monitoring.prediction_log import PREDICTED_CLASS

FATIGUE = "Mental Fatigue Score"


def traffic(rows: int, seed: int) -> pd.DataFrame:
    """Synthetic records, each answered with its true class (a perfect model)."""
    frame = generate_synthetic(rows, seed)
    frame = frame[frame[TARGET].notna()].copy()
    frame[PREDICTED_CLASS] = frame[TARGET].map(burn_rate_to_class)
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return traffic(3000, seed=1)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(_env_file=None, home=tmp_path)


def test_unshifted_traffic_is_not_drift(reference, settings):
    summary, _ = compare_window(reference, traffic(500, seed=2), settings)

    assert summary["drift"] is False
    assert summary["drift_share"] < settings.drift_share_threshold
    assert summary["prediction_drifted"] is False


def test_raised_fatigue_alone_is_a_drifted_feature_below_the_share(reference, settings):
    current = traffic(500, seed=3)
    current[FATIGUE] = (current[FATIGUE] + 2).clip(upper=10)

    summary, _ = compare_window(reference, current, settings)

    assert summary["drifted_features"] == [FATIGUE]
    assert summary["feature_scores"][FATIGUE] > 0.5
    assert summary["drift"] is False  # the answers did not move (this model ignores the inputs' shift)


def test_drift_run_description_names_window_champion_verdict_and_features(reference, settings):
    current = traffic(500, seed=3)
    current[FATIGUE] = (current[FATIGUE] + 2).clip(upper=10)
    summary, _ = compare_window(reference, current, settings)
    summary.update(
        window={"start": "2026-01-01", "end": "2026-01-02"},
        rows=500,
        champion_version=3,
        dataset_version="v-test",
        share_threshold=settings.drift_share_threshold,
        prediction_threshold=settings.drift_prediction_threshold,
    )

    text = describe_drift_run(summary)

    assert text.startswith(
        "Drift check of the 500 predictions logged 2026-01-01 to 2026-01-02 against the training split "
        "(dataset `v-test`) of champion v3: **no drift**. 1 feature(s) drifted"
    )
    assert f": {FATIGUE};" in text


def test_moved_predicted_classes_are_drift(reference, settings):
    current = traffic(500, seed=4)
    current.loc[: len(current) // 2, PREDICTED_CLASS] = "High"

    summary, _ = compare_window(reference, current, settings)

    assert summary["prediction_drifted"] is True and summary["drift"] is True
    assert (
        summary["class_distribution"]["current"]["High"]
        > 0.5
        > summary["class_distribution"]["reference"]["High"]
    )


def test_many_shifted_features_pass_the_share(reference, settings):
    current = traffic(500, seed=5)
    for name, delta in {FATIGUE: 2, "Work Hours per Week": 12, "Sleep Hours": -1.5, "Team Size": 20}.items():
        current[name] = current[name] + delta

    summary, _ = compare_window(reference, current, settings)

    assert len(summary["drifted_features"]) >= 4
    assert summary["drift_share"] >= settings.drift_share_threshold and summary["drift"] is True


def test_missing_value_rates_are_reported_per_feature(reference, settings):
    current = traffic(500, seed=6)
    current.loc[: len(current) // 2 - 1, "Resource Allocation"] = np.nan

    summary, _ = compare_window(reference, current, settings)

    assert summary["missing_rates"]["current"]["Resource Allocation"] >= 0.5
    assert summary["missing_rates"]["reference"]["Resource Allocation"] < 0.1
    assert summary["missing_rates"]["current"]["Gender"] == 0.0


def test_thresholds_are_settings(reference, settings):
    current = traffic(500, seed=7)
    strict = settings.model_copy(update={"drift_feature_threshold": 1e-6, "drift_share_threshold": 0.5})

    summary, _ = compare_window(reference, current, strict)

    assert summary["drift_share"] > 0.5 and summary["drift"] is True


def test_evidently_runs_with_telemetry_off(reference, settings):
    compare_window(reference, traffic(300, seed=8), settings)

    assert os.environ.get("DO_NOT_TRACK")


def test_window_defaults_to_the_last_days_up_to_today():
    assert resolve_window(1, today=date(2026, 12, 1)) == (date(2026, 12, 1), date(2026, 12, 1))
    assert resolve_window(7, end=date(2026, 12, 1)) == (date(2026, 11, 25), date(2026, 12, 1))
    assert resolve_window(3, start=date(2026, 11, 1), end=date(2026, 11, 2)) == (
        date(2026, 11, 1),
        date(2026, 11, 2),
    )


def test_window_that_ends_before_it_starts_is_an_input_error():
    with pytest.raises(InputError, match="starts"):
        resolve_window(1, start=date(2026, 12, 2), end=date(2026, 12, 1))
