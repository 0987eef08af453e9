"""POST /predict: the hot path. The route reads the raw body and answers raw JSON: the core checks the records
against the contract itself, faster than a pydantic model would, and the request model below only documents
the body (Swagger's example included)."""

from __future__ import annotations

from burnout_api.core import CHAMPION
from burnout_api.rendering import render_prediction_json
from burnout_api.schemas import EXAMPLE_RECORD, EmployeeRecord, ErrorResponse, PredictResponse
from fastapi import APIRouter, Query, Request, Response

router = APIRouter(tags=["predict"])


def _document_body() -> dict:
    """The OpenAPI request body: an array of EmployeeRecord, with an example Swagger's "Try it out" sends."""
    schema = {
        "type": "array",
        "minItems": 1,
        "items": EmployeeRecord.model_json_schema(),
        "description": "Raw employee records in the dataset's column names.",
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": schema, "example": [EXAMPLE_RECORD]}},
    }


@router.post(
    "/predict",
    summary="Burnout risk class and probabilities for a batch of raw employee records",
    response_class=Response,
    openapi_extra={"requestBody": _document_body()},
    responses={
        200: {"model": PredictResponse, "description": "One prediction per record, in order."},
        404: {"model": ErrorResponse, "description": "Unknown model alias."},
        422: {"model": ErrorResponse, "description": "Bad input: each error names the record and the field."},
        503: {
            "model": ErrorResponse,
            "description": "No model yet (run burnout_pipeline) or MLflow unreachable.",
        },
    },
)
async def predict(
    request: Request, model: str = Query(CHAMPION, description="Alias: champion, lightgbm, knn, svm.")
) -> Response:
    body = await request.body()
    result = await request.app.state.core.predict_async(body, model, "rest")
    return Response(render_prediction_json(result, model), media_type="application/json")
