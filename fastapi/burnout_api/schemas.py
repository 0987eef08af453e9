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


ClassScores = create_model(
    "ClassScores", **{name: (float, Field(description=f"The score of {name}")) for name in CLASSES}
)


class TopFactor(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    feature: str = Field(description="A dataset column.")
    value: float | str | None = Field(description="The record's value; null: missing (the model imputed it).")
    class_: Literal[CLASSES] = Field(alias="class", description="The predicted class it moved.")  # type: ignore
    contribution: float = Field(description="How much it moved that class's score (negative: lowered it).")
    text: str = Field(description='In words, e.g. "Mental Fatigue Score = 7.8 raises P(High) by 0.21".')


class Explanation(BaseModel):
    base: ClassScores = Field(  # type: ignore[valid-type]
        description="Each class's score before any feature: TreeSHAP's expected value (log-odds), or the "
        "mean probability over the background sample (probability)."
    )
    output: ClassScores = Field(  # type: ignore[valid-type]
        description="The model's score of each class for this record, on the explainer's scale (log-odds: "
        "the probabilities are their softmax); equals base + the sum of the class's contributions."
    )
    contributions: dict[str, dict[str, float]] = Field(
        description="Class -> feature (each of the dataset's feature columns) -> its contribution."
    )
    top_factors: list[TopFactor] = Field(description="The 3 features that moved the predicted class most.")


class Explainer(BaseModel):
    method: Literal["tree_shap", "permutation_shap"]
    exact: bool = Field(description="tree_shap is exact; permutation_shap estimates how features share.")
    scale: Literal["log_odds", "probability"] = Field(description="What base, output and contributions are.")


class Prediction(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: Literal[CLASSES] = Field(alias="class", description="The most probable risk class.")  # type: ignore
    probabilities: ClassProbabilities  # type: ignore[valid-type]
    model_version: int = Field(description="Registered model version that answered.")
    explanation: Explanation | None = Field(default=None, description="With explain=true only.")


class ServedModel(BaseModel):
    alias: str
    version: int
    family: str | None


class PredictResponse(BaseModel):
    model: ServedModel
    predictions: list[Prediction]
    explainer: Explainer | None = Field(default=None, description="With explain=true only.")


class ModelLinks(BaseModel):
    run: str = Field(description="The training run's page in the MLflow UI.")
    model_card: str | None = Field(default=None, description="The run's model card (Markdown).")
    importance_chart: str | None = Field(default=None, description="The run's feature importance chart.")


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
    explainer: Explainer | None = Field(default=None, description="null: ?explain=true answers 409.")
    links: ModelLinks | None = Field(default=None, description="null: no MLflow UI to link to.")


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
