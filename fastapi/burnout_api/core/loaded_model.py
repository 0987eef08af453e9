"""One registered model version, loaded: its metadata, its pipeline, and its fast path when one applies."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from burnout_api.validation import RecordBatch
from modeling.scoring import Scorer


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
    """A fitted Pipeline(preprocessor, estimator) ready to score `RecordBatch`es (see `modeling.scoring`)."""

    def __init__(self, pipeline, metadata: ModelMetadata, use_fast_path: bool = True):
        self.pipeline = pipeline
        self.scorer = Scorer(pipeline, use_fast_path)
        self.fast = self.scorer.fast
        self.metadata = replace(metadata, fast_path=self.fast is not None)

    def predict(self, batch: RecordBatch) -> BatchPrediction:
        """Score a batch on the fast path when the model has one, else through its pipeline."""
        labels, probabilities = self.scorer.predict(batch.numeric, batch.categorical)
        return BatchPrediction(self.metadata, labels, probabilities)

    def predict_model_proba(self, batch: RecordBatch) -> np.ndarray:
        """Probabilities in the model's own class order, as `pipeline.predict_proba` would give them."""
        return self.scorer.predict_model_proba(batch.numeric, batch.categorical)
