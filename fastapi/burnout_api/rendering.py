"""The protocol-neutral shape of an answer (REST sends it as is; GraphQL and gRPC map it to their types)."""

from __future__ import annotations

import msgspec

from burnout_api.core import BatchPrediction
from etl.contract import CLASSES

_encode = msgspec.json.Encoder().encode


def build_prediction_payload(result: BatchPrediction, alias: str) -> dict:
    """{"model": {alias, version, family}, "predictions": [{class, probabilities, model_version}, ...]}."""
    version = result.model.version
    predictions = [
        {"class": label, "probabilities": dict(zip(CLASSES, row, strict=True)), "model_version": version}
        for label, row in zip(result.labels, result.probabilities.tolist(), strict=True)
    ]
    return {
        "model": {"alias": alias, "version": version, "family": result.model.family},
        "predictions": predictions,
    }


def render_prediction_json(result: BatchPrediction, alias: str) -> bytes:
    # msgspec writes each float in its shortest exact form (as repr() does) ten times faster than the standard
    # library: REST, GraphQL and gRPC clients all read the very same probabilities.
    return _encode(build_prediction_payload(result, alias))
