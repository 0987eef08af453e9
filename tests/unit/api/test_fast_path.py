"""The fast path replays the fitted preprocessor with numpy and calls the estimator directly: it must give
the pipeline's own probabilities (within 1e-9) for every complete record, and refuse pipelines it cannot
replay."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from burnout_api.fast_path import compile_fast_path
from burnout_api.validation import validate_records
from etl.contract import FEATURES

FAMILIES = ["lightgbm_pipeline", "knn_pipeline", "svm_pipeline"]


def complete_batch(records: list[dict]):
    batch = validate_records(records, max_batch=len(records))
    rows = np.flatnonzero(batch.complete)
    return batch.numeric[rows], [batch.categorical[i] for i in rows], rows


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_path_matches_the_pipeline(family, request, synthetic_frame, raw_records):
    pipeline = request.getfixturevalue(family)
    fast = compile_fast_path(pipeline)
    assert fast is not None
    numeric, categorical, rows = complete_batch(raw_records)
    frame = synthetic_frame[list(FEATURES)].iloc[rows]
    assert np.array_equal(fast.transform(numeric, categorical), pipeline[0].transform(frame))
    assert np.abs(fast.predict_proba(numeric, categorical) - pipeline.predict_proba(frame)).max() <= 1e-9
    # One record at a time, as a single-record request does.
    for i in range(3):
        single = fast.predict_proba(numeric[i : i + 1], categorical[i : i + 1])
        assert np.abs(single - pipeline.predict_proba(frame.iloc[i : i + 1])).max() <= 1e-9


def test_fast_path_matches_a_pipeline_with_dataframe_output(synthetic_frame, raw_records, knn_pipeline):
    pipeline = clone(knn_pipeline).set_output(transform="pandas")
    pipeline.fit(synthetic_frame[list(FEATURES)], synthetic_frame["label"])
    fast = compile_fast_path(pipeline)
    numeric, categorical, rows = complete_batch(raw_records)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" per call
        proba = fast.predict_proba(numeric, categorical)
    expected = pipeline.predict_proba(synthetic_frame[list(FEATURES)].iloc[rows])
    assert np.abs(proba - expected).max() <= 1e-9


def test_compile_fast_path_refuses_steps_it_cannot_replay(synthetic_frame, lightgbm_pipeline):
    pipeline = clone(lightgbm_pipeline)
    pipeline[0].transformers[0][1].steps[-1] = ("scale", MinMaxScaler())
    pipeline.fit(synthetic_frame[list(FEATURES)], synthetic_frame["label"])
    assert compile_fast_path(pipeline) is None


def test_compile_fast_path_refuses_an_imputer_that_adds_indicators(synthetic_frame, lightgbm_pipeline):
    pipeline = clone(lightgbm_pipeline)
    pipeline[0].transformers[0][1].steps[0][1].set_params(add_indicator=True)
    pipeline.fit(synthetic_frame[list(FEATURES)], synthetic_frame["label"])
    assert compile_fast_path(pipeline) is None


def test_compile_fast_path_refuses_what_is_not_a_pipeline(lightgbm_pipeline):
    assert compile_fast_path(lightgbm_pipeline[-1]) is None
    assert compile_fast_path(Pipeline([("model", lightgbm_pipeline[-1])])) is None
