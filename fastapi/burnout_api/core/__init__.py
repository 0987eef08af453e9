"""The inference core: the only part of the service that knows about MLflow."""

from burnout_api.core.errors import (
    ExplanationUnavailable,
    Forbidden,
    InvalidInput,
    MalformedBody,
    ModelUnavailable,
    NoModelYet,
    Unauthorized,
    UnknownAlias,
    UnknownModel,
)
from burnout_api.core.inference import InferenceCore
from burnout_api.core.loaded_model import BatchPrediction, LoadedModel, ModelMetadata
from burnout_api.core.snapshot import CHAMPION, Snapshot

__all__ = [
    "CHAMPION",
    "BatchPrediction",
    "ExplanationUnavailable",
    "Forbidden",
    "InferenceCore",
    "InvalidInput",
    "LoadedModel",
    "MalformedBody",
    "ModelMetadata",
    "ModelUnavailable",
    "NoModelYet",
    "Snapshot",
    "Unauthorized",
    "UnknownAlias",
    "UnknownModel",
]
