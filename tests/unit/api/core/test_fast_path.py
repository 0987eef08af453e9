"""The fast path replays the fitted preprocessor with numpy and calls the estimator directly: it must give
the pipeline's own probabilities (within 1e-9) for every record, missing values included, and refuse pipelines
it cannot replay."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from burnout_api.validation import validate_records
from etl.contract import FEATURES, NULLABLE_FEATURES
from modeling.fast_path import compile_fast_path

FAMILIES = ["lightgbm_pipeline", "knn_pipeline", "svm_pipeline"]


def as_arrays(records: list[dict]):
    batch = validate_records(records, max_batch=len(records))
    return batch.numeric, batch.categorical


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_path_matches_the_pipeline(family, request, synthetic_frame, raw_records):
    pipeline = request.getfixturevalue(family)
    fast = compile_fast_path(pipeline)
    assert fast is not None
    numeric, categorical = as_arrays(raw_records)
    incomplete = np.flatnonzero(np.isnan(numeric).any(axis=1))
    assert 0 < len(incomplete) < len(raw_records)
    frame = synthetic_frame[list(FEATURES)].head(len(raw_records))
    assert np.array_equal(fast.transform(numeric, categorical), pipeline[0].transform(frame))
    assert np.abs(fast.predict_proba(numeric, categorical) - pipeline.predict_proba(frame)).max() <= 1e-9
    # One record at a time, as a single-record request does: complete ones, then ones missing values.
    for i in [0, 1, 2, *incomplete[:3]]:
        single = fast.predict_proba(numeric[i : i + 1], categorical[i : i + 1])
        assert np.abs(single - pipeline.predict_proba(frame.iloc[i : i + 1])).max() <= 1e-9


def test_fast_path_imputes_a_record_missing_every_nullable_value(lightgbm_pipeline, raw_records):
    record = {**raw_records[0], **{name: None for name in NULLABLE_FEATURES}}
    numeric, categorical = as_arrays([record])
    frame = pd.DataFrame([record], columns=list(FEATURES)).astype({n: float for n in NULLABLE_FEATURES})
    fast = compile_fast_path(lightgbm_pipeline)
    assert np.array_equal(fast.transform(numeric, categorical), lightgbm_pipeline[0].transform(frame))


def test_fast_path_matches_a_pipeline_with_dataframe_output(synthetic_frame, raw_records, knn_pipeline):
    pipeline = clone(knn_pipeline).set_output(transform="pandas")
    pipeline.fit(synthetic_frame[list(FEATURES)], synthetic_frame["label"])
    fast = compile_fast_path(pipeline)
    numeric, categorical = as_arrays(raw_records)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" per call
        proba = fast.predict_proba(numeric, categorical)
    expected = pipeline.predict_proba(synthetic_frame[list(FEATURES)].head(len(raw_records)))
    assert np.abs(proba - expected).max() <= 1e-9


def test_compile_fast_path_refuses_steps_it_cannot_replay(synthetic_frame, lightgbm_pipeline):
    pipeline = clone(lightgbm_pipeline)
    pipeline[0].transformers[0][1].steps[-1] = ("scale", MinMaxScaler())
    pipeline.fit(synthetic_frame[list(FEATURES)], synthetic_frame["label"])
    assert compile_fast_path(pipeline) is None


def test_compile_fast_path_refuses_an_imputer_that_samples_at_random(synthetic_frame, lightgbm_pipeline):
    pipeline = clone(lightgbm_pipeline)
    pipeline[0].transformers[0][1].steps[0][1].set_params(sample_posterior=True)
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
