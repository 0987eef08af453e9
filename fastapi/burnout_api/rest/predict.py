"""POST /predict: the hot path. The endpoint takes the raw request and answers raw JSON: the core checks the
records against the contract itself, faster than FastAPI's per-request dependency solving and pydantic parsing
would, while the route stays documented (request model, Swagger example, responses) like any other."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from burnout_api import examples
from burnout_api.core import CHAMPION
from burnout_api.rendering import render_prediction_json
from burnout_api.schemas import CLASSES_DESCRIPTION, EmployeeRecord, ErrorResponse, PredictResponse
from burnout_api.validation import parse_flag
from burnout_base.settings import Settings
from fastapi import APIRouter, Request, Response


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint receives the Request as is: documented from the decorator's arguments,
    called without dependency solving, body parsing or response validation."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


def _document_inputs(settings: Settings) -> dict:
    """OpenAPI parameters and body: `?model=`, `?explain=` and an array of EmployeeRecord with an example
    Swagger sends."""
    alias = {
        "name": "model",
        "in": "query",
        "required": False,
        "description": "Alias: champion, challenger, lightgbm, knn, svm, ensemble. Unset: the champion, or "
        "the canary for its share of records when BURNOUT_CANARY_ALIAS is set (each prediction names its "
        "`model_version`).",
        "schema": {"type": "string", "default": CHAMPION},
    }
    explain = {
        "name": "explain",
        "in": "query",
        "required": False,
        "description": "Also explain each prediction: every feature's contribution to every class's score "
        "(base + contributions = output), and the three factors that moved the predicted class most: exact "
        "TreeSHAP on the log-odds for LightGBM, approximate permutation SHAP on the probabilities for other "
        "models (/models names each version's explainer). Bounded before any work, a larger batch is "
        f"refused with 422: at most {settings.explain_max_records} records per request with TreeSHAP "
        f"(BURNOUT_EXPLAIN_MAX_RECORDS), {settings.explain_max_records_approximate} with permutation SHAP "
        "(BURNOUT_EXPLAIN_MAX_RECORDS_APPROXIMATE), which takes hundreds of milliseconds a record.",
        "schema": {"type": "boolean", "default": False},
    }
    schema = {
        "type": "array",
        "minItems": 1,
        "items": EmployeeRecord.model_json_schema(),
        "description": "Raw employee records in the dataset's column names.",
    }
    body = {
        "required": True,
        "content": {"application/json": {"schema": schema, "examples": RECORDS_EXAMPLES}},
    }
    return {"parameters": [alias, explain], "requestBody": body}


# Two real records of the dataset, one with a value missing; shared with /predict_stream.
RECORDS_EXAMPLES = {
    "one_employee": {
        "summary": "One employee, every value known",
        "value": [examples.COMPLETE_RECORD],
    },
    "two_employees": {
        "summary": "Two employees, the second without a Mental Fatigue Score: the model imputes it",
        "value": [examples.COMPLETE_RECORD, examples.RECORD_WITH_MISSING_VALUE],
    },
}


def _error(description: str, summary: str, answer: dict) -> dict:
    """A documented error answer with the example the service really gives."""
    example = {"summary": summary, "value": answer}
    return {
        "model": ErrorResponse,
        "description": description,
        "content": {"application/json": {"examples": {"example": example}}},
    }


def _document_answers() -> dict:
    """The documented answers of /predict, each with an example the service really gives."""
    return {
        200: {
            "model": PredictResponse,
            "description": "One prediction per record, in order; with explain=true, each has an "
            f"`explanation` and the answer names its `explainer`. {CLASSES_DESCRIPTION}",
            "content": {
                "application/json": {
                    "examples": {
                        "two_employees": {
                            "summary": "The two employees of the request example",
                            "value": examples.PREDICT_ANSWER,
                        },
                        "explained": {
                            "summary": "One employee with ?explain=true (LightGBM: TreeSHAP)",
                            "value": examples.PREDICT_EXPLAINED_ANSWER,
                        },
                    }
                }
            },
        },
        400: _error("The body is not JSON.", "A truncated body", examples.INVALID_JSON_ERROR),
        404: _error("Unknown model alias.", "?model=nope", examples.UNKNOWN_ALIAS_ERROR),
        409: {
            "model": ErrorResponse,
            "description": "explain=true, but the model cannot explain its answers (field `explain`): a "
            "version trained without a background sample. Predictions without explain still work.",
        },
        413: {"model": ErrorResponse, "description": "The body is over BURNOUT_MAX_BODY_BYTES."},
        415: _error(
            "The body is not application/json.", "A text/plain body", examples.WRONG_MEDIA_TYPE_ERROR
        ),
        422: _error(
            "Invalid records or alias: each error names the record and the field; explain=true on "
            "more records than the explainer's limit names field `explain`.",
            "Sleep Hours 25 in record 1, Gender Robot in record 2",
            examples.INVALID_RECORDS_ERROR,
        ),
        503: _error(
            "No model yet (run burnout_pipeline) or MLflow unreachable.",
            "No champion registered yet",
            examples.NO_MODEL_ERROR,
        ),
    }


def build_predict_router(settings: Settings) -> APIRouter:
    """The route, documented with the limits of these settings."""
    router = APIRouter(tags=["predict"], route_class=DirectRoute)
    router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        summary="Burnout risk class and probabilities for a batch of raw employee records",
        response_class=Response,
        openapi_extra=_document_inputs(settings),
        responses=_document_answers(),
    )
    return router


def require_json(request: Request) -> None:
    """Refuse (415) a body that is not JSON (application/json or any +json type) before reading it; the
    routes that read their body themselves (DirectRoute) call it first."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        route = f"{request.method} {request.url.path}"
        raise HTTPException(415, f"{route} takes application/json, got {content_type[:100]!r}")


async def predict(request: Request) -> Response:
    require_json(request)
    alias = request.query_params.get("model") or None  # none (or empty, as on gRPC): the champion or canary
    explain = request.query_params.get("explain")
    explain = explain is not None and parse_flag(explain, "explain")
    request_id = request.state.request_id  # made on arrival (rest.request_id); keys the prediction log
    core = request.app.state.core
    result = await core.predict_async(await request.body(), alias, "rest", request_id, explain)
    return Response(render_prediction_json(result, alias, request_id), media_type="application/json")
