"""The fast path gives the model's own probabilities: on every row of the real dataset's TEST split (as the
ETL publishes it, missing values included), for each family as training builds it, the service's answer
differs from the pipeline's `predict_proba` by at most 1e-9, in batches and one record at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from serving_support import fit_like_training
from threadpoolctl import threadpool_limits

from burnout_api.core.loaded_model import LoadedModel, ModelMetadata
from burnout_api.validation import validate_records

pytestmark = pytest.mark.slow
TOLERANCE = 1e-9
SINGLE_RECORDS = 50
SVM_TRAIN_ROWS = 2_000  # libsvm's fit is quadratic: the estimator API, not the fit size, is under test


@pytest.mark.parametrize("family", ["lightgbm", "knn", "svm"])
def test_fast_path_matches_predict_proba_on_every_test_row(real_split, family):
    with threadpool_limits(1):  # as `burnout serve` runs it; KNN crawls with oversubscribed BLAS threads
        check_family(real_split, family)


def check_family(real_split, family: str) -> None:
    pipeline = fit_like_training(family, real_split, train_rows=SVM_TRAIN_ROWS if family == "svm" else None)
    loaded = LoadedModel(pipeline, ModelMetadata(1, family, None, None, {}, datetime.now(UTC)))
    assert loaded.fast is not None, "this family must have a fast path"

    test_raw = real_split.test_raw.astype(object)
    records = test_raw.where(test_raw.notna(), None).to_dict("records")  # as clients send them
    batch = validate_records(records, max_batch=len(records))
    expected = pipeline.predict_proba(real_split.test_raw)

    # The whole split, missing values included, on the fast path alone.
    incomplete = np.isnan(batch.numeric).any(axis=1)
    assert 0 < incomplete.sum() < 0.2 * len(records)
    assert np.abs(loaded.fast.predict_proba(batch.numeric, batch.categorical) - expected).max() <= TOLERANCE
    assert np.abs(loaded.predict_model_proba(batch) - expected).max() <= TOLERANCE
    # Single-record requests, complete or not: one row at a time against the pipeline on that one row.
    for rows in (np.flatnonzero(~incomplete), np.flatnonzero(incomplete)):
        for i in rows[:: max(1, len(rows) // SINGLE_RECORDS)]:
            single = loaded.fast.predict_proba(batch.numeric[i : i + 1], [batch.categorical[i]])
            reference = pipeline.predict_proba(real_split.test_raw.iloc[i : i + 1])
            assert np.abs(single - reference).max() <= TOLERANCE
