"""GraphQL types. The employee input and the probabilities are built from the data contract; field names
stay snake_case (auto camel case is off) so that GraphQL answers with the same keys as REST."""

from __future__ import annotations

import types as pytypes

import strawberry
from strawberry.scalars import JSON

from burnout_api.features import FEATURE_FIELDS
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
    {f.key: _input_field(f) for f in FEATURE_FIELDS},
    "One raw employee record (the dataset's feature columns, in snake_case).",
    is_input=True,
)
ClassProbabilities = _build_strawberry_type(
    "ClassProbabilities",
    {c: (float, strawberry.field(description=f"P({c})")) for c in CLASSES},
    "Probability of each burnout risk class.",
)


@strawberry.type(description="One answer per record, in order.")
class Prediction:
    label: str = strawberry.field(name="class", description="The most probable risk class.")
    probabilities: ClassProbabilities  # type: ignore[valid-type]
    model_version: int


@strawberry.type
class ServedModel:
    alias: str
    version: int
    family: str | None


@strawberry.type
class PredictResult:
    model: ServedModel
    predictions: list[Prediction]


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


@strawberry.type
class Health:
    status: str
    ready: bool
    state: str
    mlflow: str
    champion_version: int | None
