"""V2 request bodies in MLServer's pandas convention, and probabilities read back in CLASSES order whichever
server answered."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.v2_messages import (
    classes_from_grpc,
    classes_from_rest,
    grpc_request,
    probabilities_from_grpc,
    probabilities_from_rest,
    rest_body,
)
from etl.contract import BY_NAME, FEATURES


@pytest.fixture
def records() -> pd.DataFrame:
    from etl.synthetic import generate_synthetic

    frame = generate_synthetic(rows=40, seed=5)[list(FEATURES)]
    assert frame.isna().any().any()  # the synthetic data has missing values, as the real data does
    return frame


def test_rest_body_sends_one_typed_column_per_feature_with_null_for_missing(records):
    body = json.loads(rest_body(records))
    assert body["parameters"] == {"content_type": "pd"}
    assert [o["name"] for o in body["outputs"]] == ["predict", "predict_proba"]
    inputs = {i["name"]: i for i in body["inputs"]}
    assert list(inputs) == list(FEATURES)
    for name, tensor in inputs.items():
        assert tensor["shape"] == [len(records)]
        kind = BY_NAME[name].kind
        assert tensor["datatype"] == {"category": "BYTES", "integer": "INT64", "float": "FP64"}[kind]
        # MLServer decodes BYTES to `bytes` (categories the model does not know) unless told they are text.
        assert tensor.get("parameters") == ({"content_type": "str"} if kind == "category" else None)
        missing = [v is None for v in tensor["data"]]
        assert missing == records[name].isna().tolist()
    assert "\n" not in rest_body(records)  # wrk reads one body per line


def test_an_integer_column_with_a_missing_value_goes_as_fp64(records):
    integer = next(name for name in FEATURES if BY_NAME[name].kind == "integer")
    frame = records.astype({integer: float})
    frame.loc[0, integer] = math.nan
    tensor = next(i for i in json.loads(rest_body(frame))["inputs"] if i["name"] == integer)
    assert tensor["datatype"] == "FP64" and tensor["data"][0] is None


def test_grpc_request_carries_the_same_columns_as_raw_little_endian_tensors(records):
    request = grpc_request(records, "burnout-risk")
    assert request.model_name == "burnout-risk"
    assert request.parameters["content_type"].string_param == "pd"
    for tensor, raw in zip(request.inputs, request.raw_input_contents, strict=True):
        column = records[tensor.name]
        if tensor.datatype == "FP64":
            np.testing.assert_array_equal(np.frombuffer(raw, "<f8"), column.to_numpy(float))  # NaN stays NaN
        elif tensor.datatype == "INT64":
            assert np.frombuffer(raw, "<i8").tolist() == column.astype(int).tolist()
        else:
            first = int.from_bytes(raw[:4], "little")
            assert raw[4 : 4 + first].decode() == str(column.iloc[0])
            assert tensor.parameters["content_type"].string_param == "str"
    assert [o.name for o in request.outputs] == ["predict", "predict_proba"]


def test_probabilities_are_read_in_classes_order_from_either_server():
    mlserver = {
        "outputs": [
            {"name": "predict", "data": ["High", "Low"]},
            {"name": "predict_proba", "data": [0.7, 0.2, 0.1, 0.1, 0.8, 0.1]},  # High, Low, Medium
        ]
    }
    ours = {
        "outputs": [
            {"name": "class", "data": ["High", "Low"]},
            {
                "name": "probabilities",
                "data": [0.2, 0.1, 0.7, 0.8, 0.1, 0.1],
                "parameters": {"classes": "Low,Medium,High"},
            },
        ]
    }
    expected = [[0.2, 0.1, 0.7], [0.8, 0.1, 0.1]]
    model_classes = ["High", "Low", "Medium"]  # sklearn sorts string labels
    np.testing.assert_array_equal(probabilities_from_rest(mlserver, 2, model_classes), expected)
    np.testing.assert_array_equal(probabilities_from_rest(ours, 2, model_classes), expected)
    assert classes_from_rest(mlserver) == classes_from_rest(ours) == ["High", "Low"]


def test_grpc_answers_are_read_from_raw_outputs():
    from tritonclient.grpc import service_pb2 as pb

    answer = pb.ModelInferResponse()
    answer.outputs.add(name="predict", datatype="BYTES", shape=[2, 1])
    answer.raw_output_contents.append(b"\x04\x00\x00\x00High\x03\x00\x00\x00Low")
    answer.outputs.add(name="predict_proba", datatype="FP64", shape=[2, 3])
    answer.raw_output_contents.append(np.array([0.7, 0.2, 0.1, 0.1, 0.8, 0.1], "<f8").tobytes())
    assert classes_from_grpc(answer) == ["High", "Low"]
    expected = [[0.2, 0.1, 0.7], [0.8, 0.1, 0.1]]
    np.testing.assert_array_equal(probabilities_from_grpc(answer, 2, ["High", "Low", "Medium"]), expected)
