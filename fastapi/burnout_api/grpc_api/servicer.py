"""The BurnoutRisk service: converts messages to the core's records and back. Core errors map to status
codes here, once: bad input INVALID_ARGUMENT (undecodable messages included), unknown alias NOT_FOUND,
explanations asked of a model without an explainer FAILED_PRECONDITION, no model or no registry UNAVAILABLE;
anything else INTERNAL with a generic message, the traceback in the log only. Messages over
BURNOUT_MAX_BODY_BYTES never get here: gRPC refuses them, RESOURCE_EXHAUSTED."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import grpc
from google.protobuf.message import DecodeError

from burnout_api.core import (
    CHAMPION,
    ExplanationUnavailable,
    InferenceCore,
    InvalidInput,
    MalformedBody,
    ModelUnavailable,
    NoModelYet,
    UnknownAlias,
    UnknownModel,
)
from burnout_api.features import FIELD_BY_KEY
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.record_stream import StreamUnavailable, connect, queue_records
from burnout_api.rendering import build_prediction_payload
from burnout_api.validation import FieldError, check_batch_size
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
STATUS = {  # subclasses before their base: the first match wins
    ExplanationUnavailable: grpc.StatusCode.FAILED_PRECONDITION,
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownAlias: grpc.StatusCode.NOT_FOUND,
    UnknownModel: grpc.StatusCode.NOT_FOUND,
    NoModelYet: grpc.StatusCode.UNAVAILABLE,
    ModelUnavailable: grpc.StatusCode.UNAVAILABLE,
}


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BurnoutRisk"].full_name


class Malformed:
    """Stands for a request whose bytes are not a valid message: the handler refuses it with its code."""


MALFORMED = Malformed()


def lenient(message_type):
    """A request deserializer that does not raise: grpc would answer a decoding error with a bare
    INTERNAL/UNKNOWN status, while the caller deserves INVALID_ARGUMENT."""

    def parse(data: bytes):
        try:
            return message_type.FromString(data)
        except DecodeError:
            return MALFORMED

    return parse


# (client streams, server streams) -> grpc's handler factory for that kind of method.
HANDLER_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


REPLICA_TRAILER_KEY = "burnout-replica"
Metadata = tuple[tuple[str, str], ...]


def replica_trailer(settings: Settings) -> Metadata:
    """The trailing metadata every answer carries (none when BURNOUT_REPLICA_HEADER is off)."""
    return ((REPLICA_TRAILER_KEY, settings.replica_name),) if settings.replica_header else ()


def with_trailer(method, trailer: Metadata, streams_responses: bool):
    """`method` setting `trailer` as its call's trailing metadata first, so that every answer carries it,
    an abort's too (grpc sends what was set when abort() is given none)."""
    if streams_responses:

        async def streaming(request, context: grpc.aio.ServicerContext):
            context.set_trailing_metadata(trailer)
            async for response in method(request, context):
                yield response

        return streaming

    async def unary(request, context: grpc.aio.ServicerContext):
        context.set_trailing_metadata(trailer)
        return await method(request, context)

    return unary


def add_service(
    server: grpc.aio.Server,
    service,
    messages,
    servicer,
    methods: tuple[str, ...] = (),
    trailer: Metadata = (),
) -> None:
    """Register `servicer` for `service` (a ServiceDescriptor; `messages`: the module of its request and
    response classes) as a generated add_*_to_server would, but with lenient request deserializers, and
    only `methods` when given (grpc answers the others UNIMPLEMENTED); every answer carries `trailer`. The
    handlers are derived from the descriptor, so every method is registered with its own kind and messages."""
    handlers = {}
    for method in service.methods:
        if methods and method.name not in methods:
            continue
        kind = HANDLER_KINDS[(method.client_streaming, method.server_streaming)]
        behaviour = getattr(servicer, method.name)
        if trailer:
            behaviour = with_trailer(behaviour, trailer, method.server_streaming)
        handlers[method.name] = kind(
            behaviour,
            request_deserializer=lenient(getattr(messages, method.input_type.name)),
            response_serializer=getattr(messages, method.output_type.name).SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def add_burnout_risk(core: InferenceCore, server: grpc.aio.Server, trailer: Metadata = ()) -> None:
    service = pb.DESCRIPTOR.services_by_name["BurnoutRisk"]
    add_service(server, service, pb, BurnoutRiskServicer(core), trailer=trailer)


def as_record(employee: pb.Employee) -> dict:
    """An Employee message -> the dataset-named record the core checks; unset fields are missing."""
    return {FIELD_BY_KEY[field.name].name: value for field, value in employee.ListFields()}


async def build_response(request: pb.PredictRequest | Malformed, core: InferenceCore) -> pb.PredictResponse:
    if request is MALFORMED:
        raise MalformedBody(
            [FieldError(None, None, "invalid_message", "the message is not a PredictRequest")]
        )
    alias = request.model or CHAMPION  # proto3 cannot tell an unset string from an empty one
    check_batch_size(len(request.records), core.settings.max_batch)
    records = [as_record(e) for e in request.records]
    result = await core.predict_async(records, alias, "grpc", explain=request.explain)
    payload = build_prediction_payload(result, alias)
    model = payload["model"]
    response = pb.PredictResponse(
        model=pb.ServedModel(alias=alias, version=model["version"], family=model["family"] or ""),
        predictions=[
            pb.Prediction(
                class_name=p["class"], probabilities=p["probabilities"], model_version=p["model_version"]
            )
            for p in payload["predictions"]
        ],
    )
    if "explainer" in payload:  # apart, so that plain answers are built exactly as before
        response.explainer.CopyFrom(pb.Explainer(**payload["explainer"]))
        for message, prediction in zip(response.predictions, payload["predictions"], strict=True):
            message.explanation.CopyFrom(as_explanation(prediction["explanation"]))
    return response


def as_explanation(explanation: dict) -> pb.Explanation:
    return pb.Explanation(
        base=explanation["base"],
        output=explanation["output"],
        contributions={
            name: pb.FeatureContributions(features=features)
            for name, features in explanation["contributions"].items()
        },
        top_factors=[
            pb.TopFactor(
                feature=f["feature"],
                class_name=f["class"],
                contribution=f["contribution"],
                text=f["text"],
                **_factor_value(f["value"]),
            )
            for f in explanation["top_factors"]
        ],
    )


def _factor_value(value: object) -> dict:
    """The `value` oneof: a category, a number, or neither for a missing value."""
    if value is None:
        return {}
    return {"category": value} if isinstance(value, str) else {"number": value}


async def abort_for(context: grpc.aio.ServicerContext, exc: Exception, where: str = "") -> None:
    """Abort the call with the status matching a core error, or INTERNAL for anything else (raises)."""
    code = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), None)
    if code is None:
        log.error("unexpected error in a gRPC call", exc_info=exc)
        code, message = grpc.StatusCode.INTERNAL, "internal error: the service logged it"
    elif isinstance(exc, InvalidInput):
        message = "; ".join(error.describe() for error in exc.errors)
    else:
        message = str(exc)
    await context.abort(code, where + message)


class BurnoutRiskServicer(pb_grpc.BurnoutRiskServicer):
    def __init__(self, core: InferenceCore):
        self._core = core
        self._redis = None  # the stream's client, made on the first Enqueue

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
            except Exception as exc:
                await abort_for(context, exc, f"stream message {index}: ")
            index += 1

    async def ListModels(  # noqa: N802
        self, request: pb.ListModelsRequest | Malformed, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        if request is MALFORMED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the message is not a ListModelsRequest")
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
                explainer=pb.Explainer(**m["explainer"]) if m.get("explainer") else None,
                links=pb.ModelLinks(**m["links"]) if m.get("links") else None,
            )
            for m in self._core.list_models()
        ]
        return pb.ListModelsResponse(registered_model=self._core.store.name, models=models)

    async def Enqueue(  # noqa: N802
        self, request: pb.EnqueueRequest | Malformed, context: grpc.aio.ServicerContext
    ) -> pb.EnqueueResponse:
        if request is MALFORMED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the message is not an EnqueueRequest")
        settings = self._core.settings
        try:
            check_batch_size(len(request.records), settings.max_batch)
            records = [as_record(e) for e in request.records]
            ids = await anyio.to_thread.run_sync(self._queue, records)
        except StreamUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the record stream is unavailable: {exc}")
        except Exception as exc:
            await abort_for(context, exc)
        return pb.EnqueueResponse(
            ids=ids,
            stream=settings.stream_requests,
            results_stream=settings.stream_results,
            dead_letter_stream=settings.stream_dead,
        )

    def _queue(self, records: list[dict]) -> list[str]:
        if self._redis is None:
            self._redis = connect(self._core.settings)
        return queue_records(self._redis, self._core.settings, records)
