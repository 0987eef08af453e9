"""The typed request and response models of the API, built from the data contract. They document the API
(OpenAPI/Swagger) and define its shape; on the hot path `validation` applies the same rules faster."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from burnout_api.examples import (
    COMPLETE_RECORD,
    INVALID_RECORDS_ERROR,
    NOT_READY,
    PREDICT_ANSWER,
    PREDICT_EXPLAINED_ANSWER,
    READY,
    RECORD_WITH_MISSING_VALUE,
)
from burnout_api.features import (
    EMPLOYEE_ID,
    EMPLOYEE_ID_KEY,
    FEATURE_FIELDS,
    MAX_EMPLOYEE_ID_CHARS,
    build_example_record,
)
from etl.contract import BY_NAME, CLASS_UPPER_BOUNDS, CLASSES, TARGET

EXAMPLE_RECORD = build_example_record()


def describe_classes() -> str:
    """The risk classes in words, from the contract: "Low: Burn Rate below 0.33; Medium: ..."."""
    parts, lower = [], None
    for name, upper in zip(CLASSES, CLASS_UPPER_BOUNDS, strict=True):
        if lower is None:
            parts.append(f"{name}: {TARGET} below {upper:g}")
        elif upper == float("inf"):
            parts.append(f"{name}: {TARGET} {lower:g} or more")
        else:
            parts.append(f"{name}: {TARGET} from {lower:g} to below {upper:g}")
        lower = upper
    burn_rate = BY_NAME[TARGET].description.split(".")[0]  # "Burnout rate, 0 (none) to 1 (burnt out)"
    return f"{'; '.join(parts)}. {TARGET}: the dataset's {burn_rate.lower()}; the model predicts the class."


CLASSES_DESCRIPTION = describe_classes()


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
    fields[EMPLOYEE_ID_KEY] = (
        str | None,
        Field(
            None,
            alias=EMPLOYEE_ID,
            min_length=1,
            max_length=MAX_EMPLOYEE_ID_CHARS,
            description="Optional: who the record is about. Never a model input; written to the prediction "
            "log (unless BURNOUT_PREDICTION_LOG_EMPLOYEE_ID=false), so that outcomes posted later to "
            "/feedback can be matched by employee, and hashed by the canary split so that an employee always "
            "gets the same model.",
        ),
    )
    config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [COMPLETE_RECORD, RECORD_WITH_MISSING_VALUE]},
    )
    return create_model("EmployeeRecord", __config__=config, **fields)


EmployeeRecord = build_record_model()


ClassProbabilities = create_model(
    "ClassProbabilities",
    __doc__=f"The probability of each risk class; they add up to 1. {CLASSES_DESCRIPTION}",
    **{name: (float, Field(ge=0, le=1, description=f"P({name})")) for name in CLASSES},
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

    class_: Literal[CLASSES] = Field(  # type: ignore[valid-type]
        alias="class", description=f"The most probable risk class. {CLASSES_DESCRIPTION}"
    )
    probabilities: ClassProbabilities  # type: ignore[valid-type]
    model_version: int = Field(description="Registered model version that answered.")
    explanation: Explanation | None = Field(default=None, description="With explain=true only.")


class ServedModel(BaseModel):
    alias: str = Field(description="The alias asked for (?model=, champion by default).")
    version: int = Field(description="The registered model version behind it.")
    family: str | None = Field(description="The model family (lightgbm, knn, svm, ensemble); null: untagged.")


class PredictResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PREDICT_ANSWER, PREDICT_EXPLAINED_ANSWER]})

    request_id: str = Field(
        description="This request's id: the X-Request-ID sent, else one made on arrival (also in the "
        "X-Request-ID answer header). Quote it, with a prediction's index, in POST /feedback."
    )
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
    compiled: bool = Field(default=False, description="Its LightGBM trees answer compiled to native code.")
    explainer: Explainer | None = Field(default=None, description="null: ?explain=true answers 409.")
    links: ModelLinks | None = Field(default=None, description="null: no MLflow UI to link to.")


class ModelList(BaseModel):
    registered_model: str
    models: list[ModelInfo]


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [READY, NOT_READY]})

    ready: bool
    state: Literal["ready", "starting", "no_model", "mlflow_unreachable", "loading_failed", "draining"]
    mlflow: Literal["reachable", "unreachable", "unknown"]
    # Defaults only so that the documented examples (FastAPI leaves their nulls out) stay valid.
    champion_version: int | None = Field(None, description="The version behind alias champion, if any.")
    last_error: str | None = Field(None, description="Why the last load or registry check failed.")
    checked_at: str | None = Field(None, description="When the registry was last checked (ISO 8601, UTC).")


class ErrorItem(BaseModel):
    # Defaults only so that the documented examples (FastAPI leaves their nulls out) stay valid.
    record: int | None = Field(
        None, description="Index of the record in the batch; null for the whole batch."
    )
    field: str | None = Field(
        None, description="The column (or query parameter) at fault; null: the whole record."
    )
    type: str = Field(description="A stable code, e.g. out_of_range, unknown_category, unknown_column.")
    msg: str = Field(description="What is wrong, in words.")


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [INVALID_RECORDS_ERROR]})

    message: str = Field(description="The first problem in words, with a count of the others.")
    detail: list[ErrorItem] = Field(default=[], description="Every problem found, one per record and field.")
