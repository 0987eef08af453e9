"""The GraphQL schema (health, models, model(alias), predict) and its FastAPI router."""

from __future__ import annotations

import logging

import strawberry
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from burnout_api.core import CHAMPION, InferenceCore
from burnout_api.features import FEATURE_FIELDS
from burnout_api.graphql_api.errors import CoreErrors, is_expected
from burnout_api.graphql_api.types import (
    ClassProbabilities,
    EmployeeInput,
    Health,
    ModelInfo,
    Prediction,
    PredictResult,
    ServedModel,
)
from burnout_api.rendering import build_prediction_payload

log = logging.getLogger(__name__)


def _core(info: Info) -> InferenceCore:
    return info.context["core"]


@strawberry.type
class Query:
    @strawberry.field(description="Liveness and readiness of the service.")
    def health(self, info: Info) -> Health:
        ready = _core(info).readiness()
        return Health(
            status="ok",
            ready=ready["ready"],
            state=ready["state"],
            mlflow=ready["mlflow"],
            champion_version=ready["champion_version"],
        )

    @strawberry.field(description="Aliases of the registered model and the metadata of loaded versions.")
    def models(self, info: Info) -> list[ModelInfo]:
        return [ModelInfo(**m) for m in _core(info).list_models()]

    @strawberry.field(description="One alias (champion, lightgbm, knn, svm); loads it if needed.")
    async def model(self, info: Info, alias: str = CHAMPION) -> ModelInfo:
        from anyio import to_thread

        return ModelInfo(**await to_thread.run_sync(_core(info).describe_model, alias))

    @strawberry.field(description="Risk class and probabilities per record, from the model behind `model`.")
    async def predict(self, info: Info, records: list[EmployeeInput], model: str = CHAMPION) -> PredictResult:  # type: ignore[valid-type]
        rows = [_as_record(r) for r in records]
        payload = build_prediction_payload(await _core(info).predict_async(rows, model, "graphql"), model)
        return PredictResult(
            model=ServedModel(**payload["model"]),
            predictions=[
                Prediction(
                    label=p["class"],
                    probabilities=ClassProbabilities(**p["probabilities"]),
                    model_version=p["model_version"],
                )
                for p in payload["predictions"]
            ],
        )


def _as_record(employee: object) -> dict:
    """GraphQL input -> the dataset-named record the core checks; a null optional column means missing."""
    values = ((f.name, getattr(employee, f.key)) for f in FEATURE_FIELDS)
    return {name: value for name, value in values if value is not None}


class BurnoutSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        for error in errors:
            if is_expected(error):
                log.info("GraphQL request refused: %s", error.message)
            else:
                super().process_errors([error], execution_context)


def build_graphql_router(core: InferenceCore) -> GraphQLRouter:
    schema = BurnoutSchema(
        query=Query, extensions=[CoreErrors], config=StrawberryConfig(auto_camel_case=False)
    )
    return GraphQLRouter(schema, context_getter=lambda: {"core": core}, tags=["graphql"])
