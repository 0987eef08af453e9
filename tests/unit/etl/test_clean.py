"""Cleaning: drops the signal-less columns, rows without target, and rows missing two or more values,
counting each removed row under exactly one reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.clean import MISSING_TARGET, TWO_OR_MORE_MISSING, clean_records
from etl.contract import DROPPED, FEATURES, TARGET


def _frame(synthetic_frame: pd.DataFrame) -> pd.DataFrame:
    frame = synthetic_frame.head(10).copy()
    frame[["Resource Allocation", "Mental Fatigue Score", TARGET]] = 1.0
    return frame


def test_clean_drops_id_date_and_years_columns(synthetic_frame):
    cleaned = clean_records(_frame(synthetic_frame))
    assert list(cleaned.frame.columns) == [*FEATURES, TARGET]
    assert not set(DROPPED) & set(cleaned.frame.columns)


def test_clean_counts_each_dropped_row_under_one_reason(synthetic_frame):
    frame = _frame(synthetic_frame)
    frame.loc[0, TARGET] = np.nan  # no target
    frame.loc[1, [TARGET, "Resource Allocation", "Mental Fatigue Score"]] = np.nan  # no target, counted once
    frame.loc[2, ["Resource Allocation", "Mental Fatigue Score"]] = np.nan  # two missing values
    frame.loc[3, "Resource Allocation"] = np.nan  # one missing value: kept, the imputer fills it
    cleaned = clean_records(frame)
    assert cleaned.dropped == {MISSING_TARGET: 2, TWO_OR_MORE_MISSING: 1}
    assert cleaned.frame.index.tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert len(cleaned.frame) + sum(cleaned.dropped.values()) == len(frame)


def test_clean_keeps_everything_when_complete(synthetic_frame):
    cleaned = clean_records(_frame(synthetic_frame))
    assert cleaned.dropped == {MISSING_TARGET: 0, TWO_OR_MORE_MISSING: 0}
    assert len(cleaned.frame) == 10
