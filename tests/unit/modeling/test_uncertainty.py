"""Bootstrap intervals of macro-F1 (one model, and paired differences) and calibration measures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from modeling.uncertainty import (
    bootstrap_difference,
    bootstrap_macro_f1,
    bootstrap_macro_f1_scores,
    expected_calibration_error,
    iter_resamples,
    multiclass_brier_score,
    reliability_bins,
)

LABELS = ["Low", "Medium", "High"]


def _predictions(rows: int, accuracy: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predictions right on about `accuracy` of the rows, wrong at random elsewhere."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice(LABELS, size=rows, p=[0.3, 0.5, 0.2])
    y_pred = np.where(rng.random(rows) < accuracy, y_true, rng.choice(LABELS, size=rows))
    return y_true, y_pred


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_bootstrap_scores_match_sklearn_f1_on_each_resample(seed):
    y_true, y_pred = _predictions(300, 0.7, seed)
    scores = bootstrap_macro_f1_scores(y_true, [y_pred], rounds=50, seed=seed, labels=LABELS)[0]
    resamples = np.concatenate(list(iter_resamples(len(y_true), 50, seed)))
    expected = [
        f1_score(y_true[rows], y_pred[rows], labels=LABELS, average="macro", zero_division=0)
        for rows in resamples
    ]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_bootstrap_scores_match_sklearn_when_a_class_is_missing_or_unlisted():
    # No "High" anywhere, and a prediction outside the labels: both handled as sklearn does.
    y_true = np.array(["Low", "Medium", "Low", "Medium", "Low", "Medium"] * 5)
    y_pred = np.array(["Low", "Low", "Low", "Medium", "Other", "Medium"] * 5)
    scores = bootstrap_macro_f1_scores(y_true, [y_pred], rounds=20, seed=3, labels=LABELS)[0]
    resamples = np.concatenate(list(iter_resamples(len(y_true), 20, 3)))
    expected = [
        f1_score(y_true[rows], y_pred[rows], labels=LABELS, average="macro", zero_division=0)
        for rows in resamples
    ]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_bootstrap_interval_holds_the_point_estimate_and_narrows_with_more_rows():
    widths = []
    for rows in (400, 4000):
        y_true, y_pred = _predictions(rows, 0.8, seed=5)
        point = f1_score(y_true, y_pred, labels=LABELS, average="macro")
        low, high = bootstrap_macro_f1(y_true, y_pred, seed=0, labels=LABELS)
        assert low < point < high
        widths.append(high - low)
    # The width shrinks like 1/sqrt(n): ten times the rows, about a third of the width.
    assert widths[1] < widths[0] * 0.5
    assert 0.01 < widths[1] < 0.05


def test_bootstrap_is_reproducible_for_a_seed_and_changes_with_it():
    y_true, y_pred = _predictions(500, 0.75, seed=2)
    assert bootstrap_macro_f1(y_true, y_pred, seed=7) == bootstrap_macro_f1(y_true, y_pred, seed=7)
    assert bootstrap_macro_f1(y_true, y_pred, seed=7) != bootstrap_macro_f1(y_true, y_pred, seed=8)


def test_paired_difference_is_zero_for_the_same_model_and_excludes_zero_for_a_clearly_better_one():
    y_true, good = _predictions(3000, 0.9, seed=4)
    _, poor = _predictions(3000, 0.6, seed=4)  # same truth (same seed), worse predictions
    assert bootstrap_difference(y_true, good, good, labels=LABELS) == (0.0, 0.0)
    low, high = bootstrap_difference(y_true, good, poor, labels=LABELS)
    point = f1_score(y_true, good, average="macro") - f1_score(y_true, poor, average="macro")
    assert 0 < low < point < high


def test_paired_difference_is_narrower_than_the_unpaired_spread_of_two_close_models():
    y_true, first = _predictions(2000, 0.85, seed=6)
    second = first.copy()
    second[:40] = "High"  # nearly the same predictions: the paired interval sees how little differs
    low, high = bootstrap_difference(y_true, first, second, labels=LABELS)
    single_low, single_high = bootstrap_macro_f1(y_true, first, labels=LABELS)
    assert high - low < (single_high - single_low) / 2


def test_brier_score_is_zero_when_certain_and_right_and_two_when_certain_and_wrong():
    classes = ["High", "Low", "Medium"]
    y = np.array(["Low", "High"])
    certain_right = np.array([[0, 1, 0], [1, 0, 0]], dtype=float)
    certain_wrong = np.array([[1, 0, 0], [0, 0, 1]], dtype=float)
    assert multiclass_brier_score(y, certain_right, classes) == 0
    assert multiclass_brier_score(y, certain_wrong, classes) == 2
    assert multiclass_brier_score(y, np.full((2, 3), 1 / 3), classes) == pytest.approx(2 / 3)


def test_expected_calibration_error_weighs_each_bins_gap_by_its_rows():
    classes = ["High", "Low", "Medium"]
    # 4 rows at confidence 0.9, 3 right (accuracy 0.75); 1 row at 0.5, wrong (accuracy 0).
    proba = np.array([[0.9, 0.05, 0.05]] * 4 + [[0.5, 0.3, 0.2]])
    y = np.array(["High", "High", "High", "Low", "Low"])
    bins = reliability_bins(y, proba, classes)
    assert bins["count"][8] == 4 and bins["count"][4] == 1 and sum(bins["count"]) == 5
    assert bins["accuracy"][8] == pytest.approx(0.75) and bins["confidence"][8] == pytest.approx(0.9)
    assert bins["accuracy"][0] is None  # empty bins are JSON-able
    assert expected_calibration_error(bins) == pytest.approx((4 * 0.15 + 1 * 0.5) / 5)
