"""Open Inference Protocol (V2) messages: requests for the same records, and the probabilities read back.

Requests go out as every V2 client sends them with MLServer's
pandas convention (`content_type: "pd"`): one named input per dataset column, BYTES for categories, INT64 for
integers, FP64 for floats (and for an integer column with a missing value, which INT64 cannot carry).

The same bodies go to our service and to MLServer; the requested outputs are MLServer's sklearn runtime names
(`predict`, `predict_proba`), which our service answers too, so both do the same work."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from etl.contract import BY_NAME, CLASSES, FEATURES

OUTPUTS = ("predict", "predict_proba")
DATATYPES = {"category": "BYTES", "integer": "INT64", "float": "FP64"}
# MLServer's pandas codec turns a BYTES tensor into a column of `bytes` unless the input says its content is
# `str`: the pipeline's one-hot encoder then knows none of the categories and answers other probabilities
# (measured over gRPC: 91 % of 1,000 records off). Our service reads BYTES as text either way.
TEXT_INPUT = {"content_type": "str"}


def column_datatype(column: pd.Series) -> str:
    """The V2 datatype of one feature column of these records."""
    kind = BY_NAME[column.name].kind
    if kind == "integer" and column.isna().any():
        return "FP64"
    return DATATYPES[kind]


def rest_body(records: pd.DataFrame, outputs: tuple[str, ...] = OUTPUTS) -> str:
    """A V2 REST infer body on one line (wrk sends one body per line); missing values are JSON null."""
    inputs = []
    for name in FEATURES:
        column = records[name]
        datatype = column_datatype(column)
        values = column.astype(object).where(column.notna(), None).tolist()
        if datatype == "INT64":
            values = [int(v) for v in values]
        elif datatype == "FP64":
            values = [None if v is None else float(v) for v in values]
        tensor = {"name": name, "datatype": datatype, "shape": [len(records)], "data": values}
        if datatype == "BYTES":
            tensor["parameters"] = TEXT_INPUT
        inputs.append(tensor)
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": inputs,
        "outputs": [{"name": output} for output in outputs],
    }
    return json.dumps(body, separators=(",", ":"))


def grpc_request(records: pd.DataFrame, model_name: str, outputs: tuple[str, ...] = OUTPUTS):
    """A V2 `ModelInferRequest` with the tensors in `raw_input_contents` (little-endian, BYTES elements each
    behind a 4-byte length: the encoding V2 clients use for speed); a missing value is NaN in FP64."""
    from tritonclient.grpc import service_pb2 as pb

    request = pb.ModelInferRequest(model_name=model_name)
    request.parameters["content_type"].string_param = "pd"
    for name in FEATURES:
        column = records[name]
        datatype = column_datatype(column)
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[len(records)])
        if datatype == "BYTES":
            tensor.parameters["content_type"].string_param = TEXT_INPUT["content_type"]
        request.raw_input_contents.append(_raw_tensor(column, datatype))
    for output in outputs:
        request.outputs.add(name=output)
    return request


def _raw_tensor(column: pd.Series, datatype: str) -> bytes:
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in column]
        return b"".join(len(item).to_bytes(4, "little") + item for item in encoded)
    dtype = "<i8" if datatype == "INT64" else "<f8"
    return np.ascontiguousarray(
        column.to_numpy(dtype=float if dtype == "<f8" else np.int64), dtype=dtype
    ).tobytes()


def probabilities_from_rest(answer: dict, rows: int, model_classes: list[str]) -> np.ndarray:
    """The [rows, 3] probabilities of a V2 REST answer with columns in CLASSES order. The output is
    `predict_proba` (MLServer's sklearn runtime: columns in the model's `classes_` order, `model_classes`) or
    `probabilities` (ours: its `parameters.classes` names the columns)."""
    by_name = {output["name"]: output for output in answer["outputs"]}
    output = by_name.get("predict_proba") or by_name["probabilities"]
    columns = (output.get("parameters") or {}).get("classes")
    order = columns.split(",") if columns else model_classes
    table = np.asarray(output["data"], dtype=float).reshape(rows, len(order))
    return table[:, [order.index(name) for name in CLASSES]]


def classes_from_rest(answer: dict) -> list[str]:
    """The predicted classes of a V2 REST answer (`predict`, MLServer's name, or `class`, ours)."""
    by_name = {output["name"]: output for output in answer["outputs"]}
    output = by_name.get("predict") or by_name["class"]
    return [str(value) for value in output["data"]]


def probabilities_from_grpc(answer, rows: int, model_classes: list[str]) -> np.ndarray:
    """The [rows, 3] probabilities of a V2 `ModelInferResponse` (raw outputs), columns in CLASSES order."""
    return probabilities_from_rest(_grpc_as_rest(answer), rows, model_classes)


def classes_from_grpc(answer) -> list[str]:
    """The predicted classes of a V2 `ModelInferResponse` (raw outputs)."""
    return classes_from_rest(_grpc_as_rest(answer))


def _grpc_as_rest(answer) -> dict:
    """A ModelInferResponse's outputs in the REST answer's shape, the raw tensors decoded."""
    outputs = []
    for output, raw in zip(answer.outputs, answer.raw_output_contents, strict=True):
        if output.datatype == "BYTES":
            data, offset = [], 0
            while offset < len(raw):
                size = int.from_bytes(raw[offset : offset + 4], "little")
                data.append(raw[offset + 4 : offset + 4 + size].decode())
                offset += 4 + size
        else:
            data = np.frombuffer(raw, "<f8").tolist()
        parameters = {key: value.string_param for key, value in output.parameters.items()}
        outputs.append({"name": output.name, "data": data, "parameters": parameters})
    return {"outputs": outputs}
