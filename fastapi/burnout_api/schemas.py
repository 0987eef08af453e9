"""The typed request and response models of the API, built from the data contract. They document the API
(OpenAPI/Swagger) and define its shape; on the hot path `validation` applies the same rules faster."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from burnout_api.features import FEATURE_FIELDS, build_example_record
from etl.contract import CLASSES

EXAMPLE_RECORD = build_example_record()


def build_record_model() -> type[BaseModel]:
    """One raw employee record in the dataset's own column names: types, ranges and categories from the
    contract, missing values where the contract allows them (the model imputes them), no other columns."""
    fields: dict[str, tuple] = {}
    for feature in FEATURE_FIELDS:
        column = feature.column
        if column.kind == "category":
            kind = Literal[column.categories]
            bounds = {}
        else:
            kind = int if column.kind == "integer" else float
            bounds = {"ge": column.minimum, "le": column.maximum}
            if column.kind == "float":
                bounds["allow_inf_nan"] = False
        default = None if column.nullable else ...
        kind = kind | None if column.nullable else kind
        fields[feature.key] = (
            kind,
            Field(default, alias=feature.name, description=column.description or None, **bounds),
        )
    config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [EXAMPLE_RECORD]})
    return create_model("EmployeeRecord", __config__=config, **fields)


EmployeeRecord = build_record_model()


ClassProbabilities = create_model(
    "ClassProbabilities", **{name: (float, Field(ge=0, le=1, description=f"P({name})")) for name in CLASSES}
)


class Prediction(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: Literal[CLASSES] = Field(alias="class", description="The most probable risk class.")  # type: ignore
    probabilities: ClassProbabilities  # type: ignore[valid-type]
    model_version: int = Field(description="Registered model version that answered.")


class ServedModel(BaseModel):
    alias: str
    version: int
    family: str | None


class PredictResponse(BaseModel):
    model: ServedModel
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    alias: str
    version: int | None
    loaded: bool
    family: str | None = None
    run_id: str | None = None
    dataset_version: str | None = None
    test_metrics: dict[str, float] = {}
    loaded_at: str | None = None
    fast_path: bool = False


class ModelList(BaseModel):
    registered_model: str
    models: list[ModelInfo]


class Readiness(BaseModel):
    ready: bool
    state: Literal["ready", "starting", "no_model", "mlflow_unreachable", "loading_failed", "draining"]
    mlflow: Literal["reachable", "unreachable", "unknown"]
    champion_version: int | None
    last_error: str | None
    checked_at: str | None


class ErrorItem(BaseModel):
    record: int | None = Field(description="Index of the record in the batch; null for the whole batch.")
    field: str | None
    type: str
    msg: str


class ErrorResponse(BaseModel):
    message: str
    detail: list[ErrorItem] = []
