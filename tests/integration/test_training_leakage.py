"""Leakage guard: no tuning step of any family ever fits on or scores a TEST row.

Every call that fits or scores during cross-validation goes through `modeling.tune.score_fold`; a spy records
the exact rows it receives and the test compares them with the published TRAIN and TEST splits.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from etl.dataset import load_dataset
from etl.run_etl import run_etl
from etl.synthetic import write_synthetic_csv
from modeling import tune
from modeling.families import FAMILIES
from modeling.train import train_family


def _row_keys(X) -> list[bytes]:
    return [row.tobytes() for row in np.ascontiguousarray(np.asarray(X, dtype=float))]


@pytest.fixture
def published(settings, tmp_path):
    write_synthetic_csv(tmp_path / "input.csv", rows=400, seed=21)
    run_etl(str(tmp_path / "input.csv"), settings)
    return settings, load_dataset(settings)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tuning_never_sees_test_rows(published, family, monkeypatch):
    settings, dataset = published
    if FAMILIES[family].max_tuning_rows is not None:  # exercise the subsampling path on this small data too
        monkeypatch.setitem(FAMILIES, family, dataclasses.replace(FAMILIES[family], max_tuning_rows=200))
    calls: list[tuple[list[bytes], list[bytes]]] = []
    real_score_fold = tune.score_fold

    def spy(estimator, X_fit, y_fit, X_val, y_val):
        calls.append((_row_keys(X_fit), _row_keys(X_val)))
        return real_score_fold(estimator, X_fit, y_fit, X_val, y_val)

    monkeypatch.setattr(tune, "score_fold", spy)
    result = train_family(family, settings, trials=2)

    train_rows = Counter(_row_keys(dataset.X_train))
    test_only = set(_row_keys(dataset.X_test)) - set(train_rows)
    assert len(test_only) == len(dataset.X_test)  # the guard is meaningful: TEST rows are distinguishable
    assert len(calls) == 2 * settings.cv_folds  # two trials, every fold went through the spy
    for fit_rows, val_rows in calls:
        assert not test_only & (set(fit_rows) | set(val_rows))
        assert set(fit_rows) | set(val_rows) <= set(train_rows)
        assert not set(fit_rows) & set(val_rows)  # within a fold, validation rows are held out
    # Per trial, the validation folds partition the rows tuning used: all of TRAIN, or the capped subsample.
    first_trial_val = Counter(key for _, val_rows in calls[: settings.cv_folds] for key in val_rows)
    expected = FAMILIES[family].max_tuning_rows or len(dataset.X_train)
    assert sum(first_trial_val.values()) == expected
    assert all(first_trial_val[key] <= train_rows[key] for key in first_trial_val)
    assert result["dataset_version"] == dataset.version
