"""The inference core: the only part of the service that knows about MLflow."""

from burnout_api.core.errors import InvalidInput, ModelUnavailable, NoModelYet, Unauthorized, UnknownAlias
from burnout_api.core.inference import CHAMPION, InferenceCore, Snapshot
from burnout_api.core.loaded_model import BatchPrediction, LoadedModel, ModelMetadata

__all__ = [
    "CHAMPION",
    "BatchPrediction",
    "InferenceCore",
    "InvalidInput",
    "LoadedModel",
    "ModelMetadata",
    "ModelUnavailable",
    "NoModelYet",
    "Snapshot",
    "Unauthorized",
    "UnknownAlias",
]
