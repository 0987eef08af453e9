"""Scoring with a fitted Pipeline(preprocessor, estimator), shared by the service and batch scoring.

Records come as arrays (numeric features in the contract's order with NaN for missing, a tuple of categorical
values each) and are scored on the model's fast path when it has one that agrees with the pipeline, else
through the pipeline; answers are class names and the probabilities of `CLASSES`, in that order."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from etl.contract import BY_NAME, CATEGORICAL_FEATURES, CLASSES, NULLABLE_FEATURES, NUMERIC_FEATURES
from modeling.fast_path import FastPath, compile_fast_path

log = logging.getLogger(__name__)
FAST_PATH_TOLERANCE = 1e-9
PROBE_RECORDS = 64


class Scorer:
    """A fitted Pipeline(preprocessor, estimator) ready to score arrays of records."""

    def __init__(self, pipeline, use_fast_path: bool = True):
        self.pipeline = pipeline
        self.labels = [class_name(c) for c in pipeline.classes_]
        # Columns of the model's probabilities in CLASSES order (-1: a class the model never saw).
        self._order = np.array([self.labels.index(c) if c in self.labels else -1 for c in CLASSES])
        self._unseen = self._order < 0 if (self._order < 0).any() else None
        self.fast = checked_fast_path(pipeline) if use_fast_path else None

    def predict(
        self, numeric: np.ndarray, categorical: list[tuple[str, ...]]
    ) -> tuple[list[str], np.ndarray]:
        """(class per record, probabilities of CLASSES in that order per record)."""
        proba = self.predict_model_proba(numeric, categorical)
        labels = [self.labels[i] for i in proba.argmax(axis=1).tolist()]
        ordered = proba[:, self._order]
        if self._unseen is not None:
            ordered[:, self._unseen] = 0.0
        return labels, ordered

    def predict_model_proba(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> np.ndarray:
        """Probabilities in the model's own class order, as `pipeline.predict_proba` would give them."""
        if self.fast is not None:
            return self.fast.predict_proba(numeric, categorical)
        return self.pipeline.predict_proba(frame_of(numeric, categorical))

    def swap_predictor(self, predict_proba: Callable[[np.ndarray], np.ndarray], predictor: str) -> bool:
        """Score the fast path's matrix with another predictor of the same estimator (its compiled trees) if
        it gives the pipeline's probabilities on the probe records; False (and a warning) when it does not or
        there is no fast path. One reference changes: a call scores wholly on the old or the new predictor."""
        if self.fast is None:
            return False
        candidate = self.fast.with_predictor(predict_proba, predictor)
        error = measure_fast_path_error(candidate, self.pipeline, *build_probe_records())
        if not error <= FAST_PATH_TOLERANCE:
            log.warning("%s disagrees with the pipeline by %.3g: not used", predictor, error)
            return False
        self.fast = candidate
        return True


def frame_of(numeric: np.ndarray, categorical: list[tuple[str, ...]]):
    """The pipeline's input (raw feature columns) for records given as arrays."""
    import pandas as pd

    data: dict[str, object] = {name: numeric[:, i] for i, name in enumerate(NUMERIC_FEATURES)}
    for i, name in enumerate(CATEGORICAL_FEATURES):
        data[name] = [values[i] for values in categorical]
    return pd.DataFrame(data)


def arrays_of(frame) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Records given as raw feature columns (a DataFrame, missing = NaN or None) as the arrays scored."""
    numeric = np.column_stack(
        [np.asarray(frame[name].astype("float64"), dtype=np.float64) for name in NUMERIC_FEATURES]
    ).reshape(len(frame), len(NUMERIC_FEATURES))
    columns = [frame[name].astype(str).tolist() for name in CATEGORICAL_FEATURES]
    return numeric, list(zip(*columns, strict=True)) if columns else [()] * len(frame)


def build_probe_records(
    count: int = PROBE_RECORDS, seed: int = 0
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Valid, varied records from the contract's ranges, to check a fast path against the pipeline: every
    other one misses a nullable value, and some miss all of them."""
    rng = np.random.default_rng(seed)
    nullable = list(NULLABLE_FEATURES)
    numeric = np.empty((count, len(NUMERIC_FEATURES)))
    categorical = []
    for index in range(count):
        if index % 8 == 7:
            missing = set(nullable)
        else:
            missing = {nullable[index // 2 % len(nullable)]} if index % 2 else set()
        for position, name in enumerate(NUMERIC_FEATURES):
            column = BY_NAME[name]
            if name in missing:
                numeric[index, position] = np.nan
            elif column.kind == "integer":
                numeric[index, position] = int(rng.integers(column.minimum, column.maximum + 1))
            else:
                numeric[index, position] = round(float(rng.uniform(column.minimum, column.maximum)), 1)
        categorical.append(tuple(str(rng.choice(BY_NAME[name].categories)) for name in CATEGORICAL_FEATURES))
    return numeric, categorical


def measure_fast_path_error(
    fast: FastPath, pipeline, numeric: np.ndarray, categorical: list[tuple[str, ...]]
) -> float:
    """Largest absolute difference between the fast path's and the pipeline's probabilities on the records."""
    fast_proba = fast.predict_proba(numeric, categorical)
    return float(np.abs(fast_proba - pipeline.predict_proba(frame_of(numeric, categorical))).max())


def checked_fast_path(pipeline) -> FastPath | None:
    """The pipeline's fast path if it has one that gives the pipeline's probabilities on the probe records."""
    fast = compile_fast_path(pipeline)
    if fast is None:
        return None
    error = measure_fast_path_error(fast, pipeline, *build_probe_records())
    if not error <= FAST_PATH_TOLERANCE:
        log.warning("fast path disagrees with the pipeline by %.3g: scoring through the pipeline", error)
        return None
    return fast


def class_name(label: object) -> str:
    """Models may be trained on the class names or on their positions in CLASSES."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return CLASSES[int(label)]
    return str(label)
