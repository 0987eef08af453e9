"""The BurnoutRisk service: converts messages to the core's records and back; errors become statuses in
`grpc_api.errors`. Messages over BURNOUT_MAX_BODY_BYTES never get here: gRPC refuses them,
RESOURCE_EXHAUSTED."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import grpc

from burnout_api import feedback
from burnout_api.core import InferenceCore
from burnout_api.features import EMPLOYEE_ID, EMPLOYEE_ID_KEY, FIELD_BY_KEY
from burnout_api.feedback import FeedbackStore
from burnout_api.grpc_api.errors import Malformed, abort_for, lenient, refuse_malformed
from burnout_api.grpc_api.request_ids import request_id_of, return_request_id
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.record_stream import connect
from burnout_api.rendering import build_prediction_payload
from burnout_api.stream_queue import queue_checked
from burnout_api.validation import check_batch_size
from burnout_base.settings import Settings
from etl.contract import TARGET

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BurnoutRisk"].full_name


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


def guarded(method, trailer: Metadata, checks_request: bool, streams_responses: bool):
    """`method` in the one wrapper every served method gets: it sets `trailer` as the call's trailing metadata
    first, so that every answer carries it, an abort's too (grpc sends what was set when abort() is given
    none); with `checks_request`, it refuses a request that is not a message (`grpc_api.errors.Malformed`)
    before `method` runs. One wrapper rather than one per concern: each layer is a coroutine more per call."""
    if streams_responses:

        async def streaming(request, context: grpc.aio.ServicerContext):
            if trailer:
                context.set_trailing_metadata(trailer)
            if checks_request and isinstance(request, Malformed):
                await abort_for(context, request.refusal())
            async for response in method(request, context):
                yield response

        return streaming

    async def unary(request, context: grpc.aio.ServicerContext):
        if trailer:
            context.set_trailing_metadata(trailer)
        if checks_request and isinstance(request, Malformed):
            await abort_for(context, request.refusal())
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
    only `methods` when given (grpc answers the others UNIMPLEMENTED); a request that is not a message is
    refused INVALID_ARGUMENT before its method runs; every answer carries `trailer`. The
    handlers are derived from the descriptor, so every method is registered with its own kind and messages."""
    handlers = {}
    for method in service.methods:
        if methods and method.name not in methods:
            continue
        kind = HANDLER_KINDS[(method.client_streaming, method.server_streaming)]
        behaviour = getattr(servicer, method.name)
        # A stream's messages are checked one by one, as they come, by the method itself.
        checks_request = not method.client_streaming
        if trailer or checks_request:
            behaviour = guarded(behaviour, trailer, checks_request, method.server_streaming)
        handlers[method.name] = kind(
            behaviour,
            request_deserializer=lenient(getattr(messages, method.input_type.name)),
            response_serializer=getattr(messages, method.output_type.name).SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


class GenericHandlersOnly:
    """`server` as the generated add_*_to_server functions (health, reflection) see it: their handlers are
    added as generic handlers only, as `add_service` adds ours. grpc.aio waits on one pending call per
    registered method besides the generic one (`asyncio.wait` over all of them for every call accepted):
    16 registered methods cost 10 % more CPU per call than none on the fixed answer
    (docs/grpc-performance.md), and a method name is found as fast in our few generic handlers."""

    def __init__(self, server: grpc.aio.Server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service_name: str, handlers: dict) -> None:
        """Left out on purpose: the same handlers came as a generic handler just before."""


def add_burnout_risk(core: InferenceCore, server: grpc.aio.Server, trailer: Metadata = ()) -> None:
    service = pb.DESCRIPTOR.services_by_name["BurnoutRisk"]
    add_service(server, service, pb, BurnoutRiskServicer(core), trailer=trailer)


# Employee field -> the dataset's column name (the core's record keys).
RECORD_KEYS = {**{key: field.name for key, field in FIELD_BY_KEY.items()}, EMPLOYEE_ID_KEY: EMPLOYEE_ID}
# Outcome field -> POST /feedback's field name (`burnout_api.feedback` checks both the same way).
OUTCOME_KEYS = {
    "request_id": feedback.REQUEST_ID,
    "record_index": feedback.RECORD_INDEX,
    "employee_id": EMPLOYEE_ID,
    "window_from": feedback.WINDOW_FROM,
    "window_to": feedback.WINDOW_TO,
    "burn_rate": TARGET,
    "class_name": feedback.CLASS,
}


def as_record(employee: pb.Employee) -> dict:
    """An Employee message -> the dataset-named record the core checks; unset fields are missing."""
    return {RECORD_KEYS[field.name]: value for field, value in employee.ListFields()}


def as_outcome(outcome: pb.Outcome) -> dict:
    """An Outcome message -> the outcome POST /feedback takes; unset (and empty) fields are absent."""
    return {OUTCOME_KEYS[field.name]: value for field, value in outcome.ListFields()}


async def build_response(
    request: pb.PredictRequest | Malformed, core: InferenceCore, request_id: str
) -> pb.PredictResponse:
    refuse_malformed(request)
    alias = request.model or None  # proto3 cannot tell unset from empty: the champion, or the canary
    check_batch_size(len(request.records), core.settings.max_batch)
    records = [as_record(e) for e in request.records]
    result = await core.predict_async(records, alias, "grpc", request_id, request.explain)
    payload = build_prediction_payload(result, alias, request_id)
    model = payload["model"]
    response = pb.PredictResponse(
        request_id=request_id,
        model=pb.ServedModel(alias=model["alias"], version=model["version"], family=model["family"] or ""),
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


class BurnoutRiskServicer(pb_grpc.BurnoutRiskServicer):
    def __init__(self, core: InferenceCore):
        self._core = core
        self._redis = None  # the stream's client, made on the first Enqueue
        self._trailer = replica_trailer(core.settings)
        self._feedback = FeedbackStore(core.settings)

    async def Predict(  # noqa: N802
        self, request: pb.PredictRequest, context: grpc.aio.ServicerContext
    ) -> pb.PredictResponse:
        request_id = request_id_of(context)
        return_request_id(context, request_id, self._trailer)
        try:
            return await build_response(request, self._core, request_id)
        except Exception as exc:
            await abort_for(context, exc)

    async def PredictStream(  # noqa: N802
        self, requests: AsyncIterator[pb.PredictRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PredictResponse]:
        call_id = request_id_of(context)
        return_request_id(context, call_id, self._trailer)
        index = 0
        async for request in requests:
            try:
                yield await build_response(request, self._core, f"{call_id}-{index}")
            except Exception as exc:
                await abort_for(context, exc, f"stream message {index}: ")
            index += 1

    async def Feedback(  # noqa: N802
        self, request: pb.FeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.FeedbackResponse:
        try:
            check_batch_size(len(request.outcomes), self._core.settings.max_batch)
            outcomes = [as_outcome(o) for o in request.outcomes]
            stored = await anyio.to_thread.run_sync(self._feedback.accept, outcomes)
        except Exception as exc:
            await abort_for(context, exc)
        return pb.FeedbackResponse(accepted=stored["accepted"], feedback_id=stored["feedback_id"])

    async def ListModels(  # noqa: N802
        self, request: pb.ListModelsRequest | Malformed, context: grpc.aio.ServicerContext
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
                explainer=pb.Explainer(**m["explainer"]) if m.get("explainer") else None,
                links=pb.ModelLinks(**m["links"]) if m.get("links") else None,
            )
            for m in self._core.list_models()
        ]
        return pb.ListModelsResponse(registered_model=self._core.store.name, models=models)

    async def Enqueue(  # noqa: N802
        self, request: pb.EnqueueRequest | Malformed, context: grpc.aio.ServicerContext
    ) -> pb.EnqueueResponse:
        settings = self._core.settings
        try:
            check_batch_size(len(request.records), settings.max_batch)
            records = [as_record(e) for e in request.records]
            ids = await anyio.to_thread.run_sync(queue_checked, settings, self._client, records)
        except Exception as exc:
            await abort_for(context, exc)
        return pb.EnqueueResponse(
            ids=ids,
            stream=settings.stream_requests,
            results_stream=settings.stream_results,
            dead_letter_stream=settings.stream_dead,
        )

    def _client(self):
        """The stream's client, made on first use (its pool reconnects by itself after Redis restarts)."""
        if self._redis is None:
            self._redis = connect(self._core.settings)
        return self._redis
