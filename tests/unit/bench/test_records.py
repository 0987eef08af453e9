"""Both servers get the same rows: our list of records and MLflow's dataframe_split decode to the same
frame."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.records import (
    load_sample_records,
    missing_share,
    mlflow_body,
    service_body,
    single_record_bodies,
)
from etl.contract import FEATURES, NULLABLE_FEATURES


@pytest.fixture
def records() -> pd.DataFrame:
    from etl.synthetic import generate_synthetic

    frame = generate_synthetic(rows=300, seed=7).loc[:, list(FEATURES)].reset_index(drop=True)
    frame.loc[1, NULLABLE_FEATURES[0]] = np.nan
    return frame


def test_service_body_is_list_of_records_with_null_for_missing(records):
    decoded = json.loads(service_body(records.iloc[:3]))
    assert [list(r) for r in decoded] == [list(FEATURES)] * 3
    assert decoded[1][NULLABLE_FEATURES[0]] is None
    assert decoded[0]["Gender"] == records.loc[0, "Gender"]


def test_mlflow_body_parses_back_to_same_frame(records):
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    parsed = infer_and_parse_data(json.loads(mlflow_body(records)))
    assert list(parsed.columns) == list(FEATURES)
    pd.testing.assert_frame_equal(parsed, records, check_dtype=False)


def test_single_record_bodies_are_one_line_each(records):
    bodies = single_record_bodies(records, service_body, count=5)
    assert len(bodies) == 5 and all("\n" not in b and len(json.loads(b)) == 1 for b in bodies)
    assert (
        math.isnan(records.loc[1, NULLABLE_FEATURES[0]])
        and json.loads(bodies[1])[0][NULLABLE_FEATURES[0]] is None
    )


def test_load_sample_records_without_dataset_falls_back_to_synthetic(settings):
    frame, source = load_sample_records(settings, None, rows=50)
    assert source == "synthetic"
    assert list(frame.columns) == list(FEATURES) and len(frame) == 50


def test_missing_share_counts_records_with_any_missing_value(records):
    frame = records.iloc[:4].fillna({c: 0 for c in NULLABLE_FEATURES})
    frame.loc[2, NULLABLE_FEATURES[-1]] = np.nan
    assert missing_share(frame) == 0.25
