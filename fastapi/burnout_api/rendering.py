"""The protocol-neutral shape of an answer (REST sends it as is; GraphQL and gRPC map it to their types)."""

from __future__ import annotations

import msgspec

from burnout_api.core import BatchPrediction
from etl.contract import CLASSES

_encode = msgspec.json.Encoder().encode


def build_prediction_payload(result: BatchPrediction, alias: str) -> dict:
    """{"model": {alias, version, family}, "predictions": [{class, probabilities, model_version}, ...]}."""
    version = result.model.version
    low, medium, high = CLASSES  # a dict display per record: twice as fast as dict(zip(...)) on large batches
    predictions = [
        {
            "class": label,
            "probabilities": {low: p_low, medium: p_medium, high: p_high},
            "model_version": version,
        }
        for label, (p_low, p_medium, p_high) in zip(result.labels, result.probabilities.tolist(), strict=True)
    ]
    return {
        "model": {"alias": alias, "version": version, "family": result.model.family},
        "predictions": predictions,
    }


def render_prediction_json(result: BatchPrediction, alias: str) -> bytes:
    # msgspec writes each float in its shortest exact form (as repr() does) ten times faster than the standard
    # library: REST, GraphQL and gRPC clients all read the very same probabilities.
    return _encode(build_prediction_payload(result, alias))
