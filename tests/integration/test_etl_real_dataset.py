"""The ETL on the real 22,750-row dataset: every row accounted for, the published preprocessor fitted on the
train split only, and the run's duration reported (skips when the dataset is not beside the project)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest

from etl.contract import NUMERIC_FEATURES
from etl.dataset import load_dataset
from etl.run_etl import run_etl

log = logging.getLogger(__name__)
REAL_ROWS = 22_750


@pytest.mark.slow
def test_run_etl_on_the_real_dataset_accounts_for_every_row(real_dataset, settings, record_property):
    started = time.monotonic()
    summary = run_etl(str(real_dataset), settings)
    seconds = time.monotonic() - started
    record_property("run_etl_seconds", round(seconds, 2))
    log.info("run_etl on the real dataset took %.1fs", seconds)

    assert summary["rows_in"] == REAL_ROWS
    kept, dropped, quarantined = summary["rows_kept"], summary["rows_dropped"], summary["rows_quarantined"]
    assert kept + sum(dropped.values()) + quarantined == REAL_ROWS
    assert quarantined == 0  # the real data honours the contract
    assert dropped == {"missing_target": 1124, "two_or_more_missing": 187}
    assert summary["train_rows"] + summary["test_rows"] == kept == 21_439

    ds = load_dataset(settings, summary["dataset_version"])
    numeric = ds.preprocessor.named_transformers_["numeric"]
    train_means = ds.train_raw[list(NUMERIC_FEATURES)].mean()
    all_means = pd.concat([ds.train_raw, ds.test_raw])[list(NUMERIC_FEATURES)].mean()
    np.testing.assert_allclose(numeric["impute"].initial_imputer_.statistics_, train_means)
    assert not np.allclose(numeric["impute"].initial_imputer_.statistics_, all_means)
    assert numeric["scale"].n_samples_seen_ == summary["train_rows"]
    shares = ds.y_test.value_counts(normalize=True)
    assert shares["Medium"] == pytest.approx(12_441 / 21_439, abs=0.01)  # stratified like the whole
