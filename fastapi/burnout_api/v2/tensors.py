"""Our model in the Open Inference Protocol (V2, the "predict protocol v2" of KServe, Triton and MLServer):
its input and output tensors, and the two conversions its REST and gRPC adapters share.

Inputs are named columns, one tensor per feature, named as in the dataset ("Mental Fatigue Score"): BYTES
for categories, INT64 (or any number type) for integers, FP64 for the rest, a missing value as JSON null or
NaN. That is MLServer's pandas convention (request `parameters.content_type: "pd"`), so one request body
serves both. The columns become the same records every protocol sends to the core, which checks them against
the data contract and names the record and field of each problem.

Outputs: `class` (BYTES, [n]) and `probabilities` (FP64, [n, 3], columns Low, Medium, High); with
`parameters.explain` (or when one is requested by name) the explanation: `contributions` (FP64, [n, 3, 13]),
`contribution_base` (FP64, [n, 3]) and `top_factors` (BYTES, [n, 3]: sentences). MLServer's scikit-learn
runtime calls the first two `predict` and `predict_proba`: under those names they are answered as it
answers them (`predict_proba`'s columns in the estimator's own class order, which `parameters.classes`
names), so its clients work unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from burnout_api.core import BatchPrediction, InvalidInput
from burnout_api.features import EMPLOYEE_ID, FEATURE_FIELDS
from burnout_api.validation import FieldError, RecordBatch, check_batch_size, check_columns
from etl.contract import CLASSES, FEATURES
from modeling.explain import top_factors

NUMBER_TYPES = frozenset({"FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16"})
CONTENT_TYPE = "pd"  # MLServer's name for "inputs are the named columns of one table"
TOP_FACTORS = 3
# Checking columns with numpy costs ~140 us whatever the size, walking records ~6 us a record: measured here,
# the columns win from about 25 records on (again for issue 23: 1 record 15 us as rows, 112 us as columns;
# 8 records 36 vs 151 us; 32 records 224 vs 157 us), so smaller batches keep the walk.
CHECK_AS_COLUMNS_FROM = 32


@dataclass(frozen=True)
class TensorSpec:
    """A tensor as the model's metadata lists it (-1: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def as_dict(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _input_datatype(kind: str) -> str:
    return {"category": "BYTES", "integer": "INT64"}.get(kind, "FP64")


INPUTS = tuple(TensorSpec(f.name, _input_datatype(f.column.kind), (-1,)) for f in FEATURE_FIELDS)
# Text inputs: the categories, and the optional Employee ID (not a model input: logged, hashed by the canary).
_CATEGORICAL = frozenset(f.name for f in FEATURE_FIELDS if f.column.kind == "category") | {EMPLOYEE_ID}
_INPUT_NAMES = ", ".join(repr(spec.name) for spec in INPUTS)
CLASS, PROBABILITIES = "class", "probabilities"
CONTRIBUTIONS, CONTRIBUTION_BASE, FACTORS = "contributions", "contribution_base", "top_factors"
OUTPUTS = (
    TensorSpec(CLASS, "BYTES", (-1,)),
    TensorSpec(PROBABILITIES, "FP64", (-1, len(CLASSES))),
    TensorSpec(CONTRIBUTIONS, "FP64", (-1, len(CLASSES), len(FEATURES))),
    TensorSpec(CONTRIBUTION_BASE, "FP64", (-1, len(CLASSES))),
    TensorSpec(FACTORS, "BYTES", (-1, TOP_FACTORS)),
)
EXPLANATION_OUTPUTS = (CONTRIBUTIONS, CONTRIBUTION_BASE, FACTORS)
MLSERVER_NAMES = {"predict": CLASS, "predict_proba": PROBABILITIES}
_OUTPUT_NAMES = ", ".join(repr(name) for name in (*(spec.name for spec in OUTPUTS), *MLSERVER_NAMES))


class InputTensor(NamedTuple):
    """One input as a transport decoded it: `values` flat and row-major; BYTES as str or bytes; a missing
    number as None or NaN. (A NamedTuple: made thirteen times a request, at a fifth of a dataclass's cost.)"""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list


@dataclass(frozen=True)
class OutputTensor:
    """One output: `data` flat and row-major (a list of str for BYTES, else a float64 array)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: list | np.ndarray
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InferOptions:
    """What a request asks for besides its inputs: the outputs (under the names asked) and explanations."""

    outputs: tuple[str, ...]
    explain: bool


def refuse(field_name: str | None, kind: str, message: str) -> InvalidInput:
    """A request-level problem with the input or parameter named."""
    return InvalidInput([FieldError(None, field_name, kind, message)])


def read_options(parameters: dict[str, object], requested: list[str]) -> InferOptions:
    """The request's parameters and requested outputs, checked: `content_type` must be absent or "pd";
    `explain` a boolean; every output one of ours. Other parameters (Triton's `binary_data_output`, ...) are
    ignored: answers are always plain tensors, which every V2 client reads."""
    content_type = parameters.get("content_type")
    if content_type not in (None, CONTENT_TYPE):
        raise refuse(
            "parameters.content_type",
            "unsupported_content_type",
            f"this model takes named columns (content_type {CONTENT_TYPE!r}), got {content_type!r}",
        )
    explain = parameters.get("explain", False)
    if explain in ("true", "false"):  # gRPC clients often send parameters as strings
        explain = explain == "true"
    if not isinstance(explain, bool):
        raise refuse("parameters.explain", "not_a_boolean", f"must be true or false, got {explain!r}")
    for name in requested:
        if MLSERVER_NAMES.get(name, name) not in {spec.name for spec in OUTPUTS}:
            raise refuse(
                "outputs", "unknown_output", f"{name!r} is not an output; the outputs are {_OUTPUT_NAMES}"
            )
    if len(set(requested)) != len(requested):
        raise refuse("outputs", "duplicate_output", "an output is requested twice")
    explain = explain or any(MLSERVER_NAMES.get(n, n) in EXPLANATION_OUTPUTS for n in requested)
    if not requested:
        requested = [CLASS, PROBABILITIES, *(EXPLANATION_OUTPUTS if explain else ())]
    return InferOptions(tuple(requested), explain)


def records_from_inputs(inputs: list[InputTensor], max_batch: int) -> RecordBatch | list[dict]:
    """The inputs as the core takes records. Checked here: the set of inputs (every feature once, nothing
    else), their shapes ([n] or [n, 1], one n for all, data to match) and datatypes (BYTES for categories,
    a number type for the rest). In a larger batch, valid values make a RecordBatch at once
    (`check_columns`); otherwise the columns become records keyed by column name, which the core walks (and
    names each record and field of a problem)."""
    if not inputs:
        raise refuse("inputs", "no_inputs", f"the request has no inputs; the inputs are {_INPUT_NAMES}")
    by_name: dict[str, InputTensor] = {}
    for tensor in inputs:
        if tensor.name in by_name:
            raise refuse(tensor.name, "duplicate_input", "is sent twice")
        by_name[tensor.name] = tensor
    unknown = [name for name in by_name if name not in FEATURES and name != EMPLOYEE_ID]
    if unknown:
        raise refuse(unknown[0], "unknown_input", f"is not a model input; the inputs are {_INPUT_NAMES}")
    missing = [name for name in FEATURES if name not in by_name]
    if missing:
        raise refuse(missing[0], "missing_input", f"is required (missing inputs: {', '.join(missing)})")
    names = [*FEATURES, EMPLOYEE_ID] if EMPLOYEE_ID in by_name else FEATURES  # the id is optional
    count = _rows(inputs[0])
    for name in names:
        _check_tensor(by_name[name], count)
    check_batch_size(count, max_batch)
    if count == 0:
        raise refuse("inputs", "empty_batch", "the batch is empty: send at least one record")
    columns = {name: _column_values(by_name[name]) for name in names}
    if EMPLOYEE_ID in columns:  # a tensor has no null: an empty string is a record without an id
        columns[EMPLOYEE_ID] = [value or None for value in columns[EMPLOYEE_ID]]
    batch = check_columns(columns) if count >= CHECK_AS_COLUMNS_FROM else None
    if batch is not None:
        return batch
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _rows(tensor: InputTensor) -> int:
    shape = tensor.shape
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 0:
        raise refuse(tensor.name, "invalid_shape", f"must have shape [n] or [n, 1], got {list(shape)}")
    return shape[0]


def _check_tensor(tensor: InputTensor, count: int) -> None:
    rows = _rows(tensor)
    if rows != count:
        raise refuse(tensor.name, "inconsistent_shape", f"has {rows} rows where the first input has {count}")
    if len(tensor.values) != rows:
        raise refuse(
            tensor.name,
            "shape_mismatch",
            f"has {len(tensor.values)} values for shape {list(tensor.shape)}",
        )
    categorical = tensor.name in _CATEGORICAL
    if (tensor.datatype == "BYTES") != categorical or (
        not categorical and tensor.datatype not in NUMBER_TYPES
    ):
        expected = "BYTES" if categorical else "a number type (INT64, FP64, ...)"
        raise refuse(tensor.name, "wrong_datatype", f"must be {expected}, got {tensor.datatype!r}")


def _column_values(tensor: InputTensor) -> list:
    """Values as the core takes them: text for categories (bytes decoded as UTF-8), None for a missing
    number (NaN: gRPC's and numpy's way of writing one)."""
    values = tensor.values
    if tensor.datatype == "BYTES":
        if any(type(v) is bytes for v in values):
            try:
                return [v.decode() if type(v) is bytes else v for v in values]
            except UnicodeDecodeError:
                raise refuse(tensor.name, "invalid_utf8", "a value is not valid UTF-8") from None
        return values
    return [None if type(v) is float and math.isnan(v) else v for v in values]


def build_outputs(result: BatchPrediction, options: InferOptions) -> list[OutputTensor]:
    """The answer's tensors, in the order and under the names requested."""
    count = len(result.labels)
    tensors = []
    for requested in options.outputs:
        name = MLSERVER_NAMES.get(requested, requested)
        if name == CLASS:
            tensors.append(OutputTensor(requested, "BYTES", (count,), result.labels))
        elif requested == "predict_proba":  # MLServer's columns: the estimator's own class order
            classes = result.model.model_classes
            columns = result.probabilities[:, [CLASSES.index(c) for c in classes]]
            tensors.append(
                OutputTensor(
                    requested, "FP64", columns.shape, columns.ravel(), {"classes": ",".join(classes)}
                )
            )
        elif name == PROBABILITIES:
            tensors.append(
                OutputTensor(
                    requested,
                    "FP64",
                    (count, len(CLASSES)),
                    result.probabilities.ravel(),
                    {"classes": ",".join(CLASSES)},
                )
            )
        else:
            tensors.append(_explanation_output(requested, result))
    return tensors


def _explanation_output(name: str, result: BatchPrediction) -> OutputTensor:
    """One explanation tensor, straight from the core's arrays."""
    explanations = result.explanations
    described = {
        "classes": ",".join(explanations.classes),
        "method": explanations.method,
        "scale": explanations.scale,
    }
    count, classes = explanations.contributions.shape[:2]
    if name == CONTRIBUTIONS:
        described["features"] = ",".join(explanations.features)
        return OutputTensor(
            name, "FP64", explanations.contributions.shape, explanations.contributions.ravel(), described
        )
    if name == CONTRIBUTION_BASE:
        base = np.tile(explanations.base, (count, 1))
        return OutputTensor(name, "FP64", (count, classes), base.ravel(), described)
    texts = _top_factor_texts(result)
    return OutputTensor(name, "BYTES", (count, TOP_FACTORS), texts, {"explains": "the predicted class"})


def _top_factor_texts(result: BatchPrediction) -> list[str]:
    """Per record, the sentences of its predicted class's top factors, padded when fewer features matter."""
    explanations, records, texts = result.explanations, result.records, []
    for index, label in enumerate(result.labels):
        factors = top_factors(
            explanations, index, records.numeric[index], records.categorical[index], label, TOP_FACTORS
        )
        texts.extend([factor["text"] for factor in factors] + [""] * (TOP_FACTORS - len(factors)))
    return texts
