"""One registered model version, loaded: its metadata, its pipeline, and its fast path when one applies."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from burnout_api.fast_path import FastPath, compile_fast_path
from burnout_api.features import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS
from burnout_api.validation import RecordBatch, validate_records
from etl.contract import CLASSES

log = logging.getLogger(__name__)
FAST_PATH_TOLERANCE = 1e-9
PROBE_RECORDS = 64


@dataclass(frozen=True)
class ModelMetadata:
    """What the registry and the training run say about a version; `loaded_at`: when we loaded it."""

    version: int
    family: str | None
    run_id: str | None
    dataset_version: str | None
    test_metrics: dict[str, float]
    loaded_at: datetime
    fast_path: bool = False

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "family": self.family,
            "run_id": self.run_id,
            "dataset_version": self.dataset_version,
            "test_metrics": self.test_metrics,
            "loaded_at": self.loaded_at.isoformat(),
            "fast_path": self.fast_path,
        }


@dataclass(frozen=True)
class BatchPrediction:
    """Per record: the class and the probabilities of `CLASSES`, in that order; `model` answered them."""

    model: ModelMetadata
    labels: list[str]
    probabilities: np.ndarray = field(repr=False)


class LoadedModel:
    """A fitted Pipeline(preprocessor, estimator) ready to score `RecordBatch`es."""

    def __init__(self, pipeline, metadata: ModelMetadata, use_fast_path: bool = True):
        self.pipeline = pipeline
        model_classes = [_class_name(c) for c in pipeline.classes_]
        # Columns of the model's probabilities in CLASSES order (-1: a class the model never saw).
        self._order = np.array([model_classes.index(c) if c in model_classes else -1 for c in CLASSES])
        self._unseen = self._order < 0 if (self._order < 0).any() else None
        self._labels = model_classes
        self.fast = _checked_fast_path(pipeline) if use_fast_path else None
        self.metadata = replace(metadata, fast_path=self.fast is not None)

    def predict(self, batch: RecordBatch) -> BatchPrediction:
        """Score a batch on the fast path when the model has one, else through its pipeline."""
        proba = self.predict_model_proba(batch)
        labels = [self._labels[i] for i in proba.argmax(axis=1).tolist()]
        ordered = proba[:, self._order]
        if self._unseen is not None:
            ordered[:, self._unseen] = 0.0
        return BatchPrediction(self.metadata, labels, ordered)

    def predict_model_proba(self, batch: RecordBatch) -> np.ndarray:
        """Probabilities in the model's own class order, as `pipeline.predict_proba` would give them."""
        if self.fast is not None:
            return self.fast.predict_proba(batch.numeric, batch.categorical)
        return self.pipeline.predict_proba(frame_of(batch))


def frame_of(batch: RecordBatch):
    """The pipeline's input (raw feature columns) for a batch."""
    import pandas as pd

    data: dict[str, object] = {c.name: batch.numeric[:, i] for i, c in enumerate(NUMERIC_COLUMNS)}
    for i, column in enumerate(CATEGORICAL_COLUMNS):
        data[column.name] = [values[i] for values in batch.categorical]
    return pd.DataFrame(data)


def build_probe_records(count: int = PROBE_RECORDS, seed: int = 0) -> list[dict]:
    """Valid, varied records from contract ranges, to check a fast path against the pipeline: every other
    one misses a nullable value, and some miss all of them."""
    rng = np.random.default_rng(seed)
    nullable = [c.name for c in NUMERIC_COLUMNS if c.nullable]
    records = []
    for index in range(count):
        if index % 8 == 7:
            missing = set(nullable)
        else:
            missing = {nullable[index // 2 % len(nullable)]} if index % 2 else set()
        record: dict[str, object] = {}
        for column in NUMERIC_COLUMNS:
            if column.name in missing:
                record[column.name] = None
            elif column.kind == "integer":
                record[column.name] = int(rng.integers(column.minimum, column.maximum + 1))
            else:
                record[column.name] = round(float(rng.uniform(column.minimum, column.maximum)), 1)
        for column in CATEGORICAL_COLUMNS:
            record[column.name] = str(rng.choice(column.categories))
        records.append(record)
    return records


def measure_fast_path_error(fast: FastPath, pipeline, records: list[dict]) -> float:
    """Largest absolute difference between the fast path's and the pipeline's probabilities on `records`."""
    batch = validate_records(records, max_batch=len(records))
    fast_proba = fast.predict_proba(batch.numeric, batch.categorical)
    return float(np.abs(fast_proba - pipeline.predict_proba(frame_of(batch))).max())


def _checked_fast_path(pipeline) -> FastPath | None:
    fast = compile_fast_path(pipeline)
    if fast is None:
        return None
    error = measure_fast_path_error(fast, pipeline, build_probe_records())
    if not error <= FAST_PATH_TOLERANCE:
        log.warning("fast path disagrees with the pipeline by %.3g: serving through the pipeline", error)
        return None
    return fast


def _class_name(label: object) -> str:
    """Models may be trained on the class names or on their positions in CLASSES."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return CLASSES[int(label)]
    return str(label)
