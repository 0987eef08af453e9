"""The Open Inference Protocol over REST, under /v2, on the same app and core as /predict.

Errors take the protocol's shape, `{"error": "<message>"}` (see `v2.errors`). Bodies over
BURNOUT_MAX_BODY_BYTES are refused before they are read (413), as on every route."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from fastapi.routing import APIRoute

from burnout_api.core import CHAMPION, BatchPrediction, InferenceCore, MalformedBody
from burnout_api.core.request_ids import HEADER, request_id_from
from burnout_api.rest.deps import get_core
from burnout_api.v2.errors import error_response
from burnout_api.v2.models import model_metadata, resolve_alias, server_metadata
from burnout_api.v2.tensors import (
    INPUTS,
    InferOptions,
    InputTensor,
    build_outputs,
    read_options,
    records_from_inputs,
    refuse,
)
from burnout_api.validation import FieldError, decode_json
from fastapi import APIRouter, Depends, Request, Response

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


class _RequestInput(msgspec.Struct):
    name: str
    datatype: str
    shape: list[int]
    data: list
    parameters: dict[str, Any] | None = None


class _RequestOutput(msgspec.Struct):
    name: str
    parameters: dict[str, Any] | None = None


class _InferRequest(msgspec.Struct):
    inputs: list[_RequestInput]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[_RequestOutput] | None = None


_decode_request = msgspec.json.Decoder(_InferRequest).decode


class V2Route(APIRoute):
    """A route whose errors are answered in the protocol's shape rather than the app's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = self._inner_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return error_response(exc)

        return answer

    def _inner_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return super().get_route_handler()


class DirectV2Route(V2Route):
    """The infer route: its endpoint takes the Request as is (no dependency solving or body parsing), as
    /predict's does; it is documented from the decorator's arguments."""

    def _inner_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"], route_class=V2Route)


@router.get("", summary="Server metadata (V2)")
async def server() -> dict:
    return server_metadata()


@router.get("/health/live", summary="Server liveness (V2): 200 while the process answers")
async def live() -> dict:
    return {"live": True}


@router.get("/health/ready", summary="Server readiness (V2): 200 once a champion is loaded, else 503")
async def ready(core: InferenceCore = Depends(get_core)) -> Response:
    body = core.readiness()
    if body["ready"]:
        return Response(_encode({"ready": True}), media_type="application/json")
    reason = body["last_error"] or body["state"]
    return Response(_encode({"error": f"not ready: {reason}"}), 503, media_type="application/json")


@router.get("/models/{name}", summary="Model metadata (V2): inputs, outputs, versions")
@router.get("/models/{name}/versions/{version}", summary="Model metadata of a version or alias (V2)")
def metadata(name: str, version: str | None = None, core: InferenceCore = Depends(get_core)) -> dict:
    # A plain def: FastAPI runs it in a worker thread, since it may load the model from MLflow.
    return model_metadata(core, name, version)


@router.get("/models/{name}/ready", summary="Model readiness (V2): 200 when it is loaded")
@router.get("/models/{name}/versions/{version}/ready", summary="Readiness of a version or alias (V2)")
async def model_ready(
    name: str, version: str | None = None, core: InferenceCore = Depends(get_core)
) -> Response:
    alias = resolve_alias(core, name, version)
    if core.is_model_ready(alias):
        return Response(_encode({"name": name, "ready": True}), media_type="application/json")
    reason = "the server is draining" if core.is_loaded(alias) else f"{alias!r} is not loaded"
    return Response(_encode({"error": reason}), 503, media_type="application/json")


def _document_infer() -> dict:
    example = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": spec.name, "datatype": spec.datatype, "shape": [1], "data": [value]}
            for spec, value in zip(INPUTS, _example_values(), strict=True)
        ],
    }
    parameters = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "example": "burnout-risk"},
        },
    ]
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
    }
    return {"parameters": parameters, "requestBody": body}


def _example_values() -> list:
    from burnout_api.examples import COMPLETE_RECORD

    return [COMPLETE_RECORD[spec.name] for spec in INPUTS]


def _document_version() -> dict:
    documented = _document_infer()
    version = {
        "name": "version",
        "in": "path",
        "required": True,
        "description": "A registry version number, or an alias (champion, lightgbm, knn, svm, ensemble).",
        "schema": {"type": "string", "example": CHAMPION},
    }
    return {**documented, "parameters": [*documented["parameters"], version]}


async def infer(request: Request) -> Response:
    core = request.app.state.core
    name, version = request.path_params["name"], request.path_params.get("version")
    if "inference-header-content-length" in request.headers:
        raise refuse(
            None,
            "binary_data_unsupported",
            "binary tensor data (Triton's extension) is not supported: send the data as JSON "
            "(tritonclient: set_data_from_numpy(..., binary_data=False))",
        )
    alias = resolve_alias(core, name, version)  # refuses a name this service does not serve
    if not version:  # the champion, or the canary for this request (V2's answer names one version)
        alias = None
    body = _read_request(await request.body())
    options = read_options(body.parameters or {}, [output.name for output in body.outputs or ()])
    tensors = [InputTensor(i.name, i.datatype, tuple(i.shape), _flat(i.data)) for i in body.inputs]
    records = records_from_inputs(tensors, core.settings.max_batch)
    # The request id: X-Request-ID when sent, else the body's `id` (the protocol's), else a new one.
    if body.id and HEADER not in request.headers:
        request.state.request_id = request_id_from(body.id)
    request_id = request.state.request_id
    result = await core.predict_async(
        records, alias, "v2-rest", request_id, options.explain, split_per_request=True
    )
    return Response(render_infer_json(name, result, options, body.id), media_type="application/json")


def _read_request(body: bytes) -> _InferRequest:
    """The body as an inference request. JSON has no NaN, but tritonclient writes a missing number so (as
    Python's json does): such a body is read by `decode_json`, whose NaN the columns then treat as missing."""
    try:
        try:
            return _decode_request(body)
        except msgspec.ValidationError:
            raise
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            document = decode_json(body)  # MalformedBody when it is not JSON at all
        return msgspec.convert(document, _InferRequest)
    except msgspec.ValidationError as exc:
        raise MalformedBody(
            [FieldError(None, None, "invalid_request", f"the body is not a V2 inference request: {exc}")]
        ) from None


def _flat(data: list) -> list:
    """Tensor data may be nested by row ([[a], [b]] for shape [2, 1]): the protocol allows both forms."""
    if data and type(data[0]) is list:
        return [value for row in data for value in row]
    return data


def render_infer_json(
    name: str, result: BatchPrediction, options: InferOptions, request_id: str | None
) -> bytes:
    outputs = []
    for tensor in build_outputs(result, options):
        data = tensor.data if isinstance(tensor.data, list) else tensor.data.tolist()
        output = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape), "data": data}
        if tensor.parameters:
            output["parameters"] = tensor.parameters
        outputs.append(output)
    answer = {"model_name": name, "model_version": str(result.model.version), "outputs": outputs}
    if request_id:
        answer["id"] = request_id
    return _encode(answer)


_INFER_SUMMARY = "Inference (V2): named columns in, class and probabilities out"
infer_router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"], route_class=DirectV2Route)
infer_router.add_api_route(
    "/models/{name}/infer", infer, methods=["POST"], summary=_INFER_SUMMARY, openapi_extra=_document_infer()
)
infer_router.add_api_route(
    "/models/{name}/versions/{version}/infer",
    infer,
    methods=["POST"],
    summary=_INFER_SUMMARY + " (a version or alias)",
    openapi_extra=_document_version(),
)
