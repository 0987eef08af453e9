"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService`, beside BurnoutRisk on the same
server and core.

Its messages are those `tritonclient` ships (generated from the protocol's grpc_service.proto, which KServe,
Triton and MLServer share), so the protocol's definition is not copied here. Served: ServerLive,
ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer; the rest of Triton's service
(repository, shared memory, statistics, ...) answers UNIMPLEMENTED. Inputs come as typed contents or as
`raw_input_contents` (tritonclient's way); outputs go out as `raw_output_contents`, which every V2 client
reads. Errors carry the statuses of BurnoutRisk (`grpc_api.errors.STATUS`).
"""

from __future__ import annotations

import struct

import anyio
import numpy as np
from tritonclient.grpc import service_pb2 as v2

from burnout_api.core import InferenceCore
from burnout_api.grpc_api.errors import abort_for
from burnout_api.grpc_api.request_ids import request_id_of, return_request_id
from burnout_api.grpc_api.servicer import replica_trailer
from burnout_api.v2.models import model_metadata, resolve_alias, server_metadata
from burnout_api.v2.tensors import (
    InputTensor,
    OutputTensor,
    build_outputs,
    read_options,
    records_from_inputs,
    refuse,
)

SERVICE = v2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVED_METHODS = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")
# Raw tensors are little-endian: each datatype's struct code (struct unpacks a one-record tensor ten times
# faster than numpy does).
RAW_CODES = {
    "FP64": "d",
    "FP32": "f",
    "FP16": "e",
    "INT64": "q",
    "INT32": "i",
    "INT16": "h",
    "INT8": "b",
    "UINT8": "B",
    "UINT16": "H",
}
CONTENTS = {
    "FP64": "fp64_contents",
    "FP32": "fp32_contents",
    "INT64": "int64_contents",
    "INT32": "int_contents",
    "INT16": "int_contents",
    "INT8": "int_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "BYTES": "bytes_contents",
}


def decode_inputs(request: v2.ModelInferRequest) -> list[InputTensor]:
    """The request's inputs with their values, from `raw_input_contents` (one per input, in order) or from
    each input's typed contents."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise refuse(
            "raw_input_contents",
            "shape_mismatch",
            f"has {len(raw)} entries for {len(request.inputs)} inputs",
        )
    tensors = []
    for index, tensor in enumerate(request.inputs):
        if raw:
            values = _raw_values(tensor.name, tensor.datatype, raw[index])
        elif tensor.datatype in CONTENTS:
            values = list(getattr(tensor.contents, CONTENTS[tensor.datatype]))
        else:
            raise refuse(tensor.name, "wrong_datatype", f"datatype {tensor.datatype!r} is not supported")
        tensors.append(InputTensor(tensor.name, tensor.datatype, tuple(tensor.shape), values))
    return tensors


def _raw_values(name: str, datatype: str, data: bytes) -> list:
    if datatype == "BYTES":
        return _split_bytes(name, data)
    code = RAW_CODES.get(datatype)
    if code is None:
        raise refuse(name, "wrong_datatype", f"datatype {datatype!r} is not supported")
    size = struct.calcsize(code)
    if len(data) % size:
        raise refuse(name, "shape_mismatch", f"has {len(data)} raw bytes, not a whole number of {datatype}")
    return list(struct.unpack(f"<{len(data) // size}{code}", data))


def _split_bytes(name: str, data: bytes) -> list[bytes]:
    """A raw BYTES tensor: each element is its length (4 bytes, little-endian) followed by its bytes."""
    values, offset = [], 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise refuse(name, "invalid_bytes", "the raw BYTES data ends inside an element's length")
        length = int.from_bytes(data[offset : offset + 4], "little")
        offset += 4
        if offset + length > len(data):
            raise refuse(name, "invalid_bytes", "the raw BYTES data ends inside an element")
        values.append(data[offset : offset + length])
        offset += length
    return values


def _raw_output(tensor: OutputTensor) -> bytes:
    if tensor.datatype == "BYTES":
        encoded = (value.encode() for value in tensor.data)
        return b"".join(len(value).to_bytes(4, "little") + value for value in encoded)
    return np.ascontiguousarray(tensor.data, dtype="<f8").tobytes()


def read_parameters(parameters) -> dict[str, object]:
    """A protobuf map of InferParameter as plain values."""
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
        for key, value in parameters.items()
    }


class InferenceServicer:
    """The served methods of GRPCInferenceService over the core."""

    def __init__(self, core: InferenceCore):
        self._core = core
        self._trailer = replica_trailer(core.settings)

    async def ServerLive(self, request, context) -> v2.ServerLiveResponse:  # noqa: N802
        return v2.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context) -> v2.ServerReadyResponse:  # noqa: N802
        return v2.ServerReadyResponse(ready=self._core.is_ready())

    async def ServerMetadata(self, request, context) -> v2.ServerMetadataResponse:  # noqa: N802
        return v2.ServerMetadataResponse(**server_metadata())

    async def ModelReady(self, request, context) -> v2.ModelReadyResponse:  # noqa: N802
        try:
            alias = resolve_alias(self._core, request.name, request.version)
        except Exception as exc:
            await abort_for(context, exc)
        return v2.ModelReadyResponse(ready=self._core.is_model_ready(alias))

    async def ModelMetadata(self, request, context) -> v2.ModelMetadataResponse:  # noqa: N802
        try:
            described = await anyio.to_thread.run_sync(
                model_metadata, self._core, request.name, request.version
            )
        except Exception as exc:
            await abort_for(context, exc)
        tensor = v2.ModelMetadataResponse.TensorMetadata
        return v2.ModelMetadataResponse(
            name=described["name"],
            versions=described["versions"],
            platform=described["platform"],
            inputs=[tensor(**spec) for spec in described["inputs"]],
            outputs=[tensor(**spec) for spec in described["outputs"]],
        )

    async def ModelInfer(self, request, context) -> v2.ModelInferResponse:  # noqa: N802
        core = self._core
        try:
            alias = resolve_alias(core, request.model_name, request.model_version)
            if not request.model_version:  # the champion, or the canary for this request
                alias = None
            options = read_options(read_parameters(request.parameters), [o.name for o in request.outputs])
            records = records_from_inputs(decode_inputs(request), core.settings.max_batch)
            request_id = request_id_of(context, request.id)
            result = await core.predict_async(
                records, alias, "v2-grpc", request_id, options.explain, split_per_request=True
            )
        except Exception as exc:
            await abort_for(context, exc)
        return_request_id(context, request_id, self._trailer)
        response = v2.ModelInferResponse(
            model_name=request.model_name, model_version=str(result.model.version), id=request_id
        )
        for tensor in build_outputs(result, options):
            output = response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
            for key, value in tensor.parameters.items():
                output.parameters[key].string_param = value
            response.raw_output_contents.append(_raw_output(tensor))
        return response
