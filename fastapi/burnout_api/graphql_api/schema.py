"""The GraphQL schema (health, models, model(alias), predict) and its FastAPI router.

Limits hold before a document executes, with the library's own tools: strawberry's token, depth and alias
limiters, and a validation rule allowing one `predict` per request (twenty aliased predicts of one
10,000-record variable would score 200,000 records). Records come in variables, bounded by the batch limit
before graphql-core converts them, and the document itself by `graphql_max_query_chars`.
"""

from __future__ import annotations

import logging

import strawberry
from graphql import FieldNode, GraphQLError, ValidationRule, get_named_type
from graphql.execution.collect_fields import collect_sub_fields
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from burnout_api.core import CHAMPION, InferenceCore
from burnout_api.features import EMPLOYEE_ID, EMPLOYEE_ID_KEY, FEATURE_FIELDS
from burnout_api.graphql_api.errors import CoreErrors, is_expected
from burnout_api.graphql_api.router import OffLoopGraphQLRouter
from burnout_api.graphql_api.types import (
    ClassProbabilities,
    ClassScores,
    EmployeeInput,
    Explainer,
    Explanation,
    Health,
    ModelInfo,
    ModelLinks,
    Prediction,
    PredictResult,
    ServedModel,
    TopFactor,
)
from burnout_api.rendering import build_prediction_payload
from burnout_base.settings import Settings
from fastapi import Request

log = logging.getLogger(__name__)
LOGGED_MESSAGE_CHARS = 300


def _core(info: Info) -> InferenceCore:
    return info.context["core"]


# The resolvers are plain functions: the whole request runs in a worker thread (see router), so they may
# block on a model load or score a large batch without holding up the event loop.
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
        return [_model_info(m) for m in _core(info).list_models()]

    @strawberry.field(description="One alias (champion, lightgbm, knn, svm); loads it if needed.")
    def model(self, info: Info, alias: str = CHAMPION) -> ModelInfo:
        return _model_info(_core(info).describe_model(alias or CHAMPION))

    @strawberry.field(
        description="Risk class and probabilities per record, from the model behind `model` (null or empty: "
        "the champion, or the canary for its share of records when one is set). Selecting "
        "`predictions { explanation }` explains each record too. One predict per request; send the records "
        "as a variable."
    )
    def predict(self, info: Info, records: list[EmployeeInput], model: str | None = None) -> PredictResult:  # type: ignore[valid-type]
        alias = model or None
        rows = [_as_record(r) for r in records]
        explain = _selects(info, "predictions", "explanation")
        request_id = info.context["request_id"]
        result = _core(info).predict(rows, alias, "graphql", request_id, explain=explain)
        payload = build_prediction_payload(result, alias, request_id)
        explainer = payload.get("explainer")
        return PredictResult(
            request_id=request_id,
            model=ServedModel(**payload["model"]),
            predictions=[
                Prediction(
                    label=p["class"],
                    probabilities=ClassProbabilities(**p["probabilities"]),
                    model_version=p["model_version"],
                    explanation=_explanation(p["explanation"]) if explain else None,
                )
                for p in payload["predictions"]
            ],
            explainer=Explainer(**explainer) if explainer else None,
        )


def _selects(info: Info, *path: str) -> bool:
    """Whether the query selects the field at `path` below this one, as graphql-core would execute it:
    through fragments, honouring @skip and @include."""
    raw = info._raw_info
    nodes, parent = raw.field_nodes, get_named_type(raw.return_type)
    for name in path:
        selected = collect_sub_fields(raw.schema, raw.fragments, raw.variable_values, parent, nodes)
        nodes = [node for same_key in selected.values() for node in same_key if node.name.value == name]
        if not nodes:
            return False
        parent = get_named_type(parent.fields[name].type)
    return True


def _explanation(explanation: dict) -> Explanation:
    return Explanation(
        base=ClassScores(**explanation["base"]),
        output=ClassScores(**explanation["output"]),
        contributions=explanation["contributions"],
        top_factors=[
            TopFactor(
                feature=f["feature"],
                value=f["value"],
                label=f["class"],
                contribution=f["contribution"],
                text=f["text"],
            )
            for f in explanation["top_factors"]
        ],
    )


def _model_info(described: dict) -> ModelInfo:
    explainer, links = described.get("explainer"), described.get("links")
    return ModelInfo(
        **{
            **described,
            "explainer": Explainer(**explainer) if explainer else None,
            "links": ModelLinks(**links) if links else None,
        }
    )


def _as_record(employee: object) -> dict:
    """GraphQL input -> the dataset-named record the core checks; a null optional column means missing."""
    values = ((f.name, getattr(employee, f.key)) for f in FEATURE_FIELDS)
    record = {name: value for name, value in values if value is not None}
    employee_id = getattr(employee, EMPLOYEE_ID_KEY)
    if employee_id is not None:
        record[EMPLOYEE_ID] = employee_id
    return record


def _context_of(core: InferenceCore):
    def context(request: Request) -> dict:
        return {"core": core, "request_id": request.state.request_id}  # made on arrival (rest.request_id)

    return context


class OnePredictPerRequest(ValidationRule):
    """At most one `predict` field in a document, however it is aliased or spread."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.seen = 0

    def enter_field(self, node: FieldNode, *_args) -> None:
        if node.name.value == "predict":
            self.seen += 1
            if self.seen == 2:
                self.report_error(
                    GraphQLError("one predict per request: put every record in its `records`", node)
                )


class BurnoutSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        for error in errors:
            if is_expected(error):  # the caller's mistake: one short line, never the caller's whole text
                log.info("GraphQL request refused: %s", error.message[:LOGGED_MESSAGE_CHARS])
            else:
                super().process_errors([error], execution_context)


def build_schema(settings: Settings) -> BurnoutSchema:
    return BurnoutSchema(
        query=Query,
        extensions=[
            CoreErrors,
            MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
            AddValidationRules([OnePredictPerRequest]),
        ],
        config=StrawberryConfig(auto_camel_case=False),
    )


def build_graphql_router(core: InferenceCore) -> OffLoopGraphQLRouter:
    return OffLoopGraphQLRouter(
        build_schema(core.settings),
        core.settings,
        context_getter=_context_of(core),
        # GET serves GraphiQL only: every operation comes by POST, which runs off the event loop.
        allow_queries_via_get=False,
        tags=["graphql"],
    )
