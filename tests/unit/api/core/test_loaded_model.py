"""A loaded model scores a batch, missing values included, on its fast path, and always with the probabilities
the pipeline itself would give, in CLASSES order."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from burnout_api.core.loaded_model import LoadedModel, ModelMetadata
from burnout_api.validation import validate_records
from etl.contract import CLASSES, FEATURES
from modeling.fast_path import FastPath


def metadata(version: int = 1) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        family="test",
        run_id=None,
        dataset_version=None,
        test_metrics={},
        loaded_at=datetime.now(UTC),
    )


def as_frame(synthetic_frame, count: int):
    return synthetic_frame[list(FEATURES)].head(count)


@pytest.mark.parametrize("family", ["lightgbm_pipeline", "knn_pipeline"])
def test_predict_matches_the_pipeline_on_mixed_batches(family, request, synthetic_frame, raw_records):
    pipeline = request.getfixturevalue(family)
    loaded = LoadedModel(pipeline, metadata())
    batch = validate_records(raw_records, max_batch=100)
    incomplete = np.isnan(batch.numeric).any(axis=1)
    assert loaded.fast is not None and 0 < incomplete.sum() < len(batch)
    expected = pipeline.predict_proba(as_frame(synthetic_frame, len(raw_records)))
    assert np.abs(loaded.predict_model_proba(batch) - expected).max() <= 1e-9
    result = loaded.predict(batch)
    order = [list(pipeline.classes_).index(c) for c in CLASSES]
    assert np.abs(result.probabilities - expected[:, order]).max() <= 1e-9
    assert result.labels == list(pipeline.predict(as_frame(synthetic_frame, len(raw_records))))
    assert result.model.fast_path is True


def test_a_fast_path_that_disagrees_is_not_used(monkeypatch, lightgbm_pipeline, synthetic_frame, raw_records):
    original = FastPath.predict_proba
    monkeypatch.setattr(FastPath, "predict_proba", lambda self, n, c: original(self, n, c) + 1e-6)
    loaded = LoadedModel(lightgbm_pipeline, metadata())
    assert loaded.fast is None and loaded.metadata.fast_path is False
    proba = loaded.predict_model_proba(validate_records(raw_records, max_batch=100))
    assert np.array_equal(proba, lightgbm_pipeline.predict_proba(as_frame(synthetic_frame, len(raw_records))))


def test_models_trained_on_class_positions_answer_class_names(synthetic_frame, raw_records, fit_model):
    from sklearn.neighbors import KNeighborsClassifier

    positions = synthetic_frame["label"].map(CLASSES.index)
    loaded = LoadedModel(fit_model(synthetic_frame, KNeighborsClassifier(5), positions), metadata())
    result = loaded.predict(validate_records(raw_records, max_batch=100))
    assert set(result.labels) <= set(CLASSES)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0)


def test_a_class_the_model_never_saw_gets_probability_zero(synthetic_frame, raw_records, fit_model):
    from sklearn.neighbors import KNeighborsClassifier

    two = synthetic_frame[synthetic_frame["label"] != CLASSES[-1]]
    loaded = LoadedModel(fit_model(two, KNeighborsClassifier(5)), metadata())
    result = loaded.predict(validate_records(raw_records, max_batch=100))
    assert (result.probabilities[:, -1] == 0).all()
    assert CLASSES[-1] not in result.labels
