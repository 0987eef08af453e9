"""GraphQL types. The employee input and the probabilities are built from the data contract; field names
stay snake_case (auto camel case is off) so that GraphQL answers with the same keys as REST."""

from __future__ import annotations

import types as pytypes

import strawberry
from strawberry.scalars import JSON

from burnout_api.features import EMPLOYEE_ID_KEY, FEATURE_FIELDS
from burnout_api.schemas import CLASSES_DESCRIPTION
from etl.contract import CLASSES


def _build_strawberry_type(
    name: str, fields: dict[str, tuple[object, object]], description: str, is_input: bool = False
) -> type:
    """A strawberry type from {python name: (annotation, strawberry.field(...))}."""
    namespace = {"__annotations__": {key: kind for key, (kind, _) in fields.items()}}
    namespace.update({key: spec for key, (_, spec) in fields.items()})
    cls = pytypes.new_class(name, (), {}, lambda ns: ns.update(namespace))
    return strawberry.type(cls, is_input=is_input, description=description)


def _describe(feature) -> str:
    column = feature.column
    if column.kind == "category":
        allowed = f"one of {', '.join(column.categories)}"
    else:
        allowed = f"{column.kind} from {column.minimum:g} to {column.maximum:g}"
    optional = "; may be null (imputed)" if column.nullable else ""
    return f"Dataset column '{feature.name}': {allowed}{optional}. {column.description}".strip()


def _input_field(feature) -> tuple[object, object]:
    column = feature.column
    kind = {"category": str, "integer": int}.get(column.kind, float)
    if column.nullable:
        return kind | None, strawberry.field(default=None, description=_describe(feature))
    return kind, strawberry.field(description=_describe(feature))


EmployeeInput = _build_strawberry_type(
    "EmployeeInput",
    {
        **{f.key: _input_field(f) for f in FEATURE_FIELDS},
        EMPLOYEE_ID_KEY: (
            str | None,
            strawberry.field(
                default=None,
                description="Optional: who the record is about (dataset column 'Employee ID'). Never a model "
                "input; logged with the answer, and hashed by the canary split.",
            ),
        ),
    },
    "One raw employee record (the dataset's feature columns, in snake_case).",
    is_input=True,
)
ClassProbabilities = _build_strawberry_type(
    "ClassProbabilities",
    {c: (float, strawberry.field(description=f"P({c})")) for c in CLASSES},
    f"Probability of each burnout risk class; they add up to 1. {CLASSES_DESCRIPTION}",
)


ClassScores = _build_strawberry_type(
    "ClassScores",
    {c: (float, strawberry.field(description=f"The score of {c}")) for c in CLASSES},
    "A score per risk class, on the explainer's scale.",
)


@strawberry.type(description="A feature that moved the predicted class's score.")
class TopFactor:
    feature: str = strawberry.field(description="A dataset column.")
    value: JSON | None = strawberry.field(description="The record's value; null: missing (imputed).")
    label: str = strawberry.field(name="class", description="The predicted class it moved.")
    contribution: float
    text: str = strawberry.field(description="In words.")


@strawberry.type(description="Why the model answered what it did: base + contributions = output per class.")
class Explanation:
    base: ClassScores = strawberry.field(description="Each class's score before any feature.")  # type: ignore[valid-type]
    output: ClassScores = strawberry.field(description="The model's score of each class for the record.")  # type: ignore[valid-type]
    contributions: JSON = strawberry.field(
        description="Class -> feature (the dataset's column names, as in REST) -> its contribution."
    )
    top_factors: list[TopFactor]


@strawberry.type(description="How the explanations were made.")
class Explainer:
    method: str = strawberry.field(description="tree_shap (exact) or permutation_shap (approximate).")
    exact: bool
    scale: str = strawberry.field(description="log_odds or probability.")


@strawberry.type(description="One answer per record, in order.")
class Prediction:
    label: str = strawberry.field(
        name="class", description=f"The most probable risk class. {CLASSES_DESCRIPTION}"
    )
    probabilities: ClassProbabilities  # type: ignore[valid-type]
    model_version: int
    explanation: Explanation | None = strawberry.field(
        default=None,
        description="Selecting it asks for explanations, bounded per request (BURNOUT_EXPLAIN_MAX_RECORDS "
        "for tree_shap, BURNOUT_EXPLAIN_MAX_RECORDS_APPROXIMATE for permutation_shap); a model without an "
        "explainer answers FAILED_PRECONDITION.",
    )


@strawberry.type
class ServedModel:
    alias: str
    version: int
    family: str | None


@strawberry.type
class PredictResult:
    request_id: str = strawberry.field(
        description="This request's id (the X-Request-ID sent, else one made on arrival): quote it, with a "
        "prediction's index, in POST /feedback."
    )
    model: ServedModel
    predictions: list[Prediction]
    explainer: Explainer | None = strawberry.field(
        default=None, description="How the explanations were made; null unless `explanation` is selected."
    )


@strawberry.type(description="Where to read more about a version in the MLflow UI.")
class ModelLinks:
    run: str
    model_card: str | None = None
    importance_chart: str | None = None


@strawberry.type(description="An alias of the registered model and, when loaded, its version's metadata.")
class ModelInfo:
    alias: str
    version: int | None
    loaded: bool
    family: str | None = None
    run_id: str | None = None
    dataset_version: str | None = None
    test_metrics: JSON | None = None
    loaded_at: str | None = None
    fast_path: bool = False
    compiled: bool = strawberry.field(
        default=False, description="Its LightGBM trees answer compiled to native code."
    )
    explainer: Explainer | None = None
    links: ModelLinks | None = None


@strawberry.type
class Health:
    status: str
    ready: bool
    state: str
    mlflow: str
    champion_version: int | None
