"""The BurnoutRisk service: converts messages to the core's records and back. Core errors map to status
codes here, once: bad input INVALID_ARGUMENT, unknown alias NOT_FOUND, no model or no registry UNAVAILABLE."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc

from burnout_api.core import CHAMPION, InferenceCore, InvalidInput, ModelUnavailable, NoModelYet, UnknownAlias
from burnout_api.features import FIELD_BY_KEY
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.rendering import build_prediction_payload
from burnout_api.validation import check_batch_size

log = logging.getLogger(__name__)
STATUS = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownAlias: grpc.StatusCode.NOT_FOUND,
    NoModelYet: grpc.StatusCode.UNAVAILABLE,
    ModelUnavailable: grpc.StatusCode.UNAVAILABLE,
}


def as_record(employee: pb.Employee) -> dict:
    """An Employee message -> the dataset-named record the core checks; unset fields are missing."""
    return {FIELD_BY_KEY[field.name].name: value for field, value in employee.ListFields()}


async def build_response(request: pb.PredictRequest, core: InferenceCore) -> pb.PredictResponse:
    alias = request.model or CHAMPION
    check_batch_size(len(request.records), core.settings.max_batch)
    result = await core.predict_async([as_record(e) for e in request.records], alias, "grpc")
    payload = build_prediction_payload(result, alias)
    model = payload["model"]
    return pb.PredictResponse(
        model=pb.ServedModel(alias=alias, version=model["version"], family=model["family"] or ""),
        predictions=[
            pb.Prediction(
                class_name=p["class"], probabilities=p["probabilities"], model_version=p["model_version"]
            )
            for p in payload["predictions"]
        ],
    )


async def abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    """Abort the call with the status matching a core error (raises); other errors propagate as INTERNAL."""
    code = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), None)
    if code is None:
        raise exc
    if isinstance(exc, InvalidInput):
        message = "; ".join(error.describe() for error in exc.errors)
    else:
        message = str(exc)
    await context.abort(code, message)


class BurnoutRiskServicer(pb_grpc.BurnoutRiskServicer):
    def __init__(self, core: InferenceCore):
        self._core = core

    async def Predict(  # noqa: N802
        self, request: pb.PredictRequest, context: grpc.aio.ServicerContext
    ) -> pb.PredictResponse:
        try:
            return await build_response(request, self._core)
        except Exception as exc:
            await abort_for(context, exc)

    async def PredictStream(  # noqa: N802
        self, requests: AsyncIterator[pb.PredictRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PredictResponse]:
        index = 0
        async for request in requests:
            try:
                yield await build_response(request, self._core)
            except InvalidInput as exc:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"stream message {index}: " + "; ".join(e.describe() for e in exc.errors),
                )
            except Exception as exc:
                await abort_for(context, exc)
            index += 1

    async def ListModels(  # noqa: N802
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        models = [
            pb.ModelInfo(
                alias=m["alias"],
                version=m["version"] or 0,
                loaded=m["loaded"],
                family=m.get("family") or "",
                run_id=m.get("run_id") or "",
                dataset_version=m.get("dataset_version") or "",
                test_metrics=m.get("test_metrics") or {},
                loaded_at=m.get("loaded_at") or "",
                fast_path=m.get("fast_path", False),
            )
            for m in self._core.list_models()
        ]
        return pb.ListModelsResponse(registered_model=self._core.store.name, models=models)
