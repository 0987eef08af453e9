"""The inference core: the only part of the service that knows about MLflow."""

from burnout_api.core.errors import (
    SERVICE_ERRORS,
    ErrorCode,
    ExplanationUnavailable,
    Forbidden,
    InvalidInput,
    MalformedBody,
    ModelUnavailable,
    NoModelYet,
    StreamUnavailable,
    Unauthorized,
    UnknownAlias,
    UnknownModel,
    error_code,
)
from burnout_api.core.inference import InferenceCore
from burnout_api.core.loaded_model import BatchPrediction, LoadedModel, ModelMetadata
from burnout_api.core.snapshot import CHAMPION, Snapshot

__all__ = [
    "CHAMPION",
    "SERVICE_ERRORS",
    "BatchPrediction",
    "ErrorCode",
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
    "StreamUnavailable",
    "Unauthorized",
    "UnknownAlias",
    "UnknownModel",
    "error_code",
]
